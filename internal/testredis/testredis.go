// Package testredis gives each test a real Redis client and a key prefix of its own, so tests
// running at once never see each other's keys. The server is found at JQ_REDIS_ADDR (what
// `make test` sets from deploy/local-services.sh), else at 127.0.0.1:6379.
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultAddr is used when JQ_REDIS_ADDR is not set.
const DefaultAddr = "127.0.0.1:6379"

// Addr is the address of the Redis server tests use.
func Addr() string {
	if a := os.Getenv("JQ_REDIS_ADDR"); a != "" {
		return a
	}
	return DefaultAddr
}

// Client returns a client of the test Redis and a key prefix private to tb ("jqtest:<random>:").
// Every key under the prefix is deleted, and the client closed, when tb ends.
func Client(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: Addr(), DialTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		tb.Fatalf("testredis: no Redis at %s: %v (`make test` starts one: deploy/local-services.sh)", Addr(), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "jqtest:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
		_ = client.Close()
	})
	return client, prefix
}
