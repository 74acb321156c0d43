package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/queue"
)

// TestAnnouncer_NotifiesEachQueueOnce: announcements made while a flush runs are coalesced
// into one NOTIFY per queue, and a listener hears each queue.
func TestAnnouncer_NotifiesEachQueueOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.listen(t)

	// The first flush is held until the test has announced more, so that they batch.
	release := make(chan struct{})
	var mu sync.Mutex
	var flushes [][]string
	a := queue.NewAnnouncer(func(ctx context.Context, queues []string) error {
		mu.Lock()
		first := len(flushes) == 0
		flushes = append(flushes, queues)
		mu.Unlock()
		if first {
			<-release
		}
		return b.store.Notify(ctx, queues)
	}, logging.Discard())
	require.NoError(t, a.Start(b.ctx))
	t.Cleanup(a.Stop)

	a.Announce("default")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(flushes) == 1 }, 5*time.Second, time.Millisecond)
	for range 100 {
		a.Announce("b")
		a.Announce("a")
	}
	close(release)

	heard := map[string]int{}
	for range 3 {
		payload, ok := waitNotification(t, conn, 5*time.Second)
		require.True(t, ok, "heard so far: %v", heard)
		heard[payload]++
	}
	_, ok := waitNotification(t, conn, 200*time.Millisecond)
	require.False(t, ok, "one NOTIFY per queue per flush")
	require.Equal(t, map[string]int{"default": 1, "a": 1, "b": 1}, heard)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, [][]string{{"default"}, {"a", "b"}}, flushes, "200 announcements during the first flush make one flush")
}

// recordingNotify is a notify function that records the queues it was given, failing the
// first failFirst calls.
type recordingNotify struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	sent      []string
}

func (r *recordingNotify) notify(_ context.Context, queues []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failFirst {
		return errors.New("connection refused")
	}
	r.sent = append(r.sent, queues...)
	return nil
}

func (r *recordingNotify) snapshot() (calls int, sent []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, append([]string(nil), r.sent...)
}

// TestAnnouncer_SurvivesErrors: a failed NOTIFY is logged (the poll finds the jobs) and the
// loop goes on.
func TestAnnouncer_SurvivesErrors(t *testing.T) {
	t.Parallel()
	r := &recordingNotify{failFirst: 1}
	a := queue.NewAnnouncer(r.notify, logging.Discard())
	require.NoError(t, a.Start(context.Background()))
	defer a.Stop()
	a.Announce("lost")
	require.Eventually(t, func() bool { calls, _ := r.snapshot(); return calls == 1 }, 5*time.Second, time.Millisecond)
	a.Announce("next")
	require.Eventually(t, func() bool { _, sent := r.snapshot(); return len(sent) == 1 }, 5*time.Second, time.Millisecond)
	_, sent := r.snapshot()
	require.Equal(t, []string{"next"}, sent)
}

// TestAnnouncer_StopFlushes: what is pending when the loop stops is still sent.
func TestAnnouncer_StopFlushes(t *testing.T) {
	t.Parallel()
	r := &recordingNotify{}
	a := queue.NewAnnouncer(r.notify, logging.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, a.Start(ctx))
	a.Announce("x")
	cancel()
	a.Stop()
	_, sent := r.snapshot()
	require.Equal(t, []string{"x"}, sent, "flushed by Stop at the latest")
}
