package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultTimeout is the dial, read and write timeout when Options.Timeout is zero. Redis is a
// fast path: when it does not answer quickly, callers are better off without it.
const DefaultTimeout = 200 * time.Millisecond

const (
	// defaultWarnEvery is how often, at most, an outage is logged.
	defaultWarnEvery = 30 * time.Second

	// poolSize bounds the connections of one Client: a few callers share it, and a small pool
	// keeps an outage from piling up dials.
	poolSize = 10
)

// operation names a call in logs and in the label operation of the duration histogram.
type operation string

const (
	opSetNxPxMany    operation = "set_nx_px_many"
	opDelIfValueMany operation = "del_if_value_many"
	opPing           operation = "ping"
	opLeaseAcquire   operation = "lease_acquire"
	opLeaseRelease   operation = "lease_release"
)

var operations = []operation{opSetNxPxMany, opDelIfValueMany, opPing, opLeaseAcquire, opLeaseRelease}

// Options configure New.
type Options struct {
	// Addr is the host:port of Redis. Callers leave Redis off, and make no Client, when it is empty.
	Addr string
	// Password authenticates the connection when not empty.
	Password string
	// DB is the database number selected on connect.
	DB int
	// TLS connects with TLS 1.2 or later, checking the server's certificate against Addr's host.
	TLS bool
	// Timeout bounds each dial, read and write, and the wait for a pooled connection;
	// DefaultTimeout when zero.
	Timeout time.Duration
	// KeyPrefix is prepended to every key, so several deployments can share one Redis.
	KeyPrefix string
}

// Client is a Redis client for jq's fast paths. Its methods are safe for concurrent use; they
// prepend the key prefix to every key, time every call, and wrap ErrUnavailable into every error
// that means Redis could not serve it.
type Client struct {
	rdb       *goredis.Client
	owned     bool // Close closes rdb
	prefix    string
	logger    *slog.Logger
	observers map[operation]prometheus.Observer // nil when not timing
	health    availability
}

// New returns a Client of the Redis described by opts. It does not connect: the first call does,
// and a Redis that is down at start-up is logged and carried on without like any later outage.
// opDuration, when not nil, receives the duration in seconds of every call, labelled operation.
func New(opts Options, logger *slog.Logger, opDuration prometheus.ObserverVec) *Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	redisOpts := &goredis.Options{
		Addr:         opts.Addr,
		Password:     opts.Password,
		DB:           opts.DB,
		DialTimeout:  timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		PoolTimeout:  timeout,
		PoolSize:     poolSize,
		// A caller's shorter deadline wins over the timeouts above.
		ContextTimeoutEnabled: true,
		// No retries: a retried SET NX whose first reply was lost reads back its own key as
		// taken, leaving a lock nobody uses until it expires. A failed call is cheap to survive,
		// as callers carry on without Redis. One dial attempt per call for the same reason; after
		// PoolSize failed dials the pool fails fast until a background probe reaches Redis again.
		MaxRetries:    -1,
		DialerRetries: 1,
		// A single plain Redis: no cluster maintenance handshake to wait for.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if opts.TLS {
		redisOpts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c := newClient(goredis.NewClient(redisOpts), opts.KeyPrefix, logger, opDuration)
	c.owned = true
	return c
}

// NewFromClient returns a Client over rdb, which stays its caller's: Close does not close it.
// Tests use it to reach their own Redis with their own key prefix.
func NewFromClient(rdb *goredis.Client, keyPrefix string, logger *slog.Logger, opDuration prometheus.ObserverVec) *Client {
	return newClient(rdb, keyPrefix, logger, opDuration)
}

func newClient(rdb *goredis.Client, keyPrefix string, logger *slog.Logger, opDuration prometheus.ObserverVec) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		rdb:       rdb,
		prefix:    keyPrefix,
		logger:    logger,
		observers: newObservers(opDuration, logger),
		health:    availability{logger: logger, warnEvery: defaultWarnEvery},
	}
}

