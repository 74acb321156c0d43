package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Job is one attempt of a job, as a handler sees it.
type Job struct {
	ID         string
	Queue      string
	Payload    []byte
	Priority   int
	Attempt    int
	RetryCount int
	MaxRetries int
	// Timeout is how long this attempt may run: the payload's timeout_seconds, else the
	// queue's TTL, else the worker's default. The handler's context ends then.
	Timeout time.Duration
}

// Handler runs jobs. It must return when ctx ends (timeout, or a shutdown past its grace
// period): the worker cannot stop a handler that ignores its context.
type Handler interface {
	Handle(ctx context.Context, job Job) (result []byte, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job Job) ([]byte, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, job Job) ([]byte, error) { return f(ctx, job) }

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the job is dead-lettered at once instead of retried: a payload that
// can never run, an unknown job kind.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ErrCancelled is the cause of a handler's context when an operator cancelled the job
// (context.Cause(ctx)); the job is over, and whatever the handler returns is not recorded.
var ErrCancelled = errors.New("the job was cancelled by an operator")

// MaxSnooze is the longest a job may snooze.
const MaxSnooze = 30 * 24 * time.Hour

// snoozeError asks for the job to run again after a delay.
type snoozeError struct{ delay time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %s", e.delay) }

// Snooze, returned by a handler, ends the attempt without using up a retry: the job runs
// again (on any worker) after delay, between 0 and MaxSnooze (clamped). Use it to wait for
// something not ready yet, rather than failing.
func Snooze(delay time.Duration) error {
	return &snoozeError{delay: min(max(delay, 0), MaxSnooze)}
}

// SnoozeDelay reports whether err asks to snooze (see Snooze), and for how long.
func SnoozeDelay(err error) (time.Duration, bool) {
	var s *snoozeError
	if errors.As(err, &s) {
		return s.delay, true
	}
	return 0, false
}

// Mux routes jobs to handlers by the "kind" field of their JSON payload.
type Mux struct {
	handlers map[string]Handler
	fallback Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: map[string]Handler{}} }

// Register sets the handler of one job kind.
func (m *Mux) Register(kind string, h HandlerFunc) { m.handlers[kind] = h }

// Fallback sets the handler of jobs without a kind (or of a kind no handler has), e.g. Exec.
func (m *Mux) Fallback(h Handler) { m.fallback = h }

var _ Handler = (*Mux)(nil)

// Handle dispatches a job to the handler of its kind.
func (m *Mux) Handle(ctx context.Context, job Job) ([]byte, error) {
	var p struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(job.Payload, &p) // a payload without a kind goes to the fallback
	if h, ok := m.handlers[p.Kind]; ok {
		return h.Handle(ctx, job)
	}
	if m.fallback != nil {
		return m.fallback.Handle(ctx, job)
	}
	if p.Kind == "" {
		return nil, Permanent(errors.New(`payload has no "kind" and this worker has no fallback handler`))
	}
	return nil, Permanent(fmt.Errorf("no handler for job kind %q on this worker", p.Kind))
}
