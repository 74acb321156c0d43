package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Output. --output json and yaml print jq-ctl's own documents (the *View types below, snake_case
// fields, statuses by name, times in RFC 3339, null when absent), not the protobuf messages, so
// that scripts do not depend on the wire format. A list is an array. --output table prints
// aligned columns for people: times relative to now, ids in full.

// emit prints v as JSON or YAML, or calls table with a tabwriter on stdout.
func (a *app) emit(v any, table func(w io.Writer)) error {
	switch a.g.output {
	case outputJSON:
		return writeJSON(a.stdout, v)
	case outputYAML:
		return writeYAML(a.stdout, v)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// emitLine prints v as one JSON line (json) or one YAML document (yaml): for streams.
func (a *app) emitLine(v any) error {
	if a.g.output == outputYAML {
		if _, err := fmt.Fprintln(a.stdout, "---"); err != nil {
			return failf(exitFailure, "write output: %v", err)
		}
		return writeYAML(a.stdout, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	if _, err := fmt.Fprintf(a.stdout, "%s\n", b); err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	return nil
}

// writeYAML prints v's JSON document as YAML in block style. Going through JSON gives both
// formats the same fields in the same order, and keeps a payload's numbers as written.
func writeYAML(w io.Writer, v any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(doc, &node); err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	blockStyle(&node)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	if err := enc.Close(); err != nil {
		return failf(exitFailure, "write output: %v", err)
	}
	return nil
}

// blockStyle drops the flow style and quotes a JSON document parses with; the encoder quotes
// again whatever would not read back as the same value in YAML 1.2, and the strings YAML 1.1
// readers take for booleans ("yes", "off") stay quoted.
func blockStyle(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || !yaml11Bools[n.Value] {
		n.Style = 0
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

var yaml11Bools = map[string]bool{}

func init() {
	for _, s := range []string{"y", "yes", "n", "no", "true", "false", "on", "off"} {
		yaml11Bools[s] = true
		yaml11Bools[strings.ToUpper(s)] = true
		yaml11Bools[strings.ToUpper(s[:1])+s[1:]] = true
	}
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	fmt.Fprintln(w)
}

// ago shows t relative to now: "3s ago", "in 2m", "-" for none.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d < 0:
		return "in " + shortDuration(-d)
	default:
		return shortDuration(d) + " ago"
	}
}

// shortDuration is d in its largest whole unit: 45s, 2m, 5h, 3d.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

func tsTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// rfc3339 is a timestamp in a document: RFC 3339 in UTC, or null.
func rfc3339(ts *timestamppb.Timestamp) *string {
	if ts == nil {
		return nil
	}
	s := ts.AsTime().UTC().Format(time.RFC3339Nano)
	return &s
}

func seconds(d *durationpb.Duration) float64 {
	if d == nil {
		return 0
	}
	return d.AsDuration().Seconds()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// summary shows text in one table cell: on one line, cut after max runes.
func summary(b []byte, limit int) string {
	if len(b) == 0 {
		return "-"
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("(%d bytes, not UTF-8; see -o json)", len(b))
	}
	s := strings.TrimRight(string(b), "\n")
	s = strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "…"
	}
	return s
}

// compactJSON is a payload on one line.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// jobStatusName is "DONE" for JOB_STATUS_DONE.
func jobStatusName(s jqv1.JobStatus) string {
	return strings.TrimPrefix(s.String(), "JOB_STATUS_")
}

func workerStatusName(s jqv1.WorkerStatus) string {
	return strings.TrimPrefix(s.String(), "WORKER_STATUS_")
}

// jobView is a job in --output json and yaml.
type jobView struct {
	JobID          string `json:"job_id"`
	Queue          string `json:"queue"`
	Status         string `json:"status"`
	Priority       int32  `json:"priority"`
	Attempt        int32  `json:"attempt"`
	RetryCount     int32  `json:"retry_count"`
	MaxRetries     int32  `json:"max_retries"`
	WorkerID       string `json:"worker_id"`
	IdempotencyKey string `json:"idempotency_key"`
	ConcurrencyKey string `json:"concurrency_key"`
	UniqueKey      string `json:"unique_key"`
	// DependsOn lists the jobs it waits for (job status; empty in lists).
	DependsOn []string `json:"depends_on"`
	// Progress is what the running attempt last reported, null when none.
	Progress        *float64 `json:"progress"`
	ProgressMessage string   `json:"progress_message"`
	ProgressAt      *string  `json:"progress_at"`
	Payload         any      `json:"payload"`
	Result          string   `json:"result"`
	ResultEncoding  string   `json:"result_encoding"` // "text", or "base64" when the bytes are not UTF-8
	ErrorMessage    string   `json:"error_message"`
	CreatedAt       *string  `json:"created_at"`
	UpdatedAt       *string  `json:"updated_at"`
	NotBefore       *string  `json:"not_before"`
	StartedAt       *string  `json:"started_at"`
	CompletedAt     *string  `json:"completed_at"`
}

func newJobView(j *jqv1.Job) jobView {
	v := jobView{
		JobID:           j.GetJobId(),
		Queue:           j.GetQueueName(),
		Status:          jobStatusName(j.GetStatus()),
		Priority:        j.GetPriority(),
		Attempt:         j.GetAttempt(),
		RetryCount:      j.GetRetryCount(),
		MaxRetries:      j.GetMaxRetries(),
		WorkerID:        j.GetWorkerId(),
		ConcurrencyKey:  j.GetConcurrencyKey(),
		IdempotencyKey:  j.GetIdempotencyKey(),
		UniqueKey:       j.GetUniqueKey(),
		DependsOn:       j.GetDependsOn(),
		Progress:        j.Progress,
		ProgressAt:      rfc3339(j.GetProgressAt()),
		ProgressMessage: j.GetProgressMessage(),
		Payload:         payloadValue(j.GetPayload()),
		Result:          string(j.GetResult()),
		ResultEncoding:  "text",
		ErrorMessage:    j.GetErrorMessage(),
		CreatedAt:       rfc3339(j.GetCreatedAt()),
		UpdatedAt:       rfc3339(j.GetUpdatedAt()),
		NotBefore:       rfc3339(j.GetNotBefore()),
		StartedAt:       rfc3339(j.GetStartedAt()),
		CompletedAt:     rfc3339(j.GetCompletedAt()),
	}
	if !utf8.Valid(j.GetResult()) {
		v.Result = base64.StdEncoding.EncodeToString(j.GetResult())
		v.ResultEncoding = "base64"
	}
	return v
}

// payloadValue is the payload as a JSON value (numbers kept as written), or as a string if it
// is not JSON.
func payloadValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return string(b)
	}
	return v
}

func jobViews(jobs []*jqv1.Job) []jobView {
	out := make([]jobView, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, newJobView(j))
	}
	return out
}

// jobTable prints one job, a field a line.
func (a *app) jobTable(w io.Writer, j *jqv1.Job) {
	now := a.now()
	row(w, "JOB ID", j.GetJobId())
	row(w, "QUEUE", j.GetQueueName())
	row(w, "STATUS", jobStatusName(j.GetStatus()))
	row(w, "PRIORITY", j.GetPriority())
	row(w, "ATTEMPT", j.GetAttempt())
	row(w, "RETRIES", fmt.Sprintf("%d of %d", j.GetRetryCount(), j.GetMaxRetries()))
	row(w, "WORKER", dash(j.GetWorkerId()))
	row(w, "IDEMPOTENCY KEY", dash(j.GetIdempotencyKey()))
	row(w, "CONCURRENCY KEY", dash(j.GetConcurrencyKey()))
	row(w, "UNIQUE KEY", dash(j.GetUniqueKey()))
	row(w, "DEPENDS ON", dash(strings.Join(j.GetDependsOn(), ", ")))
	row(w, "PROGRESS", progressText(j, now))
	row(w, "CREATED", ago(tsTime(j.GetCreatedAt()), now))
	row(w, "NOT BEFORE", ago(tsTime(j.GetNotBefore()), now))
	row(w, "STARTED", ago(tsTime(j.GetStartedAt()), now))
	row(w, "COMPLETED", ago(tsTime(j.GetCompletedAt()), now))
	row(w, "UPDATED", ago(tsTime(j.GetUpdatedAt()), now))
	row(w, "PAYLOAD", summary(compactJSON(j.GetPayload()), 200))
	row(w, "RESULT", summary(j.GetResult(), 200))
	row(w, "ERROR", summary([]byte(j.GetErrorMessage()), 200))
}

// progressText is a job's progress for the table: "42% copying files (3s ago)", or "-".
func progressText(j *jqv1.Job, now time.Time) string {
	if j.Progress == nil {
		return "-"
	}
	s := strconv.FormatFloat(j.GetProgress(), 'f', -1, 64) + "%"
	if m := j.GetProgressMessage(); m != "" {
		s += " " + summary([]byte(m), 120)
	}
	return s + " (" + ago(tsTime(j.GetProgressAt()), now) + ")"
}

// confirm asks question on stderr and reads the answer from stdin: "y" or "yes" goes on,
// anything else stops the command with nothing done. A stdin that is a file or a pipe is not
// asked (a script must say --yes).
func (a *app) confirm(question string) error {
	if f, ok := a.stdin.(*os.File); ok {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			return failf(exitUsage, "%s (stdin is not a terminal to answer on: pass --yes)", question)
		}
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	answer, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && answer == "" {
		return failf(exitFailure, "no answer: nothing done")
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return failf(exitFailure, "not confirmed: nothing done")
}
