package queue

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
	"github.com/riverqueue/river/rivershared/startstop"
	"github.com/riverqueue/river/rivershared/util/serviceutil"
)

// ReadyChannel is the channel jq.submit and friends notify when jobs become runnable.
const ReadyChannel = "jq_job_ready"

// CancelChannel is the channel jq.cancel notifies when it cancels a job a worker holds; the
// payload is '<job_id>:<worker_id>:<attempt>'.
const CancelChannel = "jq_job_cancel"

// CancelFunc is called for every job cancelled while a worker held it.
type CancelFunc func(ctx context.Context, jobID, workerID uuid.UUID, attempt int)

// Notifier listens on ReadyChannel over its own connection and calls wake for every
// notification, and once after every (re)connection, since notifications sent while it was
// disconnected are lost. It reconnects by itself, after a full-jitter backoff.
//
// A connection whose path went silent (no FIN, no RST: a partition, a failed-over database)
// would block its wait for notifications forever, and TCP keepalives cannot always tell. With
// Probe set, the notifier sends itself a NOTIFY on a channel of its own every probe interval
// and closes the connection when nothing at all (probe, notification, fresh connection) has
// arrived on it for staleAfter; the scheduler's poll keeps serving meanwhile.
type Notifier struct {
	startstop.BaseStartStop

	connString string
	tune       func(*pgx.ConnConfig)
	wake       func()
	cancel     CancelFunc
	logger     *slog.Logger

	// Reconnection: attempt k (from 1) waits a random time up to min(backoffMax, backoffBase·2^k).
	backoffBase, backoffMax time.Duration

	probe         ProbeFunc
	probeChannel  string
	probeInterval time.Duration

	mu        sync.Mutex
	conn      *pgx.Conn // the current connection, nil between connections
	lastAlive time.Time // when conn last proved alive (connected, or received anything)
	attempts  int       // reconnections since the last connection that reached LISTEN
	reconnect atomic.Int64
}

// ProbeFunc sends a NOTIFY on channel with payload over another connection than the
// listener's (Store.NotifyChannel).
type ProbeFunc func(ctx context.Context, channel, payload string) error

// Default probe and backoff timing of a Notifier.
const (
	DefaultProbeInterval = 2 * time.Second
	listenBackoffBase    = 100 * time.Millisecond
	listenBackoffMax     = 2 * time.Second
	listenConnectTimeout = 10 * time.Second // when neither the URL nor TuneConn sets one
)

// NewNotifier returns a Notifier for the database at connString.
func NewNotifier(connString string, wake func(), logger *slog.Logger) *Notifier {
	return &Notifier{
		connString: connString, wake: wake, logger: logger,
		backoffBase: listenBackoffBase, backoffMax: listenBackoffMax,
		probeChannel: "jq_listener_probe_" + strings.ReplaceAll(uuid.NewString(), "-", ""),
	}
}

// OnCancel makes the notifier also listen on CancelChannel and call fn for each valid
// notification. Call it before Start. A cancel notice lost while disconnected is not replayed:
// the attempt is fenced in the database, so the worker's report is refused and the job's slot
// freed; only the process runs on until it ends by itself.
func (n *Notifier) OnCancel(fn CancelFunc) *Notifier {
	n.cancel = fn
	return n
}

// TuneConn lets fn adjust each connection's configuration (keepalives, timeouts) before it
// connects. Call it before Start.
func (n *Notifier) TuneConn(fn func(*pgx.ConnConfig)) *Notifier {
	n.tune = fn
	return n
}

// Probe turns on the silent-connection watchdog: every interval (<= 0: DefaultProbeInterval)
// send is called to NOTIFY the notifier's own probe channel, and a connection on which nothing
// arrived for three intervals is closed and replaced. Call it before Start.
func (n *Notifier) Probe(send ProbeFunc, interval time.Duration) *Notifier {
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	n.probe, n.probeInterval = send, interval
	return n
}

// Reconnects is how many times the listener connected again after its first connection.
func (n *Notifier) Reconnects() int64 { return n.reconnect.Load() }

// Start listens until ctx ends or Stop is called.
func (n *Notifier) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := n.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	listener := &pgxlisten.Listener{
		Connect: n.connect,
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				n.logger.WarnContext(ctx, "notification listener: reconnecting", "error", err)
			}
		},
		ReconnectDelay: -1, // connect waits its own jittered backoff
	}
	listener.Handle(ReadyChannel, readyHandler{wake: n.wake, alive: n.alive})
	if n.cancel != nil {
		listener.Handle(CancelChannel, cancelHandler{cancel: n.cancel, logger: n.logger, alive: n.alive})
	}
	if n.probe != nil {
		listener.Handle(n.probeChannel, probeHandler{alive: n.alive})
	}
	var wg sync.WaitGroup
	if n.probe != nil {
		wg.Go(func() { n.watch(ctx) })
	}
	go func() {
		started()
		defer stopped()
		defer wg.Wait()
		_ = listener.Listen(ctx) // returns only when ctx ends
	}()
	return nil
}

