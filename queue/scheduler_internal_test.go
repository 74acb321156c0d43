package queue

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestClaimGroups(t *testing.T) {
	t.Parallel()
	c := func(free int, queues ...string) Candidate {
		return Candidate{WorkerID: uuid.New(), Queues: queues, Free: free}
	}
	a1, b1, a2, a3, big, a4 := c(4, "a"), c(4, "b"), c(4, "a"), c(2, "a"), c(50, "a"), c(1, "a")
	groups := claimGroups([]Candidate{a1, b1, a2, a3, big, a4}, 10)
	require.Equal(t, [][]Candidate{
		{a1, a2, a3}, // 4 + 4 + 2 = 10 slots: full
		{b1},         // another queue set
		{big},        // alone: up to the batch size
		{a4},         // did not fit in big's group
	}, groups)

	x, y := c(1, "x", "y"), c(1, "y", "x")
	require.Equal(t, [][]Candidate{{x, y}}, claimGroups([]Candidate{x, y}, 10), "the same set in another order")
	require.Empty(t, claimGroups(nil, 10))
}

// TestStarter_TakesOnlyDeliveriesOldEnough: a background flush takes the deliveries made at or
// before its cutoff, in order, and leaves the younger ones for a later flush.
func TestStarter_TakesOnlyDeliveriesOldEnough(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	job := func() *Job { return &Job{ID: uuid.New()} }
	a, b, c, d := job(), job(), job(), job()
	st := &starter{pending: []delivery{
		{at: t0, jobs: []*Job{a, b}},
		{at: t0.Add(time.Second), jobs: []*Job{c}},
		{at: t0.Add(2 * time.Second), jobs: []*Job{d}},
	}}
	require.Empty(t, st.take(t0.Add(-time.Millisecond)))
	require.Equal(t, []*Job{a, b, c}, st.take(t0.Add(time.Second)))
	require.Len(t, st.pending, 1)
	require.Equal(t, []*Job{d}, st.take(t0.Add(time.Hour)))
	require.Empty(t, st.pending)
}
