package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Stream is how the registry reaches one connected worker. The transport implements it (the
// gRPC StreamJobs handler) and must serialise its calls: the registry may call Send and Drain
// from different goroutines.
type Stream interface {
	// Send delivers attempts of jobs, in order, and says how many the worker got: an error
	// means jobs[sent:] did not reach it.
	Send(ctx context.Context, jobs []*Job) (sent int, err error)
	// Drain tells the worker to take no new jobs and finish the ones it runs; with shutdown,
	// to exit afterwards.
	Drain(ctx context.Context, reason string, shutdown bool) error
	// Cancel tells the worker to stop running attempt of a job an operator cancelled.
	Cancel(ctx context.Context, jobID uuid.UUID, attempt int) error
	// End closes the stream: with EndReregister the worker registers again and reconnects;
	// with EndSuperseded it stops (another process took its worker id).
	End(how EndReason, message string)
}

// EndReason says why the registry ends a stream.
type EndReason int

// The reasons a stream is ended.
const (
	// EndReregister: the worker was declared lost; it must register again.
	EndReregister EndReason = iota
	// EndSuperseded: another process registered under the same worker id.
	EndSuperseded
)

// ErrNotConnected: the worker has no open stream on this server.
var ErrNotConnected = errors.New("worker not connected to this server")

// Registry tracks the workers whose streams are open on this server: which queues they take,
// how many jobs they can take now, and which jobs they hold. It never touches the database;
// the scheduler reads capacity from it and delivers through it.
type Registry struct {
	mu      sync.Mutex
	workers map[uuid.UUID]*connectedWorker
	gen     uint64
	// changed is called (outside the lock) when capacity may have grown: a worker attached,
	// or a job was reported. The scheduler passes its Wake.
	changed func()
	// detached is called when a stream ends without the worker deregistering.
	detached func(workerID uuid.UUID)
}

type connectedWorker struct {
	id          uuid.UUID
	incarnation string
	queues      []string
	capacity    int
	inflight    map[uuid.UUID]heldAttempt // job id -> the attempt it holds
	draining    bool
	// What the worker was told: a drain notice is sent once, and again only to add shutdown.
	drainSent, shutdownSent bool
	stream                  Stream
	gen                     uint64
}

// heldAttempt is an attempt a worker holds a slot for, since when.
type heldAttempt struct {
	attempt int
	since   time.Time
}

// Candidate is a connected worker that can take jobs now.
type Candidate struct {
	WorkerID uuid.UUID
	Queues   []string
	Free     int
	Inflight int
	Capacity int
}

// ConnectedWorker describes a worker's stream on this server.
type ConnectedWorker struct {
	WorkerID uuid.UUID
	Queues   []string
	Capacity int
	Inflight int
	Draining bool
}

// NewRegistry returns an empty registry. changed (may be nil) is called when capacity may have
// grown; detached (may be nil) when a stream ends without a goodbye.
func NewRegistry(changed func(), detached func(workerID uuid.UUID)) *Registry {
	if changed == nil {
		changed = func() {}
	}
	if detached == nil {
		detached = func(uuid.UUID) {}
	}
	return &Registry{workers: map[uuid.UUID]*connectedWorker{}, changed: changed, detached: detached}
}

// Attach registers a worker process's open stream with the jobs it can take now (freeSlots)
// and the attempts it runs already (running: delivered on an earlier stream, perhaps by
// another server), which hold slots until reported. A stream already open for the same worker
// is replaced: from the same incarnation it is a reconnect racing the old stream's end, and
// the jobs it delivered still count; from another incarnation, another process took the
// worker id, and the old stream is ended with EndSuperseded. The returned function detaches
// the stream; call it when the stream ends, with goodbye true when the worker deregistered (so
// it is not treated as lost).
func (r *Registry) Attach(workerID uuid.UUID, incarnation string, queues []string, freeSlots int, running map[uuid.UUID]int,
	stream Stream) (detach func(goodbye bool)) {
	now := time.Now()
	r.mu.Lock()
	r.gen++
	gen := r.gen
	w := &connectedWorker{
		id:          workerID,
		incarnation: incarnation,
		queues:      slices.Clone(queues),
		capacity:    max(freeSlots, 0),
		inflight:    make(map[uuid.UUID]heldAttempt, len(running)),
		stream:      stream,
		gen:         gen,
	}
	for id, attempt := range running {
		w.inflight[id] = heldAttempt{attempt: attempt, since: now}
	}
	old, replaced := r.workers[workerID]
	superseded := replaced && old.incarnation != incarnation
	if replaced && !superseded {
		// Jobs delivered on the old stream are still the process's: keep counting them.
		for id, h := range old.inflight {
			w.inflight[id] = h
		}
	}
	w.capacity += len(w.inflight)
	r.workers[workerID] = w
	r.mu.Unlock()
	if superseded {
		old.stream.End(EndSuperseded, "another process registered as worker "+workerID.String()+"; give each worker its own id")
	}
	r.changed()

	var once sync.Once
	return func(goodbye bool) {
		once.Do(func() {
			r.mu.Lock()
			cur, ok := r.workers[workerID]
			replaced := !ok || cur.gen != gen
			if !replaced {
				delete(r.workers, workerID)
			}
			r.mu.Unlock()
			if !replaced && !goodbye {
				r.detached(workerID)
			}
		})
	}
}

// Candidates lists the connected, non-draining workers with free slots, least loaded first
// (lowest share of capacity in use), so jobs spread across workers.
func (r *Registry) Candidates() []Candidate {
	r.mu.Lock()
	out := make([]Candidate, 0, len(r.workers))
	for _, w := range r.workers {
		free := w.capacity - len(w.inflight)
		if w.draining || free <= 0 {
			continue
		}
		out = append(out, Candidate{WorkerID: w.id, Queues: w.queues, Free: free, Inflight: len(w.inflight), Capacity: w.capacity})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Candidate) int {
		// Compare inflight/capacity without division.
		if d := a.Inflight*b.Capacity - b.Inflight*a.Capacity; d != 0 {
			return d
		}
		return b.Free - a.Free
	})
	return out
}

