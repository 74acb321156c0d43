package worker

import (
	"context"
	"sync"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// inflight counts the jobs a worker runs. Unlike a sync.WaitGroup it may be waited on while
// jobs still arrive, and once stopped it admits no more, so that whoever waits for the last
// job can then close the results channel the jobs write to.
type inflight struct {
	mu      sync.Mutex
	n       int
	stopped bool
	zero    chan struct{} // closed when n drops to 0; replaced when n rises from 0
}

func newInflight() *inflight {
	z := make(chan struct{})
	close(z)
	return &inflight{zero: z}
}

// add admits one job; it returns false once the set is stopped.
func (f *inflight) add() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
	return true
}

// done ends one admitted job.
func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.zero)
	}
}

// idle is closed when no job runs (a job admitted later does not reopen it).
func (f *inflight) idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.zero
}

// stop admits no more jobs; the channel it returns is closed when the last job has ended.
func (f *inflight) stop() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	return f.zero
}

// heldJobs are the jobs a worker holds: running, or finished and not yet reported. Its
// heartbeat lists them, so that the server can retry a job it gave the worker that never
// arrived (see jq.reconcile_worker). A job is counted once per attempt held: a late outcome of
// an old attempt must not hide the new attempt of the same job.
type heldJobs struct {
	mu   sync.Mutex
	jobs map[string]int
}

func newHeldJobs() *heldJobs { return &heldJobs{jobs: map[string]int{}} }

// add counts one attempt of jobID as held.
func (h *heldJobs) add(jobID string) {
	h.mu.Lock()
	h.jobs[jobID]++
	h.mu.Unlock()
}

// remove drops one attempt of jobID, once reported (or refused).
func (h *heldJobs) remove(jobID string) {
	h.mu.Lock()
	if h.jobs[jobID] <= 1 {
		delete(h.jobs, jobID)
	} else {
		h.jobs[jobID]--
	}
	h.mu.Unlock()
}

// list returns the held job ids.
func (h *heldJobs) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.jobs))
	for id := range h.jobs {
		out = append(out, id)
	}
	return out
}

// stoppers maps each running attempt to the function that cancels its context.
type stoppers struct {
	mu    sync.Mutex
	funcs map[attemptKey]context.CancelCauseFunc
}

type attemptKey struct {
	jobID   string
	attempt int
}

func newStoppers() *stoppers { return &stoppers{funcs: map[attemptKey]context.CancelCauseFunc{}} }

// add records how to stop an attempt; the function it returns forgets it.
func (s *stoppers) add(jobID string, attempt int, stop context.CancelCauseFunc) (forget func()) {
	key := attemptKey{jobID, attempt}
	s.mu.Lock()
	s.funcs[key] = stop
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.funcs, key)
		s.mu.Unlock()
	}
}

// running lists the attempts that run now.
func (s *stoppers) running() []*jqv1.RunningAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*jqv1.RunningAttempt, 0, len(s.funcs))
	for key := range s.funcs {
		out = append(out, &jqv1.RunningAttempt{JobId: key.jobID, Attempt: int32(key.attempt)})
	}
	return out
}

// stop cancels an attempt with cause ErrCancelled; false if it does not run here.
func (s *stoppers) stop(jobID string, attempt int) bool {
	s.mu.Lock()
	stop, ok := s.funcs[attemptKey{jobID, attempt}]
	s.mu.Unlock()
	if ok {
		stop(ErrCancelled)
	}
	return ok
}
