package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Client submits and follows jobs through jq-server's JobService, for Go programs that would
// rather not write protobuf code. It is safe for concurrent use.
type Client struct {
	conn *grpclib.ClientConn
	jobs jqv1.JobServiceClient
}

// New connects to jq-server at target (host:port) with o (TLS, API key). Like Dial, it does
// not connect until the first call.
func New(target string, o Options) (*Client, error) {
	conn, err := Dial(target, o)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, jobs: jqv1.NewJobServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Job is the state of a job, as Status and Wait return it.
type Job = jqv1.Job

// SubmitOptions tune Submit; the zero value submits to the "default" queue at priority 0.
type SubmitOptions struct {
	// Queue is the queue to submit to ("default" when empty).
	Queue string
	// Priority is 0 (lowest, the default) to 9.
	Priority int
	// MaxRetries, when set, overrides the queue's.
	MaxRetries *int
	// NotBefore, when set, delays the job.
	NotBefore time.Time
	// IdempotencyKey, when set, makes a second submit with the same key on the same queue return
	// the first job's id: a caller can retry a submit whose answer it lost.
	IdempotencyKey string
	// ConcurrencyKey groups the job (a tenant, a customer): the queue's keys are claimed in turn,
	// and its max_running_per_key counts per key.
	ConcurrencyKey string
}

// Submitted is what Submit returns.
type Submitted struct {
	ID string
	// Deduplicated is true when IdempotencyKey matched an existing job: nothing was inserted.
	Deduplicated bool
}

// Submit submits a job whose payload is payload encoded as JSON (a json.RawMessage or []byte is
// used as it is). For jq-worker's subprocess jobs the payload is
// {"command": ["prog", "arg"], "env": {...}, "timeout_seconds": n}: see Command.
func (c *Client) Submit(ctx context.Context, payload any, o SubmitOptions) (Submitted, error) {
	var raw []byte
	switch p := payload.(type) {
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return Submitted{}, fmt.Errorf("submit: payload: %w", err)
		}
	}
	req := &jqv1.SubmitJobRequest{QueueName: o.Queue, Payload: raw, Priority: int32(o.Priority), IdempotencyKey: o.IdempotencyKey,
		ConcurrencyKey: o.ConcurrencyKey}
	if req.QueueName == "" {
		req.QueueName = "default"
	}
	if o.MaxRetries != nil {
		n := int32(*o.MaxRetries)
		req.MaxRetries = &n
	}
	if !o.NotBefore.IsZero() {
		req.NotBefore = timestamppb.New(o.NotBefore)
	}
	resp, err := c.jobs.SubmitJob(ctx, req)
	if err != nil {
		return Submitted{}, fmt.Errorf("submit: %w", err)
	}
	return Submitted{ID: resp.GetJobId(), Deduplicated: resp.GetDeduplicated()}, nil
}

// Command is the payload of a subprocess job that jq-worker runs: the program and its
// arguments, run without a shell.
func Command(argv ...string) map[string]any { return map[string]any{"command": argv} }

// Status returns a job's current state.
func (c *Client) Status(ctx context.Context, jobID string) (*Job, error) {
	resp, err := c.jobs.GetJobStatus(ctx, &jqv1.GetJobStatusRequest{JobId: jobID})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", jobID, err)
	}
	return resp.GetJob(), nil
}

// Cancel cancels an unfinished job: it ends CANCELLED, and a running one's worker is told to
// stop it.
func (c *Client) Cancel(ctx context.Context, jobID string) (*Job, error) {
	resp, err := c.jobs.CancelJob(ctx, &jqv1.CancelJobRequest{JobId: jobID})
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", jobID, err)
	}
	return resp.GetJob(), nil
}

// ErrDeadLettered is returned by Wait for a job that ended dead-lettered; the job, with its
// error_message, is returned with it.
var ErrDeadLettered = errors.New("job dead-lettered")

// ErrCancelled is returned by Wait for a job that was cancelled.
var ErrCancelled = errors.New("job cancelled")

// Wait polls a job every interval (200 ms when zero) until it is finished: DONE (nil error),
// DEAD_LETTERED (ErrDeadLettered) or CANCELLED (ErrCancelled). It returns ctx's error when ctx
// ends first.
func (c *Client) Wait(ctx context.Context, jobID string, interval time.Duration) (*Job, error) {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		j, err := c.Status(ctx, jobID)
		if err != nil {
			return nil, err
		}
		switch j.GetStatus() {
		case jqv1.JobStatus_JOB_STATUS_DONE:
			return j, nil
		case jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED:
			return j, fmt.Errorf("job %s: %w: %s", jobID, ErrDeadLettered, j.GetErrorMessage())
		case jqv1.JobStatus_JOB_STATUS_CANCELLED:
			return j, fmt.Errorf("job %s: %w", jobID, ErrCancelled)
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}
