package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// waitPollInterval is how often job submit --wait asks for the job's status.
const waitPollInterval = 200 * time.Millisecond

// parseJobID checks a job id before it is sent, so that a typo is exit 4 with a clear message.
func parseJobID(s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", failf(exitInvalid, "job id %q is not a UUID", s)
	}
	return id.String(), nil
}

// jobSubmitCommand is `jq-ctl job submit`.
type jobSubmitCommand struct {
	app            *app
	queue          string
	priority       int
	maxRetries     *int32
	delay          time.Duration
	notBefore      string
	idempotencyKey string
	concurrencyKey string
	timeoutSeconds int
	payload        string
	payloadFile    string
	env            []string
	wait           bool
	waitTimeout    time.Duration
	// Unique jobs and dependencies (docs/scheduling.md).
	uniqueKey      string
	uniqueWindow   time.Duration
	uniqueStatuses string
	dependsOn      []string
	onDepFailure   string
}

func (c *jobSubmitCommand) spec() spec {
	return spec{
		name:  "submit",
		short: "submit a job: a command to run, or any JSON payload",
		usage: []string{
			"jq-ctl job submit [flags] -- COMMAND [ARG...]",
			"jq-ctl job submit [flags] --payload JSON",
			"jq-ctl job submit [flags] --payload-file FILE|-",
		},
		long: `The payload is a JSON document. After --, the command becomes {"command": [COMMAND, ARG...]},
which jq-worker runs as a subprocess (no shell); --env and --timeout-seconds add "env" and
"timeout_seconds" to it (also to a --payload object). Put jq-ctl's flags before the command.

Prints the job id (JSON {"job_id", "deduplicated"} with -o json/yaml). With --wait, waits until
the job is DONE and prints its result (the command's stdout) as it is, or the job with -o
json/yaml; a dead-lettered or cancelled job prints its error on stderr and exits 7, and
--wait-timeout elapsing exits 8.`,
		examples: []string{
			"jq-ctl job submit -q default -- echo hi",
			"jq-ctl job submit --env GREETING=hello --timeout-seconds 30 -- sh -c 'echo $GREETING'",
			`jq-ctl job submit --priority 9 --max-retries 5 --payload '{"command": ["make", "report"]}'`,
			"generate-payload | jq-ctl job submit -q emails --payload-file - --delay 10m",
			"jq-ctl job submit --idempotency-key order-42 --not-before 2026-12-01T09:00:00Z -- ./bill 42",
			"jq-ctl job submit -q exports --key tenant-17 -- ./export 17",
			"out=$(jq-ctl job submit --wait --wait-timeout 5m -- date)",
			"jq-ctl job submit --unique-key sync-42 --unique-statuses pending,running -- ./sync 42",
			"jq-ctl job submit --depends-on 0191e3a0-7c1d-7000-8000-000000000001 -- ./report",
		},
		verbatim: true,
		flags: func(f *flagSet) {
			f.String(&c.queue, "q,queue", "NAME", "default", "queue to submit to")
			f.Int(&c.priority, "priority", "N", 0, "0 (lowest) to 9 (highest)")
			f.OptionalInt(&c.maxRetries, "max-retries", "N", "retries after a failed attempt (default: the queue's)")
			f.Duration(&c.delay, "delay", "DURATION", 0, "run no sooner than this from now, e.g. 90s or 2h", "")
			f.String(&c.notBefore, "not-before", "TIME", "", "run no sooner than this RFC 3339 time")
			f.String(&c.idempotencyKey, "idempotency-key", "KEY", "", "a second submit with the same key on the same queue returns the first job")
			f.String(&c.concurrencyKey, "key", "KEY", "", "concurrency key (a tenant, a customer): the queue's keys are claimed in turn, and max-running-per-key counts per key")
			f.Int(&c.timeoutSeconds, "timeout-seconds", "N", 0, `kill the command after N seconds (payload "timeout_seconds"; 0: the worker's default)`)
			f.String(&c.payload, "payload", "JSON", "", "the payload, a JSON document")
			f.String(&c.payloadFile, "payload-file", "FILE", "", "read the payload from FILE; - reads stdin")
			f.List(&c.env, "env", "KEY=VALUE", `environment variable of the command (payload "env"); repeat for more`)
			f.String(&c.uniqueKey, "unique-key", "KEY", "", "submit nothing while a job of the queue with this key matches --unique-window and --unique-statuses; print that job")
			f.Duration(&c.uniqueWindow, "unique-window", "DURATION", 0, "with --unique-key: only jobs created within this (e.g. 1h); 0: ever", "0")
			f.String(&c.uniqueStatuses, "unique-statuses", "STATUS,...", "", "with --unique-key: only jobs in these statuses (e.g. pending,running); empty: any")
			f.List(&c.dependsOn, "depends-on", "JOB_ID", "wait (WAITING) until this job is DONE; repeat for more")
			f.String(&c.onDepFailure, "on-dependency-failure", "POLICY", "cancel", "when a dependency is dead-lettered or cancelled: cancel this job, or run it anyway")
			f.Bool(&c.wait, "wait", "wait until the job is finished; print its result")
			f.Duration(&c.waitTimeout, "wait-timeout", "DURATION", 0, "give up waiting after this long (exit 8); 0 waits for ever", "0")
		},
	}
}

