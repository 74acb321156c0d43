package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

var (
	// ErrUnavailable is wrapped by every error that means Redis could not serve the call: it could
	// not be reached, timed out, or refused service (loading, out of memory, read only, bad
	// credentials). The underlying error stays in the chain. Callers carry on without Redis.
	ErrUnavailable = errors.New("redis unavailable")

	// ErrInvalidArgument is wrapped by the errors of calls given an argument Redis cannot honour,
	// such as a TTL under a millisecond. No command is sent.
	ErrInvalidArgument = errors.New("invalid argument")
)

// isUnavailable tells whether err means Redis could not serve the call, as opposed to a reply
// error caused by the call itself (a wrong type, a script error) or the caller giving up.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var reply goredis.Error
	if !errors.As(err, &reply) {
		// Dial and I/O errors, timeouts, a full pool, a closed client, a garbled reply.
		return true
	}
	return goredis.IsLoadingError(err) ||
		goredis.IsReadOnlyError(err) ||
		goredis.IsMasterDownError(err) ||
		goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) ||
		goredis.IsMaxClientsError(err) ||
		goredis.IsOOMError(err) ||
		goredis.IsAuthError(err) ||
		goredis.IsPermissionError(err)
}

// checkTTL rejects a TTL Redis would not keep: PX takes whole milliseconds, at least one.
func checkTTL(op operation, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("redis %s: ttl: got %s, want at least 1ms: %w", op, ttl, ErrInvalidArgument)
	}
	return nil
}
