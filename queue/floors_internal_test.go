package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFloors_RaiseAndLower: what a claim's result does to the floors, and what a release
// does, without a database.
func TestFloors_RaiseAndLower(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	job := func(prio, created int) *Job {
		return &Job{Queue: "q", Priority: prio, CreatedAt: at(created), AssignedAt: at(100)}
	}
	f := &floors{margin: time.Second}
	f.pressure.Store(true)

	// Took all it asked for, the last of priority 3: priorities above it are exhausted (up to
	// the claim's time less the margin), priority 3 up to the last job, below it nothing.
	_, v, ok := f.get([]string{"q"})
	require.True(t, ok)
	f.raise([]string{"q"}, v, 2, []*Job{job(5, 10), job(3, 20)})
	got, v, _ := f.get([]string{"q"})
	want := ClaimFloors{}
	for p := 4; p <= MaxPriority; p++ {
		want[p] = at(99)
	}
	want[3] = at(20)
	require.Equal(t, want, got)

	// Took fewer than it asked for: every priority ran out.
	f.raise([]string{"q"}, v, 10, []*Job{job(0, 50)})
	got, v, _ = f.get([]string{"q"})
	for p := range want {
		want[p] = at(99)
	}
	require.Equal(t, want, got)

	// A job put back lowers its priority's floor; a claim that read the floors before that
	// does not raise them again.
	f.lower([]*Job{job(2, 7)})
	f.raise([]string{"q"}, v, 10, []*Job{job(0, 60)})
	got, v2, _ := f.get([]string{"q"})
	want[2] = at(7)
	require.Equal(t, want, got)
	require.NotEqual(t, v, v2)

	// No floor (from the head) stays so when a job is put back.
	f.lower([]*Job{{Queue: "other", Priority: 1, CreatedAt: at(1)}})
	got, _, _ = f.get([]string{"other"})
	require.Equal(t, ClaimFloors{}, got)

	// A set of queues has floors of its own, whatever the order of its names; a job put back
	// in one of its queues lowers them, and those of every other set holding that queue.
	pair := []string{"q", "other"}
	set, v, ok := f.get(pair)
	require.True(t, ok)
	require.Equal(t, ClaimFloors{}, set, "a set not claimed yet starts from the head")
	f.raise(pair, v, 1, []*Job{job(4, 30)})
	set, _, _ = f.get([]string{"other", "q"})
	require.Equal(t, at(30), set[4])
	require.Equal(t, at(99), set[9])
	f.lower([]*Job{{Queue: "other", Priority: 4, CreatedAt: at(25)}})
	set, _, _ = f.get(pair)
	require.Equal(t, at(25), set[4], "lowered by a job of one of its queues")
	got, _, _ = f.get([]string{"q"})
	require.Equal(t, want, got, "the floors of q alone are not the set's")
	f.lower([]*Job{{Queue: "q", Priority: 9, CreatedAt: at(3)}})
	set, _, _ = f.get(pair)
	require.Equal(t, at(3), set[9])
	got, _, _ = f.get([]string{"q"})
	require.Equal(t, at(3), got[9], "and those of every set holding q")

	// Only under pressure.
	f.pressure.Store(false)
	_, _, ok = f.get([]string{"q"})
	require.False(t, ok)
	_, _, ok = f.get(pair)
	require.False(t, ok)
}