// Deliver sends jobs claimed for a worker over its stream, in order, and counts each one it
// delivered as held by the worker. It returns the jobs it could not deliver (the stream broke,
// or the worker detached or is draining); the caller must put them back.
func (r *Registry) Deliver(ctx context.Context, workerID uuid.UUID, jobs []*Job) (delivered, failed []*Job) {
	r.mu.Lock()
	w, ok := r.workers[workerID]
	var stream Stream
	if ok && !w.draining {
		stream = w.stream
		// Count them before sending: a fast worker may report before Send returns.
		now := time.Now()
		for _, j := range jobs {
			w.inflight[j.ID] = heldAttempt{attempt: j.Attempt, since: now}
		}
	}
	r.mu.Unlock()
	if stream == nil {
		return nil, jobs
	}
	sent, err := stream.Send(ctx, jobs)
	delivered = jobs[:sent]
	if err != nil {
		failed = jobs[sent:]
	}
	if len(failed) > 0 {
		r.mu.Lock()
		if cur, ok := r.workers[workerID]; ok {
			for _, j := range failed {
				if cur.inflight[j.ID].attempt == j.Attempt {
					delete(cur.inflight, j.ID)
				}
			}
		}
		r.mu.Unlock()
	}
	return delivered, failed
}

// Outstanding returns the jobs that may still be running on their workers: all but those whose
// worker is connected here and has reported that attempt (or never got it). A job whose worker
// is not connected here is kept: the registry cannot tell. The lock is taken per chunk of
// jobs, so that a long list (a second of deliveries) does not hold up deliveries and reports.
func (r *Registry) Outstanding(jobs []*Job) []*Job {
	const chunk = 1024
	var out []*Job
	for len(jobs) > 0 {
		part := jobs[:min(chunk, len(jobs))]
		jobs = jobs[len(part):]
		r.mu.Lock()
		for _, j := range part {
			if w, ok := r.workers[j.WorkerID]; ok {
				if h, held := w.inflight[j.ID]; !held || h.attempt != j.Attempt {
					continue
				}
			}
			out = append(out, j)
		}
		r.mu.Unlock()
	}
	return out
}

