package redis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/redis"
	"github.com/jqhq/jq/internal/testredis"
)

// unreachableAddr is an address where nothing listens: dials to it are refused at once.
const unreachableAddr = "127.0.0.1:1"

type testBundle struct {
	client *redis.Client
	raw    *goredis.Client // the same Redis, without the prefix
	prefix string
	logs   *logBuffer
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	raw, prefix := testredis.Client(t)
	logs := &logBuffer{}
	return &testBundle{
		client: redis.NewFromClient(raw, prefix, logs.logger(), nil),
		raw:    raw,
		prefix: prefix,
		logs:   logs,
	}
}

// requirePTTL fails unless the raw key expires in (0, max] and in at least min.
func requirePTTL(t *testing.T, raw *goredis.Client, rawKey string, minTTL, maxTTL time.Duration) {
	t.Helper()
	got, err := raw.PTTL(context.Background(), rawKey).Result()
	require.NoError(t, err)
	require.True(t, got >= minTTL && got <= maxTTL, "PTTL of %s: got %s, want between %s and %s", rawKey, got, minTTL, maxTTL)
}

// requireRawValue fails unless the raw key holds want.
func requireRawValue(t *testing.T, raw *goredis.Client, rawKey, want string) {
	t.Helper()
	got, err := raw.Get(context.Background(), rawKey).Result()
	require.NoError(t, err, "GET %s", rawKey)
	require.Equal(t, want, got, "value of %s: got %q, want %q", rawKey, got, want)
}

// requireRawMissing fails unless the raw key does not exist.
func requireRawMissing(t *testing.T, raw *goredis.Client, rawKey string) {
	t.Helper()
	n, err := raw.Exists(context.Background(), rawKey).Result()
	require.NoError(t, err)
	require.Zero(t, n, "key %s: got present, want missing", rawKey)
}

// logBuffer collects JSON log lines; safe for the concurrent writes of one slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines decodes every line logged so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	text := strings.TrimSpace(b.buf.String())
	b.mu.Unlock()
	var out []map[string]any
	if text == "" {
		return out
	}
	for line := range strings.SplitSeq(text, "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "line %q is not JSON", line)
		out = append(out, m)
	}
	return out
}

// withLevel returns the lines logged at level (WARN, INFO, ...).
func (b *logBuffer) withLevel(t *testing.T, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range b.lines(t) {
		if line["level"] == level {
			out = append(out, line)
		}
	}
	return out
}

func TestClient_SetNxPxMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SetsOnlyFreeKeys", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.raw.Set(ctx, b.prefix+"b", "other", time.Minute).Err())
		require.NoError(t, b.raw.Set(ctx, b.prefix+"d", "other", time.Minute).Err())

		set, err := b.client.SetNxPxMany(ctx, []string{"a", "b", "c", "d"}, "me", 10*time.Second)
		require.NoError(t, err)
		require.Equal(t, []bool{true, false, true, false}, set)

		for key, want := range map[string]string{"a": "me", "b": "other", "c": "me", "d": "other"} {
			requireRawValue(t, b.raw, b.prefix+key, want)
		}
		requirePTTL(t, b.raw, b.prefix+"a", 9*time.Second, 10*time.Second)
		requirePTTL(t, b.raw, b.prefix+"c", 9*time.Second, 10*time.Second)
		requirePTTL(t, b.raw, b.prefix+"b", 50*time.Second, time.Minute)
	})

	t.Run("RejectsSubMillisecondTTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		for _, ttl := range []time.Duration{0, -time.Second, time.Microsecond} {
			_, err := b.client.SetNxPxMany(ctx, []string{"k"}, "v", ttl)
			require.ErrorIs(t, err, redis.ErrInvalidArgument, "ttl %s", ttl)
		}
		requireRawMissing(t, b.raw, b.prefix+"k")
	})

	t.Run("NoKeys", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		set, err := b.client.SetNxPxMany(ctx, nil, "me", time.Second)
		require.NoError(t, err)
		require.Empty(t, set)
	})
}

func TestClient_DelIfValueMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("DeletesOnlyKeysHoldingValue", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for key, value := range map[string]string{"a": "me", "b": "other", "c": "me"} {
			require.NoError(t, b.raw.Set(ctx, b.prefix+key, value, time.Minute).Err())
		}

		n, err := b.client.DelIfValueMany(ctx, []string{"a", "b", "c", "missing"}, "me")
		require.NoError(t, err)
		require.Equal(t, int64(2), n, "deleted: got %d, want 2", n)
		requireRawMissing(t, b.raw, b.prefix+"a")
		requireRawMissing(t, b.raw, b.prefix+"c")
		requireRawValue(t, b.raw, b.prefix+"b", "other")
	})

	t.Run("NoKeys", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		n, err := b.client.DelIfValueMany(ctx, nil, "me")
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("ReplyErrorIsNotUnavailable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.raw.RPush(ctx, b.prefix+"list", "x").Err())

		_, err := b.client.DelIfValueMany(ctx, []string{"list"}, "me") // GET of a list: WRONGTYPE
		require.Error(t, err)
		require.NotErrorIs(t, err, redis.ErrUnavailable)
		require.Empty(t, b.logs.lines(t), "a reply error logs nothing")
	})
}

