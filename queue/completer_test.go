package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivershared/testsignal"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// heldCompleter holds the first CompleteMany until released, so that the reports behind it
// queue up and form one batch; it records the batch sizes.
type heldCompleter struct {
	*queue.Store
	release chan struct{}
	held    testsignal.TestSignal[int] // the first CompleteMany is held, with this many reports
	once    sync.Once
	mu      sync.Mutex
	batches []int
}

func (h *heldCompleter) CompleteMany(ctx context.Context, rs []queue.Report, results [][]byte) ([]*queue.Job, error) {
	h.once.Do(func() {
		h.held.Signal(len(rs))
		<-h.release
	})
	h.mu.Lock()
	h.batches = append(h.batches, len(rs))
	h.mu.Unlock()
	return h.Store.CompleteMany(ctx, rs, results)
}

// TestCompleter_BatchesAndAnswersEach: reports queued during a flush form one batch; a stale
// one in it gets its own refusal and the others complete.
func TestCompleter_BatchesAndAnswersEach(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var jobs []*queue.Job
	for range 4 {
		jobs = append(jobs, b.running(t, queue.SubmitParams{}))
	}
	h := &heldCompleter{Store: b.store, release: make(chan struct{})}
	h.held.Init(t)
	c := queue.NewCompleter(h, 100)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(c.Stop)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(h.release) }) }
	t.Cleanup(release) // before Stop, which waits for the held flush, should the test fail first

	type answer struct {
		job *queue.Job
		err error
	}
	complete := func(r queue.Report) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			j, err := c.Complete(b.ctx, r, []byte("ok"))
			out <- answer{j, err}
		}()
		return out
	}
	first := complete(report(jobs[0])) // held: the others queue behind it
	require.Equal(t, 1, h.held.WaitOrTimeout())
	stale := report(jobs[3])
	stale.Attempt++
	rest := []<-chan answer{complete(report(jobs[1])), complete(report(jobs[2])), complete(stale)}
	// The loop holds one of the three while it waits for the busy flush; the others queue.
	require.Eventually(t, func() bool { return c.Queued() == 2 }, 5*time.Second, time.Millisecond, "the three reports wait")
	release()

	require.NoError(t, (<-first).err)
	for _, a := range rest[:2] {
		got := <-a
		require.NoError(t, got.err)
		require.Equal(t, queue.StatusDone, got.job.Status)
	}
	require.ErrorIs(t, (<-rest[2]).err, queue.ErrStaleAttempt)
	require.Equal(t, queue.StatusRunning, b.job(t, jobs[3].ID).Status, "a refused report changes nothing")
	require.Equal(t, "ok", string(b.job(t, jobs[1].ID).Result))
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, []int{1, 3}, h.batches)
}

// TestCompleter_CompleteAllAnswersEachInItsPlace: the reports of one CompleteAll go through
// CompleteMany and each answer lands at its report's index, a stale one's refusal too.
func TestCompleter_CompleteAllAnswersEachInItsPlace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var reports []queue.Report
	var results [][]byte
	for i := range 5 {
		r := report(b.running(t, queue.SubmitParams{}))
		if i == 2 {
			r.Attempt++
		}
		reports = append(reports, r)
		results = append(results, []byte{byte('a' + i)})
	}
	h := &heldCompleter{Store: b.store, release: make(chan struct{})}
	h.held.Init(t)
	close(h.release)
	c := queue.NewCompleter(h, 100)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(c.Stop)

	jobs, errs := c.CompleteAll(b.ctx, reports, results)
	require.Len(t, jobs, 5)
	require.Len(t, errs, 5)
	for i, r := range reports {
		if i == 2 {
			require.ErrorIs(t, errs[i], queue.ErrStaleAttempt)
			require.Nil(t, jobs[i])
			continue
		}
		require.NoError(t, errs[i])
		require.Equal(t, r.JobID, jobs[i].ID)
		require.Equal(t, queue.StatusDone, jobs[i].Status)
		require.Equal(t, []byte{byte('a' + i)}, b.job(t, r.JobID).Result)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	total := 0
	for _, n := range h.batches {
		total += n
	}
	require.Equal(t, 5, total, "every report went through CompleteMany")
}
