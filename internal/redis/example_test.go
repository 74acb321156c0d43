package redis_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jqhq/jq/internal/redis"
)

// A scheduler takes the assignment locks of a batch of jobs for the assignment timeout, assigns
// the jobs it locked, and frees the locks. When Redis is unavailable it assigns them all: the
// database's FOR UPDATE SKIP LOCKED decides anyway.
func ExampleClient_SetNxPxMany() {
	ctx := context.Background()
	client := redis.New(redis.Options{Addr: "127.0.0.1:6379", KeyPrefix: "jq:"}, slog.Default(), nil)
	defer client.Close()

	const instance = "server-7f3a" // unique to this scheduler, so it frees only its own locks
	keys := []string{"lock:job:41", "lock:job:42"}
	locked, err := client.SetNxPxMany(ctx, keys, instance, 30*time.Second)
	for i := range keys {
		if err == nil && !locked[i] {
			continue // another server instance is assigning this job
		}
		// Assign the job in PostgreSQL.
	}
	_, _ = client.DelIfValueMany(ctx, keys, instance)
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
