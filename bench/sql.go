package bench

import (
	"context"
	"fmt"
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
}

// sqlScenario measures the SQL API alone, the ceiling of the whole server: jobs are inserted
// with submit_many, then claimers loops each claim a batch (jq.claim), start it (jq.start) and
// complete it in one jq.complete_many, until none is left. Every transition writes its
// job_events row, as in production. jobs/s runs from the first claim to the last complete.
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

	r.progress("claim → start → complete_many with %d claimers, batches of %d", p.claimers, p.batch)
	begin := time.Now()
	done, calls, err := Lifecycle(ctx, store, r.queue, workers, p.batch)
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

	rep := r.report(ctx, started, map[string]any{"jobs": p.jobs, "claimers": p.claimers, "batch": p.batch})
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
		{"SQL calls", fmt.Sprintf("%d (claim, start, complete_many per batch)", calls)},
		{"job_events rows per job", formatNumber(float64(events) / float64(p.jobs))},
	}
	rep.Targets = []Target{atLeast("sql lifecycle jobs/s", jps, sqlTarget, "jobs/s")}
	rep.Duration = time.Since(started)
	return rep, nil
}

// Lifecycle runs the SQL lifecycle of the jobs of queueName: one loop per worker claims batch
// jobs (jq.claim), starts them (jq.start) and completes them in one jq.complete_many, until
// none is left. It returns the jobs completed and the SQL calls made. The sql scenario and
// queue's BenchmarkSQLLifecycle both measure it.
func Lifecycle(ctx context.Context, store *queue.Store, queueName string, workers []uuid.UUID, batch int) (completed, calls int64, err error) {
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
				if _, err := store.Start(ctx, ids, w); err != nil {
					errs <- err
					return
				}
				finished, err := store.CompleteMany(ctx, reports, make([][]byte, len(jobs)))
				if err != nil {
					errs <- err
					return
				}
				done.Add(int64(len(finished)))
				n.Add(3)
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