const submitPath = "job submit"

func (c *jobSubmitCommand) Run(ctx context.Context, args []string) error {
	req, err := c.request(args)
	if err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.jobs.SubmitJob, req)
	if err != nil {
		return err
	}
	if resp.GetDeduplicated() {
		what := fmt.Sprintf("idempotency key %q", req.GetIdempotencyKey())
		if req.GetUniqueKey() != "" {
			what = fmt.Sprintf("unique key %q", req.GetUniqueKey())
			if req.GetIdempotencyKey() != "" {
				what = fmt.Sprintf("idempotency key %q or unique key %q", req.GetIdempotencyKey(), req.GetUniqueKey())
			}
		}
		fmt.Fprintf(c.app.stderr, "jq-ctl: note: %s matched job %s; nothing new was submitted\n", what, resp.GetJobId())
	}
	if c.wait {
		return c.waitFor(ctx, cl, resp.GetJobId())
	}
	return c.app.emit(submitView{JobID: resp.GetJobId(), Deduplicated: resp.GetDeduplicated()}, func(w io.Writer) {
		fmt.Fprintln(w, resp.GetJobId())
	})
}

// submitView is job submit's document.
type submitView struct {
	JobID        string `json:"job_id"`
	Deduplicated bool   `json:"deduplicated"`
}

// request checks the flags and builds the SubmitJob request.
func (c *jobSubmitCommand) request(args []string) (*jqv1.SubmitJobRequest, error) {
	if c.priority < 0 || c.priority > 9 {
		return nil, failf(exitInvalid, "--priority %d is outside 0-9", c.priority)
	}
	if c.maxRetries != nil && *c.maxRetries < 0 {
		return nil, failf(exitInvalid, "--max-retries %d is negative", *c.maxRetries)
	}
	if c.timeoutSeconds < 0 {
		return nil, failf(exitInvalid, "--timeout-seconds %d is negative", c.timeoutSeconds)
	}
	if c.waitTimeout < 0 {
		return nil, failf(exitInvalid, "--wait-timeout %s is negative", c.waitTimeout)
	}
	payload, err := c.buildPayload(args)
	if err != nil {
		return nil, err
	}
	req := &jqv1.SubmitJobRequest{
		QueueName:      c.queue,
		Payload:        payload,
		Priority:       int32(c.priority),
		MaxRetries:     c.maxRetries,
		IdempotencyKey: c.idempotencyKey,
		ConcurrencyKey: c.concurrencyKey,
		UniqueKey:      c.uniqueKey,
	}
	if err := c.uniqueAndDependencies(req); err != nil {
		return nil, err
	}
	switch {
	case c.delay != 0 && c.notBefore != "":
		return nil, usagef(submitPath, "give --delay or --not-before, not both")
	case c.delay < 0:
		return nil, failf(exitInvalid, "--delay %s is negative", c.delay)
	case c.delay > 0:
		req.NotBefore = timestamppb.New(c.app.now().Add(c.delay))
	case c.notBefore != "":
		t, err := time.Parse(time.RFC3339Nano, c.notBefore)
		if err != nil {
			return nil, failf(exitInvalid, "--not-before %q is not an RFC 3339 time such as 2026-12-01T09:00:00Z", c.notBefore)
		}
		req.NotBefore = timestamppb.New(t)
	}
	return req, nil
}