// connect waits the backoff of a reconnection, then opens the listener's connection.
func (n *Notifier) connect(ctx context.Context) (*pgx.Conn, error) {
	n.mu.Lock()
	first := n.lastAlive.IsZero() && n.attempts == 0
	n.attempts++
	attempt := n.attempts
	n.conn = nil
	n.mu.Unlock()
	if !first {
		n.reconnect.Add(1)
		ceiling := min(n.backoffMax, n.backoffBase<<min(attempt, 20))
		serviceutil.CancellableSleep(ctx, time.Duration(rand.Int64N(int64(ceiling)))+time.Millisecond)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	cfg, err := pgx.ParseConfig(n.connString)
	if err != nil {
		return nil, err
	}
	if n.tune != nil {
		n.tune(cfg)
	}
	if cfg.ConnectTimeout <= 0 {
		// A connection attempt through a silent path would otherwise never end, and the
		// watchdog leaves attempts alone.
		cfg.ConnectTimeout = listenConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.conn, n.lastAlive = conn, time.Now()
	n.mu.Unlock()
	return conn, nil
}

// alive records that the current connection delivered something; a connection that got as
// far as LISTEN resets the backoff.
func (n *Notifier) alive(listening bool) {
	n.mu.Lock()
	n.lastAlive = time.Now()
	if listening {
		n.attempts = 0
	}
	n.mu.Unlock()
}

// watch probes the listener's connection and closes it when it went silent.
func (n *Notifier) watch(ctx context.Context) {
	ticker := time.NewTicker(n.probeInterval)
	defer ticker.Stop()
	staleAfter := 3 * n.probeInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n.mu.Lock()
		conn, silent := n.conn, time.Since(n.lastAlive)
		n.mu.Unlock()
		if conn == nil {
			continue // connecting: bounded by the connect timeout
		}
		if silent > staleAfter {
			n.logger.WarnContext(ctx, "notification listener: connection silent, closing it", "silent_for", silent.Round(time.Millisecond))
			n.mu.Lock()
			if n.conn == conn {
				n.conn = nil
			}
			n.mu.Unlock()
			// Closing the socket ends the blocked wait; the listener then reconnects.
			_ = conn.PgConn().Conn().Close()
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, n.probeInterval)
		if err := n.probe(pctx, n.probeChannel, "probe"); err != nil && ctx.Err() == nil {
			n.logger.DebugContext(ctx, "notification listener: probe not sent", "error", err)
		}
		cancel()
	}
}

type readyHandler struct {
	wake  func()
	alive func(listening bool)
}

func (h readyHandler) HandleNotification(context.Context, *pgconn.Notification, *pgx.Conn) error {
	h.alive(false)
	h.wake()
	return nil
}

// HandleBacklog runs after each (re)connection: jobs may have arrived unannounced meanwhile.
func (h readyHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.alive(true)
	h.wake()
	return nil
}

type probeHandler struct{ alive func(listening bool) }

func (h probeHandler) HandleNotification(context.Context, *pgconn.Notification, *pgx.Conn) error {
	h.alive(false)
	return nil
}

type cancelHandler struct {
	cancel CancelFunc
	logger *slog.Logger
	alive  func(listening bool)
}

func (h cancelHandler) HandleNotification(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	h.alive(false)
	jobID, workerID, attempt, err := ParseCancelNotice(n.Payload)
	if err != nil {
		h.logger.WarnContext(ctx, "ignoring malformed cancel notification", "payload", n.Payload, "error", err)
		return nil
	}
	h.cancel(ctx, jobID, workerID, attempt)
	return nil
}

// ParseCancelNotice parses a CancelChannel payload.
func ParseCancelNotice(payload string) (jobID, workerID uuid.UUID, attempt int, err error) {
	parts := strings.Split(payload, ":")
	if len(parts) != 3 {
		return uuid.Nil, uuid.Nil, 0, fmt.Errorf("want <job_id>:<worker_id>:<attempt>, got %d fields", len(parts))
	}
	if jobID, err = uuid.Parse(parts[0]); err != nil {
		return uuid.Nil, uuid.Nil, 0, fmt.Errorf("job id: %w", err)
	}
	if workerID, err = uuid.Parse(parts[1]); err != nil {
		return uuid.Nil, uuid.Nil, 0, fmt.Errorf("worker id: %w", err)
	}
	if attempt, err = strconv.Atoi(parts[2]); err != nil || attempt < 0 {
		return uuid.Nil, uuid.Nil, 0, fmt.Errorf("attempt %q is not a non-negative integer", parts[2])
	}
	return jobID, workerID, attempt, nil
}
