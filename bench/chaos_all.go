package bench

import (
	"context"
	"fmt"
	"slices"
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
		if !slices.Contains(chaosNames(), s) {
			return &UsageError{Err: fmt.Errorf("--only: %q is not a chaos scenario (%s)", s, strings.Join(chaosNames(), ", "))}
		}
	}
	var b reportRuns
	for _, name := range chaosNames() {
		if len(want) > 0 && !want[name] {
			continue
		}
		args := append([]string{"chaos", name}, pass...)
		if err := b.run(ctx, c, name, args, args); err != nil {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return c.writeReports("chaos all", b, out)
}
