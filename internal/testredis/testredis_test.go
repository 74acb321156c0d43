package testredis_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testredis"
)

func TestClient_PrefixesArePrivateAndCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var leftover string
	t.Run("Inner", func(t *testing.T) {
		a, prefixA := testredis.Client(t)
		_, prefixB := testredis.Client(t)
		require.NotEqual(t, prefixA, prefixB)
		require.NoError(t, a.Set(ctx, prefixA+"k", "v", 0).Err())
		n, err := a.Exists(ctx, prefixB+"k").Result()
		require.NoError(t, err)
		require.Zero(t, n)
		leftover = prefixA + "k"
	})
	c, _ := testredis.Client(t)
	n, err := c.Exists(ctx, leftover).Result()
	require.NoError(t, err)
	require.Zero(t, n, "keys under a finished test's prefix are deleted")
}
