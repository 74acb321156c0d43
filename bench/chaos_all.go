package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// chaosAllCommand is `jq-bench chaos all`: every chaos scenario, one after another, written as
// one JSON array (what make chaos runs).
func (c *cli) chaosAllCommand() *ffcli.Command {
	fs := c.flagSet("jq-bench chaos all")
	out := fs.String("out", "", "write the reports as one JSON array to this file (default: stdout)")
	only := fs.String("only", "", "comma-separated chaos scenarios to run (default: all)")
	var pass []string
	for _, name := range []string{"server-bin", "bench-bin", "pg-bindir", "log-level", "rate", "before", "after", "procs"} {
		fs.Func(name, "passed to every scenario (see jq-bench chaos SCENARIO --help)", func(v string) error {
			pass = append(pass, "--"+name, v)
			return nil
		})
	}
	return &ffcli.Command{
		Name:       "all",
		ShortUsage: "jq-bench chaos all [flags]",
		ShortHelp:  "run every chaos scenario and write one JSON array (what make chaos runs)",
		LongHelp: `all runs every chaos scenario (` + strings.Join(chaosNames(), ", ") + `)
with its default timings, one after another, prints each table on stderr and a summary of the
targets on stdout, and writes every report as one JSON array to --out. A run that fails is
recorded with its error and all exits 1; a missed target is reported, not an error.

Example:
  jq-bench chaos all --out bench/results/chaos.json
  jq-bench chaos all --only pg-restart,server-kill --rate 100`,
		FlagSet:   fs,
		UsageFunc: c.usage,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("chaos all takes no arguments, got %q", args)}
			}
			return c.runChaosAll(ctx, *out, *only, pass)
		},
	}
}

func (c *cli) runChaosAll(ctx context.Context, out, only string, pass []string) error {
	want := map[string]bool{}
	for s := range strings.SplitSeq(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	for s := range want {
		if !containsString(chaosNames(), s) {
			return &UsageError{Err: fmt.Errorf("--only: %q is not a chaos scenario (%s)", s, strings.Join(chaosNames(), ", "))}
		}
	}
	var docs []json.RawMessage
	var reports []*Report
	failed := 0
	for _, name := range chaosNames() {
		if len(want) > 0 && !want[name] {
			continue
		}
		args := append([]string{"chaos", name}, pass...)
		fmt.Fprintf(c.stderr, "=== jq-bench %s\n", strings.Join(args, " "))
		var rep *Report
		sub := &cli{stdout: c.stderr, stderr: c.stderr, lookupEnv: c.lookupEnv, onReport: func(r *Report) error {
			rep = r
			return nil
		}}
		err := sub.run(ctx, args)
		if err == nil && rep != nil {
			rep.Command = "jq-bench " + strings.Join(args, " ")
			if err := rep.WriteTable(c.stderr); err != nil {
				return err
			}
			doc, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			docs = append(docs, doc)
			reports = append(reports, rep)
			continue
		}
		if err == nil {
			err = errors.New("no report")
		}
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		failed++
		fmt.Fprintf(c.stderr, "jq-bench chaos %s failed: %v\n\n", name, err)
		doc, _ := json.Marshal(map[string]any{"scenario": name, "command": "jq-bench " + strings.Join(args, " "), "error": err.Error()})
		docs = append(docs, doc)
		if ctx.Err() != nil {
			break
		}
	}
	return c.writeReports("chaos all", docs, reports, out, failed)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
