package queue

import (
	"testing"

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
