package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/redis"
)

func TestLease_Acquire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OneHolder", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.client.NewLease("leader", "a", 10*time.Second)
		other := b.client.NewLease("leader", "b", 10*time.Second)

		held, err := a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held, "a held: got false, want true")

		held, err = other.Acquire(ctx)
		require.NoError(t, err)
		require.False(t, held, "b held: got true, want false")

		requireRawValue(t, b.raw, b.prefix+"leader", "a")
		requirePTTL(t, b.raw, b.prefix+"leader", 9*time.Second, 10*time.Second)
	})

	t.Run("HolderExtends", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.client.NewLease("leader", "a", 10*time.Second)
		held, err := a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held)
		require.NoError(t, b.raw.PExpire(ctx, b.prefix+"leader", time.Second).Err())

		held, err = a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held, "renewal: got false, want true")
		requirePTTL(t, b.raw, b.prefix+"leader", 9*time.Second, 10*time.Second)
	})

	t.Run("OtherTakesOverAfterTTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.client.NewLease("leader", "a", 100*time.Millisecond)
		other := b.client.NewLease("leader", "b", 100*time.Millisecond)
		held, err := a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held)
		held, err = other.Acquire(ctx)
		require.NoError(t, err)
		require.False(t, held)

		// a stops renewing.
		require.Eventually(t, func() bool {
			held, err := other.Acquire(ctx)
			return err == nil && held
		}, 2*time.Second, 20*time.Millisecond, "b never took the lease over")

		held, err = a.Acquire(ctx)
		require.NoError(t, err)
		require.False(t, held, "a after takeover: got true, want false")
		requireRawValue(t, b.raw, b.prefix+"leader", "b")
	})

	t.Run("RejectsEmptyOwner", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		held, err := b.client.NewLease("leader", "", time.Second).Acquire(ctx)
		require.ErrorIs(t, err, redis.ErrInvalidArgument)
		require.False(t, held)
		requireRawMissing(t, b.raw, b.prefix+"leader")
	})

	t.Run("RejectsSubMillisecondTTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		_, err := b.client.NewLease("leader", "a", 0).Acquire(ctx)
		require.ErrorIs(t, err, redis.ErrInvalidArgument)
	})
}

func TestLease_Release(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OtherTakesAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.client.NewLease("leader", "a", time.Minute)
		other := b.client.NewLease("leader", "b", time.Minute)
		held, err := a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held)

		require.NoError(t, a.Release(ctx))

		held, err = other.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held, "b after release: got false, want true")
		requireRawValue(t, b.raw, b.prefix+"leader", "b")
	})

	t.Run("ByNonHolderLeavesIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.client.NewLease("leader", "a", time.Minute)
		other := b.client.NewLease("leader", "b", time.Minute)
		held, err := a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, held)

		require.NoError(t, other.Release(ctx))
		requireRawValue(t, b.raw, b.prefix+"leader", "a")
	})

	t.Run("WhenFree", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		require.NoError(t, b.client.NewLease("leader", "a", time.Minute).Release(ctx))
	})
}