// uniqueAndDependencies adds --unique-* and --depends-on to the request.
func (c *jobSubmitCommand) uniqueAndDependencies(req *jqv1.SubmitJobRequest) error {
	if c.uniqueWindow < 0 {
		return failf(exitInvalid, "--unique-window %s is negative", c.uniqueWindow)
	}
	if c.uniqueWindow > 0 {
		req.UniqueWindow = durationpb.New(c.uniqueWindow)
	}
	for s := range strings.SplitSeq(c.uniqueStatuses, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		st, err := parseJobStatus(s)
		if err != nil {
			return failf(exitInvalid, "--unique-statuses: %q is not a job status (pending, running, done, ...)", s)
		}
		req.UniqueStatuses = append(req.UniqueStatuses, st)
	}
	if c.uniqueKey == "" && (req.UniqueWindow != nil || len(req.UniqueStatuses) > 0) {
		return usagef(submitPath, "--unique-window and --unique-statuses need --unique-key")
	}
	for _, d := range c.dependsOn {
		id, err := parseJobID(d)
		if err != nil {
			return failf(exitInvalid, "--depends-on %q is not a job id (a UUID)", d)
		}
		req.DependsOn = append(req.DependsOn, id)
	}
	switch c.onDepFailure {
	case "", "cancel":
	case "run":
		req.OnDependencyFailure = jqv1.DependencyFailure_DEPENDENCY_FAILURE_RUN
	default:
		return failf(exitInvalid, "--on-dependency-failure %q: want cancel or run", c.onDepFailure)
	}
	return nil
}

// readPayload makes a job's payload from --payload, --payload-file or a command (args), for
// the command at path.
func (a *app) readPayload(path, payload, payloadFile string, args []string) ([]byte, error) {
	var sources []string
	if payload != "" {
		sources = append(sources, "--payload")
	}
	if payloadFile != "" {
		sources = append(sources, "--payload-file")
	}
	if len(args) > 0 {
		sources = append(sources, "a command")
	}
	switch len(sources) {
	case 0:
		return nil, usagef(path, "missing payload: give a command after --, --payload or --payload-file")
	case 1:
	default:
		return nil, usagef(path, "give one payload, not %s", strings.Join(sources, " and "))
	}

	var raw []byte
	var from string
	switch {
	case len(args) > 0:
		command, _ := json.Marshal(args)
		raw = []byte(`{"command":` + string(command) + `}`)
	case payload != "":
		raw, from = []byte(payload), "--payload"
	default:
		var err error
		if raw, err = a.readFile(payloadFile, "--payload-file"); err != nil {
			return nil, err
		}
		from = "--payload-file " + payloadFile
	}
	if !json.Valid(raw) {
		return nil, failf(exitInvalid, "%s is not valid JSON", from)
	}
	return raw, nil
}

// buildPayload makes the payload from --payload, --payload-file or the command, with --env
// and --timeout-seconds added.
func (c *jobSubmitCommand) buildPayload(args []string) ([]byte, error) {
	raw, err := c.app.readPayload(submitPath, c.payload, c.payloadFile, args)
	if err != nil {
		return nil, err
	}
	if len(c.env) == 0 && c.timeoutSeconds == 0 {
		return raw, nil
	}

	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return nil, failf(exitInvalid, "--env and --timeout-seconds need a payload that is a JSON object")
	}
	if len(c.env) > 0 {
		env := map[string]string{}
		if old, ok := doc["env"]; ok {
			_ = json.Unmarshal(old, &env) // a non-object "env" is replaced
		}
		for _, kv := range c.env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, failf(exitInvalid, "--env %q is not KEY=VALUE", kv)
			}
			env[k] = v
		}
		doc["env"], _ = json.Marshal(env)
	}
	if c.timeoutSeconds > 0 {
		doc["timeout_seconds"], _ = json.Marshal(c.timeoutSeconds)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, failf(exitFailure, "payload: %v", err)
	}
	return out, nil
}

// readFile reads the file a flag names; - reads stdin.
func (a *app) readFile(name, flag string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, failf(exitFailure, "read %s from stdin: %v", flag, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, failf(exitInvalid, "%s: %v", flag, err)
	}
	return b, nil
}

