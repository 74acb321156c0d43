package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxPriority is the highest job priority (jobs_priority_range: 0-9).
const MaxPriority = 9

// ClaimFloors say where a claim of a set of queues starts, per priority: no runnable PENDING
// job of those queues of priority p created before ClaimFloors[p] is looked for. The zero time
// looks from the head.
type ClaimFloors [MaxPriority + 1]time.Time

// floors keeps the scheduler's claim floors while vacuum's horizon is held back
// (docs/observability.md, "MVCC pressure: claim floors").
//
// While a transaction elsewhere keeps vacuum from removing row versions, every job claimed
// since leaves its entry in jobs_claim_idx and jobs_pending_idx, and a claim from the head walks
// all of them, visiting each row, before it reaches a PENDING job: claims slow down as the pin
// lasts (40,000 dead entries: 37-47 ms for a claim of 500 instead of 15-20 ms). Then each claim
// starts its scan of each priority at that priority's floor, kept per set of queues claimed
// together (a worker group's): past the jobs earlier claims of that set took. A floor rises after each claim: up to the last job taken in a priority the
// claim did not exhaust, to the claim's time less a margin (1 s) in those it did. A job that
// becomes PENDING below a floor (a retry whose backoff ended, a job this scheduler could not
// deliver, a worker's jobs released by the reaper, a submit that commits more than
// the margin after it began) is found by the check that runs every FloorCheckEvery while the
// floors are on (jq.claim_floor_check), which lowers the floor to it; jobs this scheduler
// releases lower it at once. The price of the floors is therefore only that such jobs may
// wait up to a second (FloorCheckEvery) longer, and only while the floors are on: from when
// the horizon is held until vacuum has cleaned up after it. At other times no floor is kept
// and claims start from the head.
type floors struct {
	// pressure turns the floors on: set while the oldest transaction that holds the horizon
	// is more than afterXIDs transactions old, and after that until a check reads fast.
	pressure  atomic.Bool
	afterXIDs int64
	// margin is how far behind the claim's own clock a floor stays: a job whose transaction
	// began before the floor (its created_at) but commits after the claim would otherwise
	// sit below it. Submit transactions last milliseconds; one that lasts longer than this
	// is found by the next check.
	margin time.Duration

	mu   sync.Mutex
	sets map[string]*setFloors // by setKey

	// checking is set while the scheduler's background refresh runs.
	checking atomic.Bool
}

// setFloors are the floors of the claims of one set of queues.
type setFloors struct {
	queues  []string        // sorted
	members map[string]bool // the same, to look up
	at      ClaimFloors
	// lowered counts the times a check or a release lowered at; a claim that read at before
	// a lowering must not raise it past what the lowering found.
	lowered uint64
}

// setKey names a set of queues whatever their order.
func setKey(queues []string) string {
	if len(queues) == 1 {
		return queues[0]
	}
	sorted := slices.Clone(queues)
	slices.Sort(sorted)
	return strings.Join(sorted, "\x00")
}

// FloorStore is what the floors need from the database.
type FloorStore interface {
	HorizonAge(ctx context.Context) (int64, error)
	ClaimFloorCheck(ctx context.Context, queues []string, at ClaimFloors) (ClaimFloors, error)
}

// get returns the floors a claim of queues starts from, and whether it should use them: only
// under pressure.
func (f *floors) get(queues []string) (ClaimFloors, uint64, bool) {
	if !f.pressure.Load() {
		return ClaimFloors{}, 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.sets[setKey(queues)]
	if q == nil {
		return ClaimFloors{}, 0, true
	}
	return q.at, q.lowered, true
}

// raise moves the floors of the set queues up after a claim that started from floors read at
// version lowered, asked for requested jobs and took jobs (highest priority first, oldest
// first).
func (f *floors) raise(queues []string, lowered uint64, requested int, jobs []*Job) {
	if len(jobs) == 0 || !f.pressure.Load() {
		return
	}
	ceiling := jobs[0].AssignedAt.Add(-f.margin)
	last := jobs[len(jobs)-1]
	// A claim that took fewer than it asked for ran out of every priority; one that took
	// all it asked for, of those above the last job's.
	exhausted := -1
	if len(jobs) >= requested {
		exhausted = last.Priority
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sets == nil {
		f.sets = map[string]*setFloors{}
	}
	key := setKey(queues)
	q := f.sets[key]
	if q == nil {
		q = &setFloors{queues: slices.Sorted(slices.Values(queues)), members: make(map[string]bool, len(queues))}
		for _, name := range queues {
			q.members[name] = true
		}
		f.sets[key] = q
	}
	if q.lowered != lowered {
		return // a check or a release lowered them meanwhile; the next claim raises them
	}
	for p := range q.at {
		switch {
		case p > exhausted:
			q.at[p] = later(q.at[p], ceiling)
		case p == last.Priority:
			q.at[p] = later(q.at[p], earlier(last.CreatedAt, ceiling))
		}
	}
}

// lower moves the floors of every set holding each job's queue down to the job: jobs put back
// to PENDING.
func (f *floors) lower(jobs []*Job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.sets {
		for _, j := range jobs {
			if !q.members[j.Queue] || j.Priority < 0 || j.Priority > MaxPriority || q.at[j.Priority].IsZero() {
				continue // not its queue, or no floor: claims start from the head
			}
			q.at[j.Priority] = earlier(q.at[j.Priority], j.CreatedAt)
			q.lowered++
		}
	}
}

// cleanCheck is how long a check of one set's floors may take for the floors to be
// dropped once the horizon has moved on: a check reads what lies below the floors, which
// stays slow to read until vacuum has removed the dead entries there.
const cleanCheck = 2 * time.Millisecond

// refresh reads the horizon's age, turns the floors on or off, and while they are on checks
// every set's floors for jobs below them, lowering the floors to those it finds. The floors
// go on when the horizon is over afterXIDs old, and off once it is not and their check reads
// fast (vacuum has cleaned up below them): a claim from the head would walk the dead entries
// as long as they are there, even when nothing holds the horizon any more.
func (f *floors) refresh(ctx context.Context, store FloorStore) error {
	age, err := store.HorizonAge(ctx)
	if err != nil {
		return fmt.Errorf("read the vacuum horizon: %w", err)
	}
	held := age > f.afterXIDs
	if !held && !f.pressure.Load() {
		return nil
	}
	f.pressure.Store(true)
	begin := time.Now()
	type check struct {
		queues []string
		at     ClaimFloors
	}
	f.mu.Lock()
	snapshot := make(map[string]check, len(f.sets))
	for key, q := range f.sets {
		snapshot[key] = check{q.queues, q.at}
	}
	f.mu.Unlock()
	for key, c := range snapshot {
		found, err := store.ClaimFloorCheck(ctx, c.queues, c.at)
		if err != nil {
			return fmt.Errorf("check the claim floors of queues %s: %w", strings.Join(c.queues, ","), err)
		}
		f.mu.Lock()
		if q := f.sets[key]; q != nil {
			for p, t := range found {
				if !t.IsZero() && t.Before(q.at[p]) {
					q.at[p] = t
					q.lowered++
				}
			}
		}
		f.mu.Unlock()
	}
	if !held && time.Since(begin) < time.Duration(max(len(snapshot), 1))*cleanCheck {
		f.pressure.Store(false)
		f.mu.Lock()
		f.sets = nil
		f.mu.Unlock()
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
