package redis

import (
	"context"
	"log/slog"
	"time"
)

// SetWarnEvery sets how often, at most, c logs that Redis is unavailable.
func SetWarnEvery(c *Client, d time.Duration) {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	c.health.warnEvery = d
}

// LibraryLogger returns what SetLibraryLogger hands go-redis, without changing the process-wide
// logger of go-redis.
func LibraryLogger(logger *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return libraryLogger{logger: logger}
}