// newObservers resolves the histogram of every operation once, so a call only looks it up.
func newObservers(vec prometheus.ObserverVec, logger *slog.Logger) map[operation]prometheus.Observer {
	switch v := vec.(type) {
	case nil:
		return nil
	case *prometheus.HistogramVec: // a nil pointer in the interface: no metrics wired yet
		if v == nil {
			return nil
		}
	case *prometheus.SummaryVec:
		if v == nil {
			return nil
		}
	}
	observers := make(map[operation]prometheus.Observer, len(operations))
	for _, op := range operations {
		o, err := vec.GetMetricWithLabelValues(string(op))
		if err != nil {
			// A histogram with other labels is a wiring bug; timing is not worth a panic.
			logger.Error("redis: not timing operations: the histogram does not take the single label operation",
				slog.Any("error", err))
			return nil
		}
		observers[op] = o
	}
	return observers
}

// Close closes the connections of a Client made by New. Calls after Close fail.
func (c *Client) Close() error {
	if !c.owned {
		return nil
	}
	if err := c.rdb.Close(); err != nil {
		return fmt.Errorf("redis close: %w", err)
	}
	return nil
}

// SetNxPxMany sets each of keys to value with a TTL if it does not exist (SET NX PX), in one
// pipelined round trip: set[i] tells whether keys[i] was set. ttl must be at least a millisecond. The keys are set one by one, not all or none. On an error some keys may have been set
// all the same; they expire with ttl, or DelIfValueMany frees them when value is unique to the
// caller.
func (c *Client) SetNxPxMany(ctx context.Context, keys []string, value string, ttl time.Duration) ([]bool, error) {
	if err := checkTTL(opSetNxPxMany, ttl); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return []bool{}, nil
	}
	cmds := make([]*goredis.BoolCmd, len(keys))
	err := c.do(ctx, opSetNxPxMany, func(ctx context.Context) error {
		_, err := c.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
			for i, key := range keys {
				cmds[i] = pipe.SetNX(ctx, c.key(key), value, ttl)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	set := make([]bool, len(cmds))
	for i, cmd := range cmds {
		set[i] = cmd.Val()
	}
	return set, nil
}

// DelIfValueMany deletes each of keys that still holds value, in one atomic script, and returns
// how many it deleted. A key that expired and was taken by another value is left alone.
func (c *Client) DelIfValueMany(ctx context.Context, keys []string, value string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	var n int64
	err := c.do(ctx, opDelIfValueMany, func(ctx context.Context) error {
		var err error
		n, err = deleteIfValueMany.Run(ctx, c.rdb, c.keys(keys), value).Int64()
		return err
	})
	return n, err
}

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, opPing, func(ctx context.Context) error {
		return c.rdb.Ping(ctx).Err()
	})
}

// do runs call as op: it times it, tracks whether Redis is reachable, and wraps its error.
func (c *Client) do(ctx context.Context, op operation, call func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		// The caller gave up before asking; that says nothing about Redis.
		return fmt.Errorf("redis %s: %w", op, err)
	}
	if op != opPing && !c.health.allow() {
		return fmt.Errorf("redis %s: %w (failing fast for %s after a failure)", op, ErrUnavailable, breakerPause)
	}
	start := time.Now()
	err := call(ctx)
	if o := c.observers[op]; o != nil {
		o.Observe(time.Since(start).Seconds())
	}
	switch {
	case err == nil:
		c.health.succeeded(ctx)
		return nil
	case isUnavailable(err):
		c.health.failed(ctx, op, err)
		return fmt.Errorf("redis %s: %w: %w", op, ErrUnavailable, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redis %s: %w", op, err)
	default:
		// Redis answered, so it is reachable, but refused this call.
		c.health.succeeded(ctx)
		return fmt.Errorf("redis %s: %w", op, err)
	}
}

func (c *Client) key(key string) string { return c.prefix + key }

func (c *Client) keys(keys []string) []string {
	prefixed := make([]string, len(keys))
	for i, key := range keys {
		prefixed[i] = c.prefix + key
	}
	return prefixed
}