// Done records that a worker reported on attempt of a job, freeing its slot. It reports
// whether the worker held that attempt here: a late report of an older attempt frees nothing,
// as the slot now holds the current one.
func (r *Registry) Done(workerID, jobID uuid.UUID, attempt int) bool {
	r.mu.Lock()
	w, ok := r.workers[workerID]
	held := false
	if ok {
		if h, found := w.inflight[jobID]; found && h.attempt == attempt {
			held = true
			delete(w.inflight, jobID)
		}
	}
	r.mu.Unlock()
	if held {
		r.changed()
	}
	return held
}

// Reconcile frees the slots of the jobs a connected worker no longer holds (held: what its
// heartbeat lists) that it was counted for longer than grace ago: their report was lost, or
// went to a server that did not count them. Recent ones are left alone, as their delivery or
// report may still be on its way. It returns how many it freed.
func (r *Registry) Reconcile(workerID uuid.UUID, held []uuid.UUID, grace time.Duration) int {
	holds := make(map[uuid.UUID]bool, len(held))
	for _, id := range held {
		holds[id] = true
	}
	cutoff := time.Now().Add(-grace)
	freed := 0
	r.mu.Lock()
	if w, ok := r.workers[workerID]; ok {
		for id, h := range w.inflight {
			if !holds[id] && h.since.Before(cutoff) {
				delete(w.inflight, id)
				freed++
			}
		}
	}
	r.mu.Unlock()
	if freed > 0 {
		r.changed()
	}
	return freed
}

// Cancel tells a connected worker to stop a job it runs: an operator cancelled it. The slot
// stays counted until the worker reports (its report is refused, which frees it).
// ErrNotConnected when the worker's stream is not on this server.
func (r *Registry) Cancel(ctx context.Context, workerID, jobID uuid.UUID, attempt int) error {
	r.mu.Lock()
	w, ok := r.workers[workerID]
	r.mu.Unlock()
	if !ok {
		return ErrNotConnected
	}
	return w.stream.Cancel(ctx, jobID, attempt)
}

// Drain marks a connected worker draining (it gets no new jobs) and tells it so in-band, once
// (again only if shutdown is newly asked). ErrNotConnected when its stream is not on this
// server.
func (r *Registry) Drain(ctx context.Context, workerID uuid.UUID, reason string, shutdown bool) error {
	r.mu.Lock()
	w, ok := r.workers[workerID]
	var stream Stream
	if ok {
		w.draining = true
		if !w.drainSent || (shutdown && !w.shutdownSent) {
			stream = w.stream
			w.drainSent = true
			w.shutdownSent = w.shutdownSent || shutdown
		}
	}
	r.mu.Unlock()
	if !ok {
		return ErrNotConnected
	}
	if stream == nil {
		return nil // already told
	}
	return stream.Drain(ctx, reason, shutdown)
}

// End closes a connected worker's stream, asking it to register again (it was declared lost
// while its stream stayed open here). ErrNotConnected when its stream is not on this server.
func (r *Registry) End(workerID uuid.UUID, reason string) error {
	r.mu.Lock()
	w, ok := r.workers[workerID]
	if ok {
		w.draining = true // nothing more goes out on it
	}
	r.mu.Unlock()
	if !ok {
		return ErrNotConnected
	}
	w.stream.End(EndReregister, reason)
	return nil
}

// DrainAll tells every connected worker to drain, for a server shutting down.
func (r *Registry) DrainAll(ctx context.Context, reason string) {
	for _, w := range r.Workers() {
		_ = r.Drain(ctx, w.WorkerID, reason, false)
	}
}

// Workers describes every stream open on this server.
func (r *Registry) Workers() []ConnectedWorker {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ConnectedWorker, 0, len(r.workers))
	for _, w := range r.workers {
		out = append(out, ConnectedWorker{WorkerID: w.id, Queues: w.queues, Capacity: w.capacity, Inflight: len(w.inflight), Draining: w.draining})
	}
	slices.SortFunc(out, func(a, b ConnectedWorker) int { return slices.Compare(a.WorkerID[:], b.WorkerID[:]) })
	return out
}

// Connected reports whether the worker's stream is open on this server.
func (r *Registry) Connected(workerID uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.workers[workerID]
	return ok
}

// Len is the number of open streams.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.workers)
}