// waitFor polls the job until it is DONE, DEAD_LETTERED or CANCELLED, or --wait-timeout
// elapses.
func (c *jobSubmitCommand) waitFor(ctx context.Context, cl *client, id string) error {
	var deadline <-chan time.Time
	if c.waitTimeout > 0 {
		t := time.NewTimer(c.waitTimeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(waitPollInterval)
	defer tick.Stop()
	for {
		resp, err := call(ctx, cl, cl.jobs.GetJobStatus, &jqv1.GetJobStatusRequest{JobId: id})
		if err != nil {
			return err
		}
		job := resp.GetJob()
		switch job.GetStatus() {
		case jqv1.JobStatus_JOB_STATUS_DONE:
			if c.app.g.output == outputTable {
				if _, err := c.app.stdout.Write(job.GetResult()); err != nil {
					return failf(exitFailure, "write result: %v", err)
				}
				return nil
			}
			return c.app.emit(newJobView(job), nil)
		case jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED:
			if c.app.g.output != outputTable {
				if err := c.app.emit(newJobView(job), nil); err != nil {
					return err
				}
			}
			return failf(exitDeadLettered, "job %s dead-lettered: %s", id, dash(job.GetErrorMessage()))
		case jqv1.JobStatus_JOB_STATUS_CANCELLED:
			if c.app.g.output != outputTable {
				if err := c.app.emit(newJobView(job), nil); err != nil {
					return err
				}
			}
			return failf(exitDeadLettered, "job %s was cancelled", id)
		}
		select {
		case <-ctx.Done():
			return failf(exitInterrupted, "interrupted while waiting for job %s (%s)", id, jobStatusName(job.GetStatus()))
		case <-deadline:
			return failf(exitWaitTimeout, "job %s is still %s after --wait-timeout %s", id, jobStatusName(job.GetStatus()), c.waitTimeout)
		case <-tick.C:
		}
	}
}

// jobStatusCommand is `jq-ctl job status`.
type jobStatusCommand struct{ app *app }

func (c *jobStatusCommand) spec() spec {
	return spec{
		name:  "status",
		args:  "JOB_ID",
		short: "show a job: status, attempts, times, payload, result, error",
		examples: []string{
			"jq-ctl job status 0191e3a0-7c1d-7000-8000-000000000001",
			"jq-ctl job status -o json 0191e3a0-7c1d-7000-8000-000000000001 | jq -r .result",
		},
	}
}

func (c *jobStatusCommand) Run(ctx context.Context, args []string) error {
	_, resp, err := callOnID(ctx, c.app, "job status", "JOB_ID", args, parseJobID,
		func(ctx context.Context, cl *client, id string) (*jqv1.GetJobStatusResponse, error) {
			return call(ctx, cl, cl.jobs.GetJobStatus, &jqv1.GetJobStatusRequest{JobId: id})
		})
	if err != nil {
		return err
	}
	return c.app.emit(newJobView(resp.GetJob()), func(w io.Writer) { c.app.jobTable(w, resp.GetJob()) })
}

// jobCancelCommand is `jq-ctl job cancel`.
type jobCancelCommand struct {
	app    *app
	queue  string
	status string
	all    bool
	yes    bool
	limit  int
}

const cancelPath = "job cancel"

func (c *jobCancelCommand) spec() spec {
	return spec{
		name:  "cancel",
		short: "cancel a job, or every unfinished job of a queue and status",
		usage: []string{
			"jq-ctl job cancel [flags] JOB_ID",
			"jq-ctl job cancel [flags] --queue NAME [--status STATUS] [--yes]",
			"jq-ctl job cancel [flags] --all-queues --status STATUS [--yes]",
		},
		long: `A cancelled job ends CANCELLED: final, never retried (job retry makes it PENDING again).
A running job's worker is told at once: a command gets SIGTERM, then SIGKILL after its grace
(worker.cancel_grace, or the payload's "grace_seconds"); a Go handler's context ends. If the
worker cannot be told (its stream is down), the attempt is over all the same: its report is
refused, and the worker stops the job when it reconnects. A finished job cannot be
cancelled: exit 6.

With --queue (or --all-queues), cancels the unfinished jobs of the queue in --status (pending,
waiting, assigned or running; all four when not given), at most --limit, oldest first. It first
counts them and asks for confirmation on the terminal; --yes skips the question (needed when
stdin is not a terminal).`,
		examples: []string{
			"jq-ctl job cancel 0191e3a0-7c1d-7000-8000-000000000001",
			"jq-ctl job cancel --queue emails --status pending",
			"jq-ctl job cancel --queue emails --yes -o json",
		},
		flags: func(f *flagSet) {
			f.String(&c.queue, "q,queue", "NAME", "", "cancel the unfinished jobs of this queue")
			f.Bool(&c.all, "all-queues", "cancel the unfinished jobs of every queue (with --status)")
			f.String(&c.status, "status", "STATUS", "", "only jobs in this status: pending, waiting, assigned or running")
			f.Int(&c.limit, "limit", "N", 10000, "cancel at most N jobs (at most 10000 per call)")
			f.Bool(&c.yes, "y,yes", "do not ask for confirmation")
		},
	}
}

// cancelledView is the document of a bulk job cancel.
type cancelledView struct {
	Queue     string `json:"queue,omitempty"`
	Status    string `json:"status,omitempty"`
	Cancelled int64  `json:"cancelled"`
}

func (c *jobCancelCommand) Run(ctx context.Context, args []string) error {
	if c.queue != "" || c.all || c.status != "" {
		return c.bulk(ctx, args)
	}
	id, resp, err := callOnID(ctx, c.app, "job cancel", "JOB_ID", args, parseJobID,
		func(ctx context.Context, cl *client, id string) (*jqv1.CancelJobResponse, error) {
			return call(ctx, cl, cl.jobs.CancelJob, &jqv1.CancelJobRequest{JobId: id})
		})
	if err != nil {
		return err
	}
	return c.app.emit(newJobView(resp.GetJob()), func(w io.Writer) {
		fmt.Fprintf(w, "job %s cancelled (%s)\n", id, jobStatusName(resp.GetJob().GetStatus()))
	})
}

// bulk is job cancel --queue: count, confirm, cancel.
func (c *jobCancelCommand) bulk(ctx context.Context, args []string) error {
	switch {
	case len(args) > 0:
		return usagef(cancelPath, "give a JOB_ID or --queue/--all-queues, not both")
	case c.queue == "" && !c.all:
		return usagef(cancelPath, "--status needs --queue NAME or --all-queues")
	case c.queue != "" && c.all:
		return usagef(cancelPath, "give --queue or --all-queues, not both")
	case c.all && c.status == "":
		return usagef(cancelPath, "--all-queues needs --status: cancelling every unfinished job of every queue is too broad for one flag")
	case c.limit < 1 || c.limit > 10000:
		return failf(exitInvalid, "--limit %d is outside 1-10000", c.limit)
	}
	status, err := parseJobStatus(c.status)
	if err != nil {
		return err
	}
	switch status {
	case jqv1.JobStatus_JOB_STATUS_UNSPECIFIED, jqv1.JobStatus_JOB_STATUS_PENDING, jqv1.JobStatus_JOB_STATUS_WAITING,
		jqv1.JobStatus_JOB_STATUS_ASSIGNED, jqv1.JobStatus_JOB_STATUS_RUNNING:
	default:
		return failf(exitInvalid, "--status %s: only pending, waiting, assigned or running jobs can be cancelled", c.status)
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	req := &jqv1.CancelJobsRequest{QueueName: c.queue, Status: status, Limit: int32(c.limit)}
	what := "unfinished jobs"
	if status != jqv1.JobStatus_JOB_STATUS_UNSPECIFIED {
		what = jobStatusName(status) + " jobs"
	}
	where := "queue " + c.queue
	if c.all {
		where = "every queue"
	}
	if !c.yes {
		count, err := call(ctx, cl, cl.jobs.CancelJobs, &jqv1.CancelJobsRequest{QueueName: c.queue, Status: status, Limit: int32(c.limit), DryRun: true})
		if err != nil {
			return err
		}
		if count.GetCount() == 0 {
			return c.app.emit(cancelledView{Queue: c.queue, Status: c.status}, func(w io.Writer) {
				fmt.Fprintf(w, "no %s in %s: nothing cancelled\n", what, where)
			})
		}
		if err := c.app.confirm(fmt.Sprintf("cancel %d %s in %s?", count.GetCount(), what, where)); err != nil {
			return err
		}
	}
	resp, err := call(ctx, cl, cl.jobs.CancelJobs, req)
	if err != nil {
		return err
	}
	return c.app.emit(cancelledView{Queue: c.queue, Status: c.status, Cancelled: resp.GetCount()}, func(w io.Writer) {
		fmt.Fprintf(w, "%d %s in %s cancelled\n", resp.GetCount(), what, where)
	})
}

// jobRetryCommand is `jq-ctl job retry`.
type jobRetryCommand struct{ app *app }

func (c *jobRetryCommand) spec() spec {
	return spec{
		name:  "retry",
		args:  "JOB_ID",
		short: "make a FAILED or DEAD_LETTERED job PENDING again, its retry count reset",
		long:  "A job in any other state cannot be retried: exit 6.",
		examples: []string{
			"jq-ctl job retry 0191e3a0-7c1d-7000-8000-000000000001",
			"jq-ctl job list --status dead_lettered -o json | jq -r '.[].job_id' | xargs -n1 jq-ctl job retry",
		},
	}
}

func (c *jobRetryCommand) Run(ctx context.Context, args []string) error {
	id, resp, err := callOnID(ctx, c.app, "job retry", "JOB_ID", args, parseJobID,
		func(ctx context.Context, cl *client, id string) (*jqv1.RetryJobResponse, error) {
			return call(ctx, cl, cl.jobs.RetryJob, &jqv1.RetryJobRequest{JobId: id})
		})
	if err != nil {
		return err
	}
	return c.app.emit(newJobView(resp.GetJob()), func(w io.Writer) {
		fmt.Fprintf(w, "job %s is %s again\n", id, jobStatusName(resp.GetJob().GetStatus()))
	})
}

// jobListCommand is `jq-ctl job list`.
type jobListCommand struct {
	app       *app
	queue     string
	status    string
	limit     int
	all       bool
	pageToken string
}

// maxPage is the most jobs ListJobs returns at once.
const maxPage = 100

func (c *jobListCommand) spec() spec {
	return spec{
		name:  "list",
		short: "list jobs, newest first",
		long: `Lists --limit jobs (all of them with --all), fetching pages of 100 as needed. When more
remain, stderr says which --page-token continues the list.`,
		examples: []string{
			"jq-ctl job list",
			"jq-ctl job list -q emails --status running",
			"jq-ctl job list --status dead_lettered --all -o json",
		},
		flags: func(f *flagSet) {
			f.String(&c.queue, "q,queue", "NAME", "", "only jobs of this queue (default: every queue)")
			f.String(&c.status, "status", "STATUS", "", "only jobs in this status: pending, assigned, running, done, failed, dead_lettered")
			f.Int(&c.limit, "limit", "N", 20, "list at most N jobs")
			f.Bool(&c.all, "all", "list every job (ignores --limit)")
			f.String(&c.pageToken, "page-token", "TOKEN", "", "continue a previous list")
		},
	}
}

func (c *jobListCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("job list", args); err != nil {
		return err
	}
	status, err := parseJobStatus(c.status)
	if err != nil {
		return err
	}
	if c.limit < 1 && !c.all {
		return failf(exitInvalid, "--limit %d: want at least 1", c.limit)
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	var jobs []*jqv1.Job
	token := c.pageToken
	for {
		size := maxPage
		if !c.all {
			size = min(c.limit-len(jobs), maxPage)
		}
		resp, err := call(ctx, cl, cl.jobs.ListJobs, &jqv1.ListJobsRequest{
			QueueName: c.queue, Status: status, Limit: int32(size), PageToken: token,
		})
		if err != nil {
			return err
		}
		jobs = append(jobs, resp.GetJobs()...)
		token = resp.GetNextPageToken()
		if token == "" || (!c.all && len(jobs) >= c.limit) {
			break
		}
	}
	err = c.app.emit(jobViews(jobs), func(w io.Writer) {
		now := c.app.now()
		row(w, "JOB ID", "QUEUE", "STATUS", "PRIORITY", "ATTEMPT", "CREATED", "UPDATED", "WORKER")
		for _, j := range jobs {
			row(w, j.GetJobId(), j.GetQueueName(), jobStatusName(j.GetStatus()), j.GetPriority(), j.GetAttempt(),
				ago(tsTime(j.GetCreatedAt()), now), ago(tsTime(j.GetUpdatedAt()), now), dash(j.GetWorkerId()))
		}
	})
	if err == nil && token != "" {
		fmt.Fprintf(c.app.stderr, "jq-ctl: more jobs: add --page-token %s for the next ones\n", token)
	}
	return err
}

// parseJobStatus reads a --status filter: "dead_lettered", "DEAD-LETTERED" or "JOB_STATUS_DONE".
func parseJobStatus(s string) (jqv1.JobStatus, error) {
	if s == "" {
		return jqv1.JobStatus_JOB_STATUS_UNSPECIFIED, nil
	}
	name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	name = strings.TrimPrefix(name, "JOB_STATUS_")
	v, ok := jqv1.JobStatus_value["JOB_STATUS_"+name]
	if !ok || v == 0 {
		return 0, failf(exitInvalid, "--status %q is not one of pending, assigned, running, done, failed, dead_lettered", s)
	}
	return jqv1.JobStatus(v), nil
}

// jobLogsCommand is `jq-ctl job logs`.
type jobLogsCommand struct {
	app      *app
	follow   bool
	interval time.Duration
}

func (c *jobLogsCommand) spec() spec {
	return spec{
		name:  "logs",
		args:  "JOB_ID",
		short: "show a job's transitions, oldest first; --follow streams them and its progress until it finishes",
		long: `One line per state change: submitted, claimed, started, completed, retried, cancelled, ...

With --follow, prints them as they happen, and the progress the job reports while it runs,
until the job is DONE, DEAD_LETTERED or CANCELLED (or Ctrl-C). Each line is "TIME  FROM -> TO
REASON ..." or "TIME  progress 42% MESSAGE"; with -o json, one JSON document per line, whose
"type" is "event" or "progress".`,
		examples: []string{
			"jq-ctl job logs 0191e3a0-7c1d-7000-8000-000000000001",
			"jq-ctl job logs --follow 0191e3a0-7c1d-7000-8000-000000000001",
		},
		flags: func(f *flagSet) {
			f.Bool(&c.follow, "f,follow", "stream the transitions and progress until the job finishes")
			f.Duration(&c.interval, "interval", "DURATION", 500*time.Millisecond, "with --follow, how often to look", "500ms")
		},
	}
}

// eventView is a job event in --output json and yaml.
type eventView struct {
	ID           int64   `json:"id"`
	JobID        string  `json:"job_id"`
	FromStatus   *string `json:"from_status"` // null for the submission
	ToStatus     string  `json:"to_status"`
	Reason       string  `json:"reason"`
	Attempt      int32   `json:"attempt"`
	WorkerID     string  `json:"worker_id"`
	ErrorMessage string  `json:"error_message"`
	Actor        string  `json:"actor"`
	OccurredAt   *string `json:"occurred_at"`
}

func newEventView(e *jqv1.JobEvent) eventView {
	v := eventView{
		ID: e.GetId(), JobID: e.GetJobId(), ToStatus: jobStatusName(e.GetToStatus()), Reason: e.GetReason(),
		Attempt: e.GetAttempt(), WorkerID: e.GetWorkerId(), ErrorMessage: e.GetErrorMessage(), Actor: e.GetActor(),
		OccurredAt: rfc3339(e.GetOccurredAt()),
	}
	if e.GetFromStatus() != jqv1.JobStatus_JOB_STATUS_UNSPECIFIED {
		from := jobStatusName(e.GetFromStatus())
		v.FromStatus = &from
	}
	return v
}

func (c *jobLogsCommand) Run(ctx context.Context, args []string) error {
	if c.follow {
		return c.followLogs(ctx, args)
	}
	_, resp, err := callOnID(ctx, c.app, "job logs", "JOB_ID", args, parseJobID,
		func(ctx context.Context, cl *client, id string) (*jqv1.GetJobLogsResponse, error) {
			return call(ctx, cl, cl.jobs.GetJobLogs, &jqv1.GetJobLogsRequest{JobId: id})
		})
	if err != nil {
		return err
	}
	events := resp.GetEvents()
	views := make([]eventView, 0, len(events))
	for _, e := range events {
		views = append(views, newEventView(e))
	}
	return c.app.emit(views, func(w io.Writer) {
		now := c.app.now()
		row(w, "WHEN", "FROM", "TO", "REASON", "ATTEMPT", "WORKER", "BY", "ERROR")
		for i, v := range views {
			from := "-"
			if v.FromStatus != nil {
				from = *v.FromStatus
			}
			row(w, ago(tsTime(events[i].GetOccurredAt()), now), from, v.ToStatus, v.Reason, v.Attempt, dash(v.WorkerID),
				dash(v.Actor), summary([]byte(v.ErrorMessage), 120))
		}
	})
}

// progressView is a progress line of job logs --follow -o json.
type progressView struct {
	Type     string  `json:"type"` // "progress"
	JobID    string  `json:"job_id"`
	Progress float64 `json:"progress"`
	Message  string  `json:"message"`
	At       *string `json:"at"`
}

// followedEvent is an event line of job logs --follow -o json.
type followedEvent struct {
	Type string `json:"type"` // "event"
	eventView
}

// followLogs polls the job's events and progress until it finishes.
func (c *jobLogsCommand) followLogs(ctx context.Context, args []string) error {
	if err := wantArgs("job logs", args, "JOB_ID"); err != nil {
		return err
	}
	if c.interval < 10*time.Millisecond {
		return failf(exitInvalid, "--interval %s: at least 10ms", c.interval)
	}
	id, err := parseJobID(args[0])
	if err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	var lastEvent int64
	var lastProgress string
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		// The status first: events read after it include those of the end it shows.
		st, err := call(ctx, cl, cl.jobs.GetJobStatus, &jqv1.GetJobStatusRequest{JobId: id})
		if err != nil {
			return err
		}
		logs, err := call(ctx, cl, cl.jobs.GetJobLogs, &jqv1.GetJobLogsRequest{JobId: id})
		if err != nil {
			return err
		}
		for _, e := range logs.GetEvents() {
			if e.GetId() <= lastEvent {
				continue
			}
			lastEvent = e.GetId()
			if err := c.printEvent(e); err != nil {
				return err
			}
		}
		job := st.GetJob()
		if job.Progress != nil {
			key := fmt.Sprint(job.GetProgress(), job.GetProgressMessage(), tsTime(job.GetProgressAt()).UnixNano())
			if key != lastProgress {
				lastProgress = key
				if err := c.printProgress(job); err != nil {
					return err
				}
			}
		}
		switch job.GetStatus() {
		case jqv1.JobStatus_JOB_STATUS_DONE, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, jqv1.JobStatus_JOB_STATUS_CANCELLED:
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // interrupted: the stream simply ends
		case <-tick.C:
		}
	}
}

func (c *jobLogsCommand) printEvent(e *jqv1.JobEvent) error {
	v := newEventView(e)
	if c.app.g.output != outputTable {
		return c.app.emitLine(followedEvent{Type: "event", eventView: v})
	}
	from := "-"
	if v.FromStatus != nil {
		from = *v.FromStatus
	}
	line := fmt.Sprintf("%s  %s -> %s  %s  attempt %d", clock(e.GetOccurredAt()), from, v.ToStatus, v.Reason, v.Attempt)
	if v.WorkerID != "" {
		line += "  worker " + v.WorkerID
	}
	if v.Actor != "" {
		line += "  by " + v.Actor
	}
	if v.ErrorMessage != "" {
		line += "  error: " + summary([]byte(v.ErrorMessage), 200)
	}
	_, err := fmt.Fprintln(c.app.stdout, line)
	return err
}

func (c *jobLogsCommand) printProgress(j *jqv1.Job) error {
	if c.app.g.output != outputTable {
		return c.app.emitLine(progressView{Type: "progress", JobID: j.GetJobId(), Progress: j.GetProgress(),
			Message: j.GetProgressMessage(), At: rfc3339(j.GetProgressAt())})
	}
	line := fmt.Sprintf("%s  progress %s%%", clock(j.GetProgressAt()), strconv.FormatFloat(j.GetProgress(), 'f', -1, 64))
	if m := j.GetProgressMessage(); m != "" {
		line += "  " + summary([]byte(m), 200)
	}
	_, err := fmt.Fprintln(c.app.stdout, line)
	return err
}

// clock is a time of day for streamed lines, in UTC.
func clock(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "--:--:--.---"
	}
	return ts.AsTime().UTC().Format("15:04:05.000")
}
