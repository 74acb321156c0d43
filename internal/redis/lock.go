package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Lock is a lock on one key, held under a random owner token until it is released or its TTL
// passes. Take it with Client.Acquire and give it back in a defer:
//
//	lock, err := client.Acquire(ctx, "lock:job:"+jobID, assignmentTimeout)
//	if err == nil {
//		defer lock.Release(ctx)
//	}
//
// A lock that outlives its TTL is lost without notice: do the work within the TTL, or Refresh it.
// Its methods are safe for concurrent use.
type Lock struct {
	client *Client
	key    string
	token  string

	mu       sync.Mutex
	released bool
}

// Acquire takes the lock on key for ttl (SET NX PX with a random token). It returns an error
// wrapping ErrNotAcquired when another owner holds it, and one wrapping ErrUnavailable when Redis
// cannot say. ttl must be at least a millisecond.
func (c *Client) Acquire(ctx context.Context, key string, ttl time.Duration) (*Lock, error) {
	token := newToken()
	set, err := c.setNX(ctx, opLockAcquire, key, token, ttl)
	if err != nil {
		return nil, err
	}
	if !set {
		return nil, fmt.Errorf("redis lock %q: %w", key, ErrNotAcquired)
	}
	return &Lock{client: c, key: key, token: token}, nil
}

// Key returns the key of the lock, without the client's prefix.
func (l *Lock) Key() string { return l.key }

// Release deletes the key if it still holds this lock's token. It returns nil when the lock was
// released or had already expired, and an error wrapping ErrNotOwner when it expired and another
// owner took it, whose key it leaves alone. Once it has returned nil or ErrNotOwner, further calls
// return nil without asking Redis. After an error wrapping ErrUnavailable it may be called again;
// otherwise the key expires with its TTL.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	var result int64
	err := l.client.do(ctx, opLockRelease, func(ctx context.Context) error {
		var err error
		result, err = compareAndDelete.Run(ctx, l.client.rdb, []string{l.client.key(l.key)}, l.token).Int64()
		return err
	})
	if err != nil {
		return err
	}
	l.released = true
	if result < 0 {
		return fmt.Errorf("redis lock %q: %w", l.key, ErrNotOwner)
	}
	return nil
}

// Refresh sets the TTL of the lock to ttl from now if it still holds this lock's token. It returns
// an error wrapping ErrNotOwner when the lock was released, expired, or taken by another owner:
// the caller no longer holds it and must stop the work it guards.
func (l *Lock) Refresh(ctx context.Context, ttl time.Duration) error {
	if err := checkTTL(opLockRefresh, ttl); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("redis lock %q: released: %w", l.key, ErrNotOwner)
	}
	var result int64
	err := l.client.do(ctx, opLockRefresh, func(ctx context.Context) error {
		var err error
		result, err = compareAndExpire.Run(ctx, l.client.rdb, []string{l.client.key(l.key)}, l.token, ttl.Milliseconds()).Int64()
		return err
	})
	if err != nil {
		return err
	}
	if result != 1 {
		return fmt.Errorf("redis lock %q: %w", l.key, ErrNotOwner)
	}
	return nil
}

// newToken returns a random owner token: 128 bits, hex encoded.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program rather than return an error
	return hex.EncodeToString(b[:])
}
