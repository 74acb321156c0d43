package worker

import "sync"

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
