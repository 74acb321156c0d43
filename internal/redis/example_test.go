package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jqhq/jq/internal/redis"
)

// A scheduler takes the assignment lock of a job for the assignment timeout, and carries on
// without it when Redis is unavailable: the database's FOR UPDATE SKIP LOCKED decides anyway.
func ExampleClient_Acquire() {
	ctx := context.Background()
	client := redis.New(redis.Options{Addr: "127.0.0.1:6379", KeyPrefix: "jq:"}, slog.Default(), nil)
	defer client.Close()

	lock, err := client.Acquire(ctx, "lock:job:42", 30*time.Second)
	switch {
	case errors.Is(err, redis.ErrNotAcquired):
		return // another server instance is assigning job 42
	case err == nil:
		defer lock.Release(ctx)
	}
	// Assign job 42 in PostgreSQL.
}

// A server instance renews its lease every ttl/3 and leads only while it holds it.
func ExampleLease() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := redis.New(redis.Options{Addr: "127.0.0.1:6379", KeyPrefix: "jq:"}, slog.Default(), nil)
	defer client.Close()

	const ttl = 15 * time.Second
	lease := client.NewLease("leader", "server-7f3a", ttl)
	defer lease.Release(context.Background())

	var leading atomic.Bool // the maintenance loops run only while it is true
	ticker := time.NewTicker(ttl / 3)
	defer ticker.Stop()
	for {
		// Lead only while held: on false or an error, stop at once. When err wraps
		// ErrUnavailable, the PostgreSQL advisory lock decides instead.
		held, err := lease.Acquire(ctx)
		leading.Store(err == nil && held)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
