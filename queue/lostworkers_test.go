package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river/rivershared/testsignal"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/queue"
)

// releaseRecorder records the workers LostWorkers asks to release.
type releaseRecorder struct {
	mu       sync.Mutex
	released []uuid.UUID
}

func (r *releaseRecorder) ReleaseSilentWorker(_ context.Context, id uuid.UUID, _ time.Time, _ queue.RetryPolicy) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released = append(r.released, id)
	return 1, nil
}

func (r *releaseRecorder) snapshot() []uuid.UUID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uuid.UUID(nil), r.released...)
}

// TestLostWorkers_ReconnectedHereKeepsItsJobs: when the grace ends, a worker whose new stream
// is open on this server is left alone, even if the database saw it register before the old
// stream's break was noticed; one that did not come back is released.
func TestLostWorkers_ReconnectedHereKeepsItsJobs(t *testing.T) {
	t.Parallel()
	back, gone := uuid.New(), uuid.New()
	r := &releaseRecorder{}
	var checked testsignal.TestSignal[uuid.UUID] // a grace ended: the worker's check began
	checked.Init(t)
	l := queue.NewLostWorkers(context.Background(), r, 20*time.Millisecond, queue.LostWorkerRetry, logging.Discard(),
		func(id uuid.UUID) bool {
			checked.Signal(id)
			return id == back
		})
	t.Cleanup(l.Stop)
	l.StreamBroke(back)
	l.StreamBroke(gone)
	require.ElementsMatch(t, []uuid.UUID{back, gone}, []uuid.UUID{checked.WaitOrTimeout(), checked.WaitOrTimeout()})
	l.Stop() // waits for the checks under way
	require.Equal(t, []uuid.UUID{gone}, r.snapshot())
}
