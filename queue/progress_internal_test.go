package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
)

// progressSpy records the progress writes.
type progressSpy struct {
	mu     sync.Mutex
	writes []string
	stale  bool
}

func (s *progressSpy) ReportProgress(_ context.Context, r Report, percent float64, message string) (*Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale {
		return nil, &Error{Kind: ErrStaleAttempt, Message: "stale"}
	}
	s.writes = append(s.writes, message)
	return &Job{ID: r.JobID}, nil
}

func (s *progressSpy) written() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// TestProgressCoalescer_OneWritePerSecondLatestWins: a job reporting 100 times within a second
// costs one write at once and one when the second is over, of the latest report; other jobs
// are not held back by it.
func TestProgressCoalescer_OneWritePerSecondLatestWins(t *testing.T) {
	t.Parallel()
	spy := &progressSpy{}
	reports := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reports"}, []string{"outcome"})
	p := NewProgressCoalescer(spy, time.Second, logging.Discard(), reports)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return clock }
	ctx := context.Background()
	job, other := Report{JobID: uuid.New(), Attempt: 1}, Report{JobID: uuid.New(), Attempt: 1}

	for i := range 100 {
		coalesced, err := p.Report(ctx, job, float64(i), "step "+string(rune('A'+i%26)))
		require.NoError(t, err, "an excess report is not an error")
		require.Equal(t, i > 0, coalesced, "report %d", i)
		clock = clock.Add(5 * time.Millisecond)
	}
	coalesced, err := p.Report(ctx, other, 1, "other job")
	require.NoError(t, err)
	require.False(t, coalesced, "each job has its own second")
	require.Equal(t, []string{"step A", "other job"}, spy.written())

	p.Flush(ctx)
	require.Len(t, spy.written(), 2, "the second is not over")
	clock = clock.Add(600 * time.Millisecond)
	p.Flush(ctx)
	require.Equal(t, []string{"step A", "other job", "step V"}, spy.written(), "then the latest is written, once")
	p.Flush(ctx)
	require.Len(t, spy.written(), 3)
	require.InDelta(t, 3, testutil.ToFloat64(reports.WithLabelValues(ProgressWritten)), 0)
	require.InDelta(t, 99, testutil.ToFloat64(reports.WithLabelValues(ProgressCoalesced)), 0)

	clock = clock.Add(3 * time.Second)
	p.Flush(ctx)
	p.mu.Lock()
	require.Empty(t, p.jobs, "quiet jobs are forgotten")
	p.mu.Unlock()

	spy.stale = true
	_, err = p.Report(ctx, job, 50, "")
	require.ErrorIs(t, err, ErrStaleAttempt, "a report written at once says when its attempt is over")
}
