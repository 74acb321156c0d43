package redis

import (
	"context"
	"fmt"
	"time"
)

// Lease elects one leader among the owners sharing a key: the owner whose name the key holds.
// Each candidate calls Acquire every ttl/3. An owner that got true from Acquire is the leader until
// ttl after it called that Acquire (count from the call, not its return: Redis may have set the
// TTL any time in between). A leader must stop acting as leader as soon as Acquire returns false
// or an error, or when ttl has passed since the last Acquire that returned true, whichever comes
// first; otherwise two leaders may overlap. When Redis is unavailable, leadership falls back to the
// PostgreSQL advisory lock.
//
// A Lease is safe for concurrent use; it holds no state but its arguments.
type Lease struct {
	client *Client
	key    string
	owner  string
	ttl    time.Duration
}

// NewLease returns the lease on key for owner, taken or extended for ttl by each Acquire. owner
// must be unique to the candidate (a server instance id, say): two candidates with one name would
// both think they lead. ttl must be at least a millisecond.
func (c *Client) NewLease(key, owner string, ttl time.Duration) *Lease {
	return &Lease{client: c, key: key, owner: owner, ttl: ttl}
}

// Acquire takes the lease when it is free, or extends it to ttl from now when this owner holds it,
// in one atomic step. held tells whether this owner holds it afterwards; it is false, with an error
// wrapping ErrUnavailable, when Redis cannot say.
func (l *Lease) Acquire(ctx context.Context) (held bool, err error) {
	if err := l.check(opLeaseAcquire); err != nil {
		return false, err
	}
	err = l.client.do(ctx, opLeaseAcquire, func(ctx context.Context) error {
		result, err := takeOrExtend.Run(ctx, l.client.rdb, []string{l.client.key(l.key)}, l.owner, l.ttl.Milliseconds()).Int64()
		held = result == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return held, nil
}

// Release gives the lease up if this owner holds it, so another candidate can take it at once
// rather than after ttl. It returns nil when this owner does not hold it.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.check(opLeaseRelease); err != nil {
		return err
	}
	return l.client.do(ctx, opLeaseRelease, func(ctx context.Context) error {
		return compareAndDelete.Run(ctx, l.client.rdb, []string{l.client.key(l.key)}, l.owner).Err()
	})
}

func (l *Lease) check(op operation) error {
	if l.owner == "" {
		return fmt.Errorf("redis %s: owner: got \"\", want a name unique to the candidate: %w", op, ErrInvalidArgument)
	}
	return checkTTL(op, l.ttl)
}
