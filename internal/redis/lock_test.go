package redis_test

import (
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/redis"
)

// waitExpired waits until the raw key has expired.
func waitExpired(t *testing.T, b *testBundle, key string) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err := b.raw.Exists(context.Background(), b.prefix+key).Result()
		return err == nil && n == 0
	}, 2*time.Second, 10*time.Millisecond, "key %s never expired", key)
}

func TestClient_Acquire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("TakesFreeKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		lock, err := b.client.Acquire(ctx, "lock:job:1", 10*time.Second)
		require.NoError(t, err)
		require.Equal(t, "lock:job:1", lock.Key())

		token, err := b.raw.Get(ctx, b.prefix+"lock:job:1").Result()
		require.NoError(t, err)
		raw, err := hex.DecodeString(token)
		require.NoError(t, err, "token %q is not hex", token)
		require.Len(t, raw, 16, "token bytes: got %d, want 16", len(raw))
		requirePTTL(t, b.raw, b.prefix+"lock:job:1", 9*time.Second, 10*time.Second)
	})

	t.Run("HeldKeyNotAcquired", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)

		lock, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.ErrorIs(t, err, redis.ErrNotAcquired)
		require.NotErrorIs(t, err, redis.ErrUnavailable)
		require.Nil(t, lock)
	})

	t.Run("OneOfManyConcurrentWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const contenders = 20
		var won, lost atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, contenders)
		for range contenders {
			wg.Go(func() {
				_, err := b.client.Acquire(ctx, "lock", 10*time.Second)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, redis.ErrNotAcquired):
					lost.Add(1)
				default:
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, int32(1), won.Load(), "winners: got %d, want 1", won.Load())
		require.Equal(t, int32(contenders-1), lost.Load())
	})

	t.Run("RejectsSubMillisecondTTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		_, err := b.client.Acquire(ctx, "lock", 0)
		require.ErrorIs(t, err, redis.ErrInvalidArgument)
	})
}

func TestLock_Release(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FreesKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)

		require.NoError(t, lock.Release(ctx))
		requireRawMissing(t, b.raw, b.prefix+"lock")

		again, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err, "acquire after release")
		require.NoError(t, again.Release(ctx))
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)
		require.NoError(t, lock.Release(ctx))
		other, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)

		require.NoError(t, lock.Release(ctx), "second release")
		requireRawValue(t, b.raw, b.prefix+"lock", tokenOf(t, b, "lock"))
		require.NoError(t, other.Release(ctx))
	})

	t.Run("AfterExpiry", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 50*time.Millisecond)
		require.NoError(t, err)
		waitExpired(t, b, "lock")

		require.NoError(t, lock.Release(ctx))
	})

	t.Run("AfterExpiryAndTakeover", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 50*time.Millisecond)
		require.NoError(t, err)
		waitExpired(t, b, "lock")
		other, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)
		otherToken := tokenOf(t, b, "lock")

		require.ErrorIs(t, lock.Release(ctx), redis.ErrNotOwner)
		requireRawValue(t, b.raw, b.prefix+"lock", otherToken)
		require.NoError(t, lock.Release(ctx), "release after ErrNotOwner")
		requireRawValue(t, b.raw, b.prefix+"lock", otherToken)

		require.NoError(t, other.Release(ctx))
		requireRawMissing(t, b.raw, b.prefix+"lock")
	})
}

func TestLock_Refresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Extends", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", time.Second)
		require.NoError(t, err)

		require.NoError(t, lock.Refresh(ctx, 10*time.Second))
		requirePTTL(t, b.raw, b.prefix+"lock", 9*time.Second, 10*time.Second)
	})

	t.Run("LostAfterExpiry", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 50*time.Millisecond)
		require.NoError(t, err)
		waitExpired(t, b, "lock")

		require.ErrorIs(t, lock.Refresh(ctx, 10*time.Second), redis.ErrNotOwner)
		requireRawMissing(t, b.raw, b.prefix+"lock")
	})

	t.Run("LostToAnotherOwner", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 50*time.Millisecond)
		require.NoError(t, err)
		waitExpired(t, b, "lock")
		_, err = b.client.Acquire(ctx, "lock", 5*time.Second)
		require.NoError(t, err)

		require.ErrorIs(t, lock.Refresh(ctx, time.Minute), redis.ErrNotOwner)
		requirePTTL(t, b.raw, b.prefix+"lock", 4*time.Second, 5*time.Second)
	})

	t.Run("AfterRelease", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)
		require.NoError(t, lock.Release(ctx))

		require.ErrorIs(t, lock.Refresh(ctx, 10*time.Second), redis.ErrNotOwner)
		requireRawMissing(t, b.raw, b.prefix+"lock")
	})

	t.Run("RejectsSubMillisecondTTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lock, err := b.client.Acquire(ctx, "lock", 10*time.Second)
		require.NoError(t, err)

		require.ErrorIs(t, lock.Refresh(ctx, 0), redis.ErrInvalidArgument)
		requirePTTL(t, b.raw, b.prefix+"lock", 9*time.Second, 10*time.Second)
	})
}

// tokenOf returns the token the raw key holds.
func tokenOf(t *testing.T, b *testBundle, key string) string {
	t.Helper()
	token, err := b.raw.Get(context.Background(), b.prefix+key).Result()
	require.NoError(t, err)
	return token
}