func TestClient_Ping(t *testing.T) {
	t.Parallel()
	b := setup(t)

	require.NoError(t, b.client.Ping(context.Background()))
}

func TestClient_KeyPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	key := "prefix-check-" + strings.TrimSuffix(strings.TrimPrefix(b.prefix, "jqtest:"), ":")

	_, err := b.client.SetNxPxMany(ctx, []string{key}, "v", time.Minute)
	require.NoError(t, err)

	requireRawValue(t, b.raw, b.prefix+key, "v")
	requireRawMissing(t, b.raw, key)
}

func TestClient_CanceledContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := b.client.Ping(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, redis.ErrUnavailable)
	require.Empty(t, b.logs.lines(t), "a canceled call logs nothing")
}

func TestClient_Close(t *testing.T) {
	t.Parallel()

	t.Run("ClosesOwnConnections", func(t *testing.T) {
		t.Parallel()
		c := redis.New(redis.Options{Addr: testredis.Addr()}, nil, nil)
		require.NoError(t, c.Ping(context.Background()))

		require.NoError(t, c.Close())
		require.ErrorIs(t, c.Ping(context.Background()), redis.ErrUnavailable)
	})

	t.Run("LeavesGivenClientOpen", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		require.NoError(t, b.client.Close())
		require.NoError(t, b.raw.Ping(context.Background()).Err())
		require.NoError(t, b.client.Ping(context.Background()))
	})
}

func TestClient_Unavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("EveryMethodFailsFast", func(t *testing.T) {
		t.Parallel()
		logs := &logBuffer{}
		c := redis.New(redis.Options{Addr: unreachableAddr}, logs.logger(), nil)
		t.Cleanup(func() { require.NoError(t, c.Close()) })
		lease := c.NewLease("leader", "me", time.Second)

		calls := []struct {
			name string
			call func() error
		}{
			{"SetNxPxMany", func() error { _, err := c.SetNxPxMany(ctx, []string{"a", "b"}, "v", time.Second); return err }},
			{"DelIfValueMany", func() error { _, err := c.DelIfValueMany(ctx, []string{"a", "b"}, "v"); return err }},
			{"Ping", func() error { return c.Ping(ctx) }},
			{"LeaseAcquire", func() error {
				held, err := lease.Acquire(ctx)
				require.False(t, held, "held: got true, want false")
				return err
			}},
			{"LeaseRelease", func() error { return lease.Release(ctx) }},
		}
		// Twice round: the first call dials and fails; the others fail fast (the client's
		// breaker) except Ping, which always probes.
		for round := range 2 {
			for i, tt := range calls {
				start := time.Now()
				err := tt.call()
				elapsed := time.Since(start)

				require.ErrorIs(t, err, redis.ErrUnavailable, tt.name)
				if (round == 0 && i == 0) || tt.name == "Ping" {
					var opErr *net.OpError
					require.ErrorAs(t, err, &opErr, "%s: the dial error stays in the chain", tt.name)
				}
				require.Less(t, elapsed, 2*time.Second, "%s: took %s", tt.name, elapsed)
			}
		}

		warnings := logs.withLevel(t, "WARN")
		require.Len(t, warnings, 1, "WARN lines: got %d, want 1", len(warnings))
		require.Equal(t, "set_nx_px_many", warnings[0]["operation"])
		require.Contains(t, warnings[0]["error"], "connection refused")
	})

	t.Run("WarnsOncePerInterval", func(t *testing.T) {
		t.Parallel()
		logs := &logBuffer{}
		c := redis.New(redis.Options{Addr: unreachableAddr}, logs.logger(), nil)
		t.Cleanup(func() { require.NoError(t, c.Close()) })
		const warnEvery = time.Second
		redis.SetWarnEvery(c, warnEvery)

		for range 50 {
			require.ErrorIs(t, c.Ping(ctx), redis.ErrUnavailable)
		}
		require.Len(t, logs.withLevel(t, "WARN"), 1, "within one interval")

		time.Sleep(warnEvery + 100*time.Millisecond) // deliberate: the warning interval passes
		for range 50 {
			require.ErrorIs(t, c.Ping(ctx), redis.ErrUnavailable)
		}
		warnings := logs.withLevel(t, "WARN")
		require.Len(t, warnings, 2, "after one interval")
		require.InDelta(t, 49, warnings[1]["suppressed"], 0, "suppressed: got %v, want 49", warnings[1]["suppressed"])
		require.Empty(t, logs.withLevel(t, "INFO"), "Redis never answered")
	})

	t.Run("SilentServerTimesOut", func(t *testing.T) {
		t.Parallel()
		addr := silentServer(t)
		c := redis.New(redis.Options{Addr: addr, Timeout: 100 * time.Millisecond}, nil, nil)
		t.Cleanup(func() { require.NoError(t, c.Close()) })

		start := time.Now()
		_, err := c.SetNxPxMany(ctx, []string{"k"}, "v", time.Second)
		elapsed := time.Since(start)

		require.ErrorIs(t, err, redis.ErrUnavailable)
		var netErr net.Error
		require.ErrorAs(t, err, &netErr)
		require.True(t, netErr.Timeout(), "error %v: got no timeout, want one", err)
		require.Less(t, elapsed, time.Second, "took %s with a 100ms timeout", elapsed)

		// The breaker: the next calls within its pause fail at once instead of timing out.
		start = time.Now()
		for range 10 {
			_, err := c.SetNxPxMany(ctx, []string{"a", "b"}, "v", time.Second)
			require.ErrorIs(t, err, redis.ErrUnavailable)
			_, err = c.DelIfValueMany(ctx, []string{"a", "b"}, "v")
			require.ErrorIs(t, err, redis.ErrUnavailable)
		}
		require.Less(t, time.Since(start), 50*time.Millisecond, "20 calls during an outage took %s", time.Since(start))
	})

	t.Run("LogsRecoveryOnce", func(t *testing.T) {
		t.Parallel()
		errDown := errors.New("test: redis down")
		var down atomic.Bool
		rdb := goredis.NewClient(&goredis.Options{
			Addr: testredis.Addr(),
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if down.Load() {
					return nil, errDown
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			MaxRetries:    -1,
			DialerRetries: 1,
		})
		t.Cleanup(func() { require.NoError(t, rdb.Close()) })
		logs := &logBuffer{}
		c := redis.NewFromClient(rdb, "", logs.logger(), nil)

		down.Store(true)
		err := c.Ping(ctx)
		require.ErrorIs(t, err, redis.ErrUnavailable)
		require.ErrorIs(t, err, errDown)

		down.Store(false)
		require.NoError(t, c.Ping(ctx))
		require.NoError(t, c.Ping(ctx))

		lines := logs.lines(t)
		require.Len(t, lines, 2, "lines: got %v", lines)
		require.Equal(t, "WARN", lines[0]["level"])
		require.Equal(t, "INFO", lines[1]["level"])
		require.Equal(t, "redis reachable again", lines[1]["msg"])
	})
}

