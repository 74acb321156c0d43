package queue

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/google/uuid"
)

// Stream is how the registry reaches one connected worker. The transport implements it (the
// gRPC StreamJobs handler) and must serialise its calls: the registry may call Send and Drain
// from different goroutines.
type Stream interface {
	// Send delivers one attempt of a job. An error means the worker did not get it.
	Send(ctx context.Context, job *Job) error
	// Drain tells the worker to take no new jobs and finish the ones it runs; with shutdown,
	// to exit afterwards.
	Drain(ctx context.Context, reason string, shutdown bool) error
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
	inflight    map[uuid.UUID]int // job id -> attempt
	draining    bool
	// What the worker was told: a drain notice is sent once, and again only to add shutdown.
	drainSent, shutdownSent bool
	stream                  Stream
	gen                     uint64
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
// and those it already holds (held: the attempts the database gives it, delivered before this
// stream opened, by this server or another that went away). Held jobs take slots like the
// ones delivered here, and their reports free them. A stream already open for the same worker
// is replaced: from the same incarnation it is a reconnect racing the old stream's end, and
// the jobs it delivered still count; from another incarnation, another process took the
// worker id, and the old stream is ended with EndSuperseded. The returned function detaches
// the stream; call it when the stream ends, with goodbye true when the worker deregistered
// (so it is not treated as lost).
func (r *Registry) Attach(workerID uuid.UUID, incarnation string, queues []string, freeSlots int, held []Attempt, stream Stream) (detach func(goodbye bool)) {
	r.mu.Lock()
	r.gen++
	gen := r.gen
	w := &connectedWorker{
		id:          workerID,
		incarnation: incarnation,
		queues:      slices.Clone(queues),
		capacity:    max(freeSlots, 0),
		inflight:    map[uuid.UUID]int{},
		stream:      stream,
		gen:         gen,
	}
	for _, a := range held {
		if _, dup := w.inflight[a.JobID]; !dup {
			w.inflight[a.JobID] = a.Attempt
			w.capacity++
		}
	}
	old, replaced := r.workers[workerID]
	superseded := replaced && old.incarnation != incarnation
	if replaced && !superseded {
		// Jobs delivered on the old stream are still the process's: keep counting them.
		for id, attempt := range old.inflight {
			if _, known := w.inflight[id]; !known {
				w.inflight[id] = attempt
				w.capacity++
			}
		}
	}
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
		for _, j := range jobs {
			w.inflight[j.ID] = j.Attempt
		}
	}
	r.mu.Unlock()
	if stream == nil {
		return nil, jobs
	}
	for i, j := range jobs {
		if err := stream.Send(ctx, j); err != nil {
			failed = jobs[i:]
			break
		}
		delivered = append(delivered, j)
	}
	if len(failed) > 0 {
		r.mu.Lock()
		if cur, ok := r.workers[workerID]; ok {
			for _, j := range failed {
				if cur.inflight[j.ID] == j.Attempt {
					delete(cur.inflight, j.ID)
				}
			}
		}
		r.mu.Unlock()
	}
	return delivered, failed
}

// Done records that a worker reported on attempt of a job, freeing its slot. It reports
// whether the worker held that attempt here: a late report of an older attempt frees nothing,
// as the slot now holds the current one.
func (r *Registry) Done(workerID, jobID uuid.UUID, attempt int) bool {
	r.mu.Lock()
	w, ok := r.workers[workerID]
	held := false
	if ok {
		if a, found := w.inflight[jobID]; found && a == attempt {
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
