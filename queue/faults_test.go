package queue_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/bench/faultproxy"
	"github.com/jqhq/jq/internal/pgnet"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

// silenceable returns a fault proxy in front of the database at dbURL and dbURL rewritten to
// go through it.
func silenceable(t *testing.T, dbURL string) (*faultproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	p, err := faultproxy.Listen(u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	u.Host = p.Addr()
	return p, u.String()
}

// within runs fn in a goroutine and returns its error and how long it took, or fails the test
// when fn has not returned within limit.
func within(t *testing.T, limit time.Duration, fn func() error) (time.Duration, error) {
	t.Helper()
	type result struct {
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		err := fn()
		done <- result{time.Since(start), err}
	}()
	select {
	case r := <-done:
		return r.took, r.err
	case <-time.After(limit):
		t.Fatalf("still blocked after %s", limit)
		return 0, nil
	}
}

func TestStore_StatementTimeoutOnSilentNetwork(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	proxy, viaProxy := silenceable(t, dbURL)
	pool := testdb.PoolFor(t, viaProxy)
	// pgx sends a cancel request for the call that timed out, over a connection that the
	// silence holds; closing the proxy first ends it, or the pool's Close waits 15 s for it.
	t.Cleanup(func() { _ = proxy.Close() })
	store := queue.NewStore(pool, queue.WithStatementTimeout(500*time.Millisecond))
	ctx := context.Background()
	_, err := store.ServerVersion(ctx)
	require.NoError(t, err)

	proxy.Blackhole()
	// No deadline of its own: the store's applies, and the call fails instead of hanging.
	took, err := within(t, 10*time.Second, func() error {
		_, err := store.ClaimFor(ctx, []string{"default"}, nil)
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, 3*time.Second)
	t.Logf("a call over a silent path failed after %s (statement timeout 500ms)", took.Round(time.Millisecond))

	// The path comes back for new connections only: the pool must have dropped the one whose
	// call timed out, or it would reuse it and hang or fail again.
	restored := time.Now()
	proxy.RestoreNewOnly()
	took, err = within(t, 10*time.Second, func() error {
		_, err := store.ServerVersion(ctx)
		return err
	})
	require.NoError(t, err, "the next call must use a fresh connection")
	t.Logf("first call after the path came back answered after %s", took.Round(time.Millisecond))
	require.Less(t, time.Since(restored), 3*time.Second)
}

func TestNotifier_ReconnectsAfterSilentConnection(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	proxy, viaProxy := silenceable(t, dbURL)
	direct := queue.NewStore(testdb.PoolFor(t, dbURL), queue.WithStatementTimeout(2*time.Second))
	ctx := context.Background()

	wakes := make(chan struct{}, 100)
	n := queue.NewNotifier(viaProxy, func() { wakes <- struct{}{} }, slog.New(slog.DiscardHandler)).
		TuneConn(func(c *pgx.ConnConfig) { pgnet.Configure(&c.Config, time.Second) }).
		Probe(direct.NotifyChannel, 200*time.Millisecond)
	require.NoError(t, n.Start(ctx))
	t.Cleanup(n.Stop)

	drain := func() {
		for {
			select {
			case <-wakes:
			default:
				return
			}
		}
	}
	// notified reports whether a NOTIFY on the ready channel reaches the listener within d.
	notified := func(d time.Duration) bool {
		drain()
		require.NoError(t, direct.Notify(ctx, []string{"default"}))
		select {
		case <-wakes:
			return true
		case <-time.After(d):
			return false
		}
	}
	require.Eventually(t, func() bool { return notified(500 * time.Millisecond) }, 10*time.Second, 10*time.Millisecond,
		"the listener never heard a NOTIFY")

	// Let the late wakes of the attempts above arrive (a loaded machine delays a NOTIFY past
	// its attempt's timeout), so that none is taken for one heard through the silenced path.
	for quiet := false; !quiet; {
		select {
		case <-wakes:
		case <-time.After(500 * time.Millisecond):
			quiet = true
		}
	}
	silenced := time.Now()
	proxy.Blackhole()
	require.False(t, notified(300*time.Millisecond), "the proxy must silence the listener")
	require.Eventually(t, func() bool { return n.Reconnects() > 0 }, 10*time.Second, 10*time.Millisecond,
		"the listener never noticed its connection went silent")
	t.Logf("silent listener connection detected and dropped after %s (probe every 200ms)", time.Since(silenced).Round(time.Millisecond))

	restored := time.Now()
	proxy.RestoreNewOnly() // the old connection stays silent for good
	var heard atomic.Int32
	require.Eventually(t, func() bool {
		if notified(300 * time.Millisecond) {
			heard.Add(1)
		} else {
			heard.Store(0)
		}
		return heard.Load() >= 3 // three in a row: not a reconnection's backlog wake-up
	}, 15*time.Second, 10*time.Millisecond, "the listener did not come back after the path did")
	t.Logf("listener hears NOTIFY again %s after the path came back", time.Since(restored).Round(time.Millisecond))
}

// faultyStore injects one fault into the first Submit: the sessions of the database are
// terminated just before it (it fails, nothing committed), or its answer is lost after it
// committed.
type faultyStore struct {
	*queue.Store
	pool     *pgxpool.Pool
	lostAns  bool
	mu       sync.Mutex
	calls    int
	firstErr error
}

func (f *faultyStore) Submit(ctx context.Context, p queue.SubmitParams) (queue.SubmitResult, error) {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if !first {
		return f.Store.Submit(ctx, p)
	}
	if f.lostAns {
		if _, err := f.Store.Submit(ctx, p); err != nil {
			return queue.SubmitResult{}, err
		}
		f.firstErr = &queue.Error{Kind: queue.ErrUnavailable, Message: "database unavailable: unexpected EOF"}
		return queue.SubmitResult{}, f.firstErr
	}
	// Terminate every session of the pool (from a connection of its own), then submit on
	// the now dead one.
	conn, err := pgx.Connect(ctx, f.pool.Config().ConnConfig.ConnString())
	if err != nil {
		return queue.SubmitResult{}, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		return queue.SubmitResult{}, err
	}
	res, err := f.Store.Submit(ctx, p)
	f.firstErr = err
	return res, err
}

func TestInserter_SubmitSurvivesATerminatedConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		lostAns bool
	}{{"TerminatedBeforeCommit", false}, {"AnswerLostAfterCommit", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := testdb.Pool(t)
			store := &faultyStore{Store: queue.NewStore(pool), pool: pool, lostAns: tc.lostAns}
			ins := startInserter(t, store, 1)
			ctx := context.Background()
			_, err := store.ServerVersion(ctx) // a warm, idle connection for the fault to kill
			require.NoError(t, err)

			payload := `{"n": "` + uuid.NewString() + `"}`
			start := time.Now()
			res, err := ins.Submit(ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(payload)})
			require.NoError(t, err, "the submit is retried on a fresh connection when that is safe")
			t.Logf("submit answered after %s; first attempt failed with: %v", time.Since(start).Round(time.Millisecond), store.firstErr)
			require.Error(t, store.firstErr, "the fault must have hit the first attempt")
			require.True(t, res.Inserted)
			var n int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs WHERE payload = $1::jsonb`, payload).Scan(&n))
			require.Equal(t, 1, n, "exactly one job: none lost, none doubled")
			var id uuid.UUID
			require.NoError(t, pool.QueryRow(ctx, `SELECT job_id FROM jq.jobs WHERE payload = $1::jsonb`, payload).Scan(&id))
			require.Equal(t, id, res.ID)
		})
	}
}