// silentServer listens on a free port, accepts connections and never answers, like a Redis that
// hangs. It returns the address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			_ = conn.Close()
		}
	})
	return ln.Addr().String()
}

func TestClient_Metrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ObservesEveryCall", func(t *testing.T) {
		t.Parallel()
		raw, prefix := testredis.Client(t)
		hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jq_redis_operation_duration_seconds",
			Help: "Duration of Redis operations.",
		}, []string{"operation"})
		c := redis.NewFromClient(raw, prefix, nil, hist)

		_, err := c.SetNxPxMany(ctx, []string{"k"}, "v", time.Minute)
		require.NoError(t, err)
		for range 2 {
			_, err := c.DelIfValueMany(ctx, []string{"k"}, "v")
			require.NoError(t, err)
		}
		lease := c.NewLease("leader", "me", time.Minute)
		_, err = lease.Acquire(ctx)
		require.NoError(t, err)
		require.NoError(t, lease.Release(ctx))

		// Every operation's series exists from the start, observed or not: ping is never called.
		require.Equal(t, 5, testutil.CollectAndCount(hist, "jq_redis_operation_duration_seconds"))
		require.Equal(t, map[string]uint64{"set_nx_px_many": 1, "del_if_value_many": 2, "lease_acquire": 1, "lease_release": 1},
			observedSamples(t, hist))
	})

	t.Run("NilHistogramPointer", func(t *testing.T) {
		t.Parallel()
		raw, prefix := testredis.Client(t)
		var hist *prometheus.HistogramVec
		c := redis.NewFromClient(raw, prefix, nil, hist)

		require.NoError(t, c.Ping(ctx))
	})

	t.Run("WrongLabelsDisableTiming", func(t *testing.T) {
		t.Parallel()
		raw, prefix := testredis.Client(t)
		hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wrong", Help: "Wrong labels."},
			[]string{"op", "extra"})
		logs := &logBuffer{}
		c := redis.NewFromClient(raw, prefix, logs.logger(), hist)

		require.NoError(t, c.Ping(ctx))
		require.Len(t, logs.withLevel(t, "ERROR"), 1)
		require.Zero(t, testutil.CollectAndCount(hist))
	})
}

// observedSamples returns the number of samples of each operation observed at least once.
func observedSamples(t *testing.T, collector prometheus.Collector) map[string]uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(collector))
	families, err := reg.Gather()
	require.NoError(t, err)
	got := make(map[string]uint64)
	for _, family := range families {
		for _, metric := range family.GetMetric() {
			if n := metric.GetHistogram().GetSampleCount(); n > 0 {
				require.Len(t, metric.GetLabel(), 1)
				got[metric.GetLabel()[0].GetValue()] = n
			}
		}
	}
	return got
}

func TestSetLibraryLogger(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}

	redis.LibraryLogger(logs.logger()).Printf(context.Background(), "dial %s failed", "x")

	lines := logs.lines(t)
	require.Len(t, lines, 1)
	require.Equal(t, "DEBUG", lines[0]["level"])
	require.Equal(t, "dial x failed", lines[0]["msg"])
	require.Equal(t, "go-redis", lines[0]["component"])
}
