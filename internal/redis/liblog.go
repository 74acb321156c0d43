package redis

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// SetLibraryLogger sends the log lines go-redis writes on its own (a failed dial, a bad pooled
// connection) to logger at DEBUG, instead of the standard library's log on stderr. The Client
// already logs outages at WARN, rate limited. go-redis keeps one logger for the whole process:
// call this once at start-up, before any Client is made.
func SetLibraryLogger(logger *slog.Logger) {
	goredis.SetLogger(libraryLogger{logger: logger})
}

// libraryLogger adapts slog to the logger interface of go-redis.
type libraryLogger struct{ logger *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.LogAttrs(ctx, slog.LevelDebug, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}
