package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// StandardSet is the short standard set `make bench` runs (jq-bench suite), each run within
// about 30 s on 2 cores (idle-in-tx: 35 s of load). bench/README.md quotes it.
var StandardSet = [][]string{
	{"burn", "--jobs", "50000", "--procs", "1"},
	{"steady", "--rate", "1000", "--duration", "10s"},
	{"steady", "--rate", "1000", "--duration", "10s", "--notify=false"},
	{"subprocess", "--jobs", "5000"},
	{"sql", "--jobs", "50000"},
	{"backlog", "--backlogs", "10k,100k", "--measure", "20k"},
	{"recovery", "--jobs", "16"},
	{"events", "--jobs", "20000", "--procs", "1"},
	{"burn", "--jobs", "50000", "--procs", "1", "--max-running", "100000"},
	{"submit", "--duration", "10s"},
	{"submit", "--batch", "1000", "--duration", "5s"},
	{"many-queues", "--queues", "100", "--jobs-per-queue", "500", "--procs", "1"},
	{"fleet", "--servers", "1,2,4", "--jobs", "20000"},
	{"idle-in-tx", "--baseline", "10s", "--pin", "15s", "--after", "10s"},
}

// suiteCommand is `jq-bench suite`: the standard set, written as one JSON array.
func (c *cli) suiteCommand() *ffcli.Command {
	fs := c.flagSet("jq-bench suite")
	out := fs.String("out", "", "write the reports as one JSON array to this file (default: stdout)")
	only := fs.String("only", "", "comma-separated scenarios of the set to run (default: all)")
	var o Options
	o.LogLevel = "error"
	fs.StringVar(&o.DBURL, "db-url", "", "PostgreSQL server to create the runs' databases on (env JQ_DB_URL)")
	fs.StringVar(&o.WorkerBin, "worker-bin", "", "jq-worker binary (default: next to jq-bench, else on PATH)")
	fs.StringVar(&o.BenchBin, "bench-bin", "", "jq-bench binary for no-op worker processes (default: this one)")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "level of the server's and workers' logs on stderr")
	var lines []string
	for _, args := range StandardSet {
		lines = append(lines, "  jq-bench "+strings.Join(args, " "))
	}
	return &ffcli.Command{
		Name:       "suite",
		ShortUsage: "jq-bench suite [flags]",
		ShortHelp:  "run the short standard set (what make bench runs) and write one JSON array",
		LongHelp: `suite runs the standard set, one scenario after another, prints each table on stderr and a
summary of the targets on stdout, and writes every report as one JSON array to --out (stdout
by default). A run that fails is recorded in the array with its error, and the suite exits 1.
The set:
` + strings.Join(lines, "\n") + `

Example:
  jq-bench suite --out bench/results/latest.json`,
		FlagSet:   fs,
		UsageFunc: c.usage,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("suite takes no arguments, got %q", args)}
			}
			return c.runSuite(ctx, o, *out, *only)
		},
	}
}

func (c *cli) runSuite(ctx context.Context, o Options, out, only string) error {
	want := map[string]bool{}
	for s := range strings.SplitSeq(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	runs := c.set
	if runs == nil {
		runs = StandardSet
	}
	var b reportRuns
	for _, set := range runs {
		if len(want) > 0 && !want[set[0]] {
			continue
		}
		args := append(append([]string{}, set...), c.passThrough(set[0], o)...)
		if err := b.run(ctx, c, set[0], set, args); err != nil {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return c.writeReports("suite", b, out)
}

// reportRuns collects the reports of the jq-bench runs that suite and chaos all make one
// after another, and the runs that failed.
type reportRuns struct {
	docs    []json.RawMessage
	reports []*Report
	failed  int
}

// run runs jq-bench with args, shown as command (in the table and the report's command);
// scenario names it in a failed run's document. A failed run is recorded and the batch goes
// on: run returns an error only when the batch must stop.
func (b *reportRuns) run(ctx context.Context, c *cli, scenario string, command, args []string) error {
	cmd := "jq-bench " + strings.Join(command, " ")
	fmt.Fprintf(c.stderr, "=== %s\n", cmd)
	var rep *Report
	sub := &cli{stdout: c.stderr, stderr: c.stderr, lookupEnv: c.lookupEnv, onReport: func(r *Report) error {
		rep = r
		return nil
	}}
	err := sub.run(ctx, args)
	if err == nil && rep != nil {
		rep.Command = cmd
		if err := rep.WriteTable(c.stderr); err != nil {
			return err
		}
		doc, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		b.docs = append(b.docs, doc)
		b.reports = append(b.reports, rep)
		return nil
	}
	if err == nil {
		err = errors.New("no report")
	}
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	b.failed++
	fmt.Fprintf(c.stderr, "%s failed: %v\n\n", cmd, err)
	doc, _ := json.Marshal(map[string]any{"scenario": scenario, "command": cmd, "error": err.Error()})
	b.docs = append(b.docs, doc)
	return nil
}

// writeReports writes the runs' JSON documents as one array to out (stdout when empty; with a
// file, a summary goes to stdout) and fails when any of the runs failed. what names the
// command in its errors.
func (c *cli) writeReports(what string, b reportRuns, out string) error {
	docs, reports, failed := b.docs, b.reports, b.failed
	var buf bytes.Buffer
	all, _ := json.Marshal(docs)
	if err := json.Indent(&buf, all, "", "  "); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	buf.WriteByte('\n')
	if out == "" {
		if _, err := buf.WriteTo(c.stdout); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := writeSummary(c.stdout, reports); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "wrote %d reports to %s\n", len(docs), out)
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d runs failed (see above)", what, failed, len(docs))
	}
	return nil
}

// passThrough returns the suite's flags that the scenario takes.
func (c *cli) passThrough(name string, o Options) []string {
	var s *scenario
	for _, sc := range scenarios() {
		if sc.name == name {
			s = &sc
		}
	}
	if s == nil {
		return nil
	}
	fs := c.scenarioCommand(*s).FlagSet
	var out []string
	for flag, v := range map[string]string{"db-url": o.DBURL, "worker-bin": o.WorkerBin, "bench-bin": o.BenchBin, "log-level": o.LogLevel} {
		if v != "" && fs.Lookup(flag) != nil {
			out = append(out, "--"+flag, v)
		}
	}
	return out
}

// writeSummary prints every target of the reports as one table.
func writeSummary(w interface{ Write([]byte) (int, error) }, reports []*Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTARGET\tVALUE\tGOAL\t")
	for _, r := range reports {
		for _, t := range r.Targets {
			verdict := "met"
			if !t.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\n", strings.TrimPrefix(r.Command, "jq-bench "), t.Name, formatNumber(t.Value), t.Unit, t.Goal, verdict)
		}
	}
	return tw.Flush()
}
