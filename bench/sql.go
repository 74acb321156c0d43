package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/jqhq/jq/queue"
)

// sqlTarget is the SQL lifecycle's target, jobs/s.
const sqlTarget = 15_000.0

// sqlParams describe a sql run.
type sqlParams struct {
	jobs     int
	claimers int
	batch    int
	start    bool // mark each batch RUNNING between claim and completion
}

// sqlScenario measures the SQL API alone, the ceiling of the whole server: jobs are inserted
// with submit_many, then claimers loops each claim a batch (jq.claim) and complete it in one
// jq.complete_many (with p.start, marking it RUNNING with jq.start in between), until none is
// left: see Lifecycle. Every transition writes its job_events row, as in production. jobs/s
// runs from the first claim to the last complete.
func sqlScenario(ctx context.Context, r *run, p sqlParams) (*Report, error) {
	started := time.Now()
	if err := r.createDatabase(ctx, p.claimers+1); err != nil {
		return nil, err
	}
	r.progress("inserting %d jobs into %s", p.jobs, r.db.name)
	if err := insertJobs(ctx, r.pool, r.queue, p.jobs, truePayload, 2); err != nil {
		return nil, err
	}
	if err := vacuumJobs(ctx, r.pool); err != nil {
		return nil, err
	}
	store := queue.NewStore(r.pool)
	workers := make([]uuid.UUID, p.claimers)
	for i := range workers {
		w, err := store.RegisterWorker(ctx, queue.RegisterWorkerParams{
			ID: uuid.New(), Hostname: "jq-bench", Concurrency: 4096, Queues: []string{r.queue}, Incarnation: r.id,
		})
		if err != nil {
			return nil, fmt.Errorf("register claimer: %w", err)
		}
		workers[i] = w.ID
	}

	path := "claim → complete_many"
	if p.start {
		path = "claim → start → complete_many"
	}
	r.progress("%s with %d claimers, batches of %d", path, p.claimers, p.batch)
	begin := time.Now()
	done, calls, err := Lifecycle(ctx, store, r.queue, workers, p.batch, p.start)
	elapsed := time.Since(begin)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}
	if int(done) != p.jobs {
		return nil, fmt.Errorf("lifecycle: %d of %d jobs completed", done, p.jobs)
	}
	var events int
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM jq.job_events`).Scan(&events); err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}

	rep := r.report(ctx, started, map[string]any{"jobs": p.jobs, "claimers": p.claimers, "batch": p.batch, "start": p.start})
	jps := float64(p.jobs) / elapsed.Seconds()
	rep.JobsPerSec = &jps
	rep.PeakRSS = PeakRSS{Scope: "no server runs: the scenario calls the SQL functions directly"}
	rep.Extra = map[string]any{
		"jobs":               p.jobs,
		"lifecycle_s":        round(elapsed.Seconds(), 3),
		"sql_calls":          calls,
		"job_events_per_job": round(float64(events)/float64(p.jobs), 2),
	}
	rep.Rows = []Row{
		{"jobs", formatNumber(float64(p.jobs))},
		{"lifecycle time", fmt.Sprintf("%.3f s (first claim → last complete)", elapsed.Seconds())},
		{"SQL calls", fmt.Sprintf("%d (%s per batch)", calls, strings.ReplaceAll(path, " →", ","))},
		{"job_events rows per job", formatNumber(float64(events) / float64(p.jobs))},
	}
	rep.Targets = []Target{atLeast("sql lifecycle jobs/s", jps, sqlTarget, "jobs/s")}
	rep.Duration = time.Since(started)
	return rep, nil
}

// Lifecycle runs the SQL lifecycle of the jobs of queueName: one loop per worker claims batch
// jobs (jq.claim) and completes them in one jq.complete_many, until none is left; with start,
// it marks them RUNNING (jq.start) in between. Without start it is the server's path for jobs
// that finish within scheduler.start_delay: jq.complete_many moves them from ASSIGNED to DONE
// and writes their STARTED event itself, so the event trail is the same either way. It returns
// the jobs completed and the SQL calls made. The sql scenario and queue's BenchmarkSQLLifecycle
// both measure it.
func Lifecycle(ctx context.Context, store *queue.Store, queueName string, workers []uuid.UUID, batch int, start bool) (completed, calls int64, err error) {
	var done, n atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(workers))
	for _, w := range workers {
		wg.Go(func() {
			for {
				jobs, err := store.Claim(ctx, []string{queueName}, batch, w)
				if err != nil || len(jobs) == 0 {
					errs <- err
					return
				}
				ids := make([]uuid.UUID, len(jobs))
				reports := make([]queue.Report, len(jobs))
				for i, j := range jobs {
					ids[i] = j.ID
					reports[i] = queue.Report{JobID: j.ID, WorkerID: w, Attempt: j.Attempt}
				}
				if start {
					if _, err := store.Start(ctx, ids, w); err != nil {
						errs <- err
						return
					}
					n.Add(1)
				}
				finished, err := store.CompleteMany(ctx, reports, make([][]byte, len(jobs)))
				if err != nil {
					errs <- err
					return
				}
				done.Add(int64(len(finished)))
				n.Add(2)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil {
			return done.Load(), n.Load(), e
		}
	}
	return done.Load(), n.Load(), nil
}
