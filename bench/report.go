package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one scenario run: what was run, where, and every figure measured.
// It prints as a table (WriteTable) or as one JSON document (MarshalJSON), whose top level
// holds the common fields below followed by the scenario's own figures (Extra).
type Report struct {
	Scenario string
	// Command is the jq-bench command line that produced the report (without --db-url).
	Command     string
	Parameters  map[string]any
	Environment Environment
	StartedAt   time.Time
	Duration    time.Duration

	// JobsPerSec is the throughput of the throughput scenarios (nil for the others).
	JobsPerSec *float64
	// SubmitToStart and SubmitToDone are latency percentiles, in milliseconds.
	SubmitToStart *Percentiles
	SubmitToDone  *Percentiles
	// SchedulerCycleP95 is the p95 of jq_scheduler_cycle_duration_seconds over the measured
	// window, in milliseconds (nil when no cycle ran or the server's metrics are out of reach).
	SchedulerCycleP95 *float64
	PeakRSS           PeakRSS
	// Machine says how busy the machine was during the run, to tell a noisy neighbour.
	Machine *Machine

	// Extra holds the scenario's own figures, written at the top level of the JSON document.
	Extra map[string]any
	// Rows are the scenario's own lines of the table.
	Rows []Row
	// Targets compares figures with the project's targets.
	Targets []Target
	// Notes explain what a reader needs to interpret the figures.
	Notes []string
}

// Environment describes the machine and the database a report was measured on.
type Environment struct {
	GoVersion         string `json:"go_version"`
	CPUs              int    `json:"cpus"`
	PostgreSQLVersion string `json:"postgresql_version,omitempty"`
	SynchronousCommit string `json:"synchronous_commit,omitempty"`
	// Autovacuum is the server's autovacuum setting: with it off, nothing removes the dead
	// row versions a queue leaves behind, and claims slow down as a run goes on.
	Autovacuum string `json:"autovacuum,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	JQVersion  string `json:"jq_version"`
}

// Machine is the load of the machine during a run: a benchmark on a shared box is only as
// good as the box is quiet. CPUBusyPct is the whole machine's CPU use over the run (100 = every
// core busy); CPUStealPct the share a hypervisor gave to other guests; BenchCPUS the CPU
// seconds of jq-bench and its worker processes (the in-process server included); the rest of
// the busy time is PostgreSQL and anything else running.
type Machine struct {
	CPUBusyPct     float64 `json:"cpu_busy_pct"`
	CPUStealPct    float64 `json:"cpu_steal_pct"`
	BenchCPUS      float64 `json:"bench_cpu_s"`
	LoadAvgAtStart float64 `json:"load_avg_1m_at_start"`
}

// Percentiles summarise a latency distribution, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// PeakRSS is the peak resident memory of the server and of the workers, in MB (nil: not
// measured). Scope says what the server figure covers.
type PeakRSS struct {
	Server  *float64 `json:"server"`
	Workers *float64 `json:"workers"`
	Scope   string   `json:"scope,omitempty"`
}

// Row is one line of a report's table.
type Row struct {
	Label string
	Value string
}

// Target is a figure compared with its goal.
type Target struct {
	Name  string  `json:"name"`
	Goal  string  `json:"goal"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Met   bool    `json:"met"`
}

// atLeast is the target "value ≥ goal".
func atLeast(name string, value, goal float64, unit string) Target {
	return Target{Name: name, Goal: "≥ " + formatNumber(goal) + " " + unit, Value: round(value, 3), Unit: unit, Met: value >= goal}
}

// atMost is the target "value ≤ goal".
func atMost(name string, value, goal float64, unit string) Target {
	return Target{Name: name, Goal: "≤ " + formatNumber(goal) + " " + unit, Value: round(value, 3), Unit: unit, Met: value <= goal}
}

// MarshalJSON writes the report as one JSON object with a stable key order: the common fields
// first, then the scenario's figures sorted by key, then the targets and notes.
func (r *Report) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	add := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(key)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(b)
		return nil
	}
	params := r.Parameters
	if params == nil {
		params = map[string]any{}
	}
	fields := []struct {
		key string
		v   any
	}{
		{"scenario", r.Scenario},
		{"command", r.Command},
		{"parameters", params},
		{"environment", r.Environment},
		{"started_at", r.StartedAt.UTC().Format(time.RFC3339Nano)},
		{"duration_s", round(r.Duration.Seconds(), 3)},
	}
	if r.JobsPerSec != nil {
		fields = append(fields, struct {
			key string
			v   any
		}{"jobs_per_sec", round(*r.JobsPerSec, 1)})
	}
	for _, f := range fields {
		if err := add(f.key, f.v); err != nil {
			return nil, err
		}
	}
	if r.SubmitToStart != nil {
		if err := add("submit_to_start_ms", r.SubmitToStart); err != nil {
			return nil, err
		}
	}
	if r.SubmitToDone != nil {
		if err := add("submit_to_done_ms", r.SubmitToDone); err != nil {
			return nil, err
		}
	}
	var cycle any
	if r.SchedulerCycleP95 != nil {
		cycle = round(*r.SchedulerCycleP95, 3)
	}
	if err := add("scheduler_cycle_p95_ms", cycle); err != nil {
		return nil, err
	}
	if err := add("peak_rss_mb", r.PeakRSS); err != nil {
		return nil, err
	}
	if r.Machine != nil {
		if err := add("machine", r.Machine); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		if err := add(k, r.Extra[k]); err != nil {
			return nil, err
		}
	}
	targets := r.Targets
	if targets == nil {
		targets = []Target{}
	}
	if err := add("targets", targets); err != nil {
		return nil, err
	}
	if len(r.Notes) > 0 {
		if err := add("notes", r.Notes); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// WriteJSON writes the report as one indented JSON document and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(w)
	return err
}

// WriteTable writes the report as an aligned, human-readable table.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "jq-bench %s — %s, took %.1f s\n", r.Scenario, r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.Duration.Seconds())
	e := r.Environment
	pg := e.PostgreSQLVersion
	if pg == "" {
		pg = "unknown"
	}
	if e.SynchronousCommit != "" {
		pg += ", synchronous_commit=" + e.SynchronousCommit
	}
	if e.Autovacuum != "" {
		pg += ", autovacuum=" + e.Autovacuum
	}
	fmt.Fprintf(&b, "  %s, %d CPUs, PostgreSQL %s, jq %s\n", e.GoVersion, e.CPUs, pg, e.JQVersion)
	fmt.Fprintf(&b, "  %s\n\n", formatParameters(r.Parameters))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FIGURE\tVALUE")
	if r.JobsPerSec != nil {
		fmt.Fprintf(tw, "  throughput\t%s jobs/s\n", formatNumber(*r.JobsPerSec))
	}
	for _, l := range []struct {
		name string
		p    *Percentiles
	}{{"submit→start", r.SubmitToStart}, {"submit→done", r.SubmitToDone}} {
		if l.p != nil {
			fmt.Fprintf(tw, "  %s p50 / p90 / p99 / max\t%s / %s / %s / %s ms  (%d jobs)\n", l.name,
				formatNumber(l.p.P50), formatNumber(l.p.P90), formatNumber(l.p.P99), formatNumber(l.p.Max), l.p.Count)
		}
	}
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "  %s\t%s\n", row.Label, row.Value)
	}
	if r.SchedulerCycleP95 != nil {
		fmt.Fprintf(tw, "  scheduler cycle p95\t%s ms\n", formatNumber(*r.SchedulerCycleP95))
	} else {
		fmt.Fprintf(tw, "  scheduler cycle p95\tn/a\n")
	}
	fmt.Fprintf(tw, "  peak RSS server / workers\t%s / %s MB\n", formatMB(r.PeakRSS.Server), formatMB(r.PeakRSS.Workers))
	if m := r.Machine; m != nil {
		fmt.Fprintf(tw, "  machine CPU busy / jq-bench CPU\t%.0f %% (%.0f %% stolen) / %.1f s (load average %.2f at start)\n",
			m.CPUBusyPct, m.CPUStealPct, m.BenchCPUS, m.LoadAvgAtStart)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TARGET\tVALUE\tGOAL\t")
		for _, t := range r.Targets {
			verdict := "met"
			if !t.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(tw, "  %s\t%s %s\t%s\t%s\n", t.Name, formatNumber(t.Value), t.Unit, t.Goal, verdict)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func formatParameters(p map[string]any) string {
	parts := make([]string, 0, len(p))
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, p[k]))
	}
	return strings.Join(parts, " ")
}

func formatMB(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return formatNumber(*v)
}

// formatNumber prints a figure with the precision it deserves: thousands separated and no
// decimals from 1,000 up, fewer decimals the larger it is below that.
func formatNumber(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case a >= 1000:
		s := strconv.FormatInt(int64(math.Round(a)), 10)
		var out []byte
		for i := range len(s) {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if v < 0 {
			return "-" + string(out)
		}
		return string(out)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// round rounds v to the given number of decimals, for tidy JSON.
func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

func ptr[T any](v T) *T { return &v }
