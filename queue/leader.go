package queue

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivershared/startstop"
)

// Lease is a leadership lease held in Redis (internal/redis.Lease).
type Lease interface {
	// Acquire takes the lease, or extends it when this instance holds it.
	Acquire(ctx context.Context) (bool, error)
	Release(ctx context.Context) error
}

// leaderLockKey is the advisory lock used when Redis is off or failing.
const leaderLockKey int64 = 0x6a71_6c65_6164 // "jqlead"

// Leader elects the one server instance that runs the maintenance loops. With Redis
// configured and answering, the leader is the holder of the Redis lease; when Redis is not
// configured or fails, the holder of a PostgreSQL advisory lock on a dedicated connection.
// While the mode switches, two instances may briefly both lead; that is harmless because every
// maintenance function is safe to run concurrently (rows are taken with SKIP LOCKED).
type Leader struct {
	startstop.BaseStartStop

	lease      Lease // nil without Redis
	connString string
	interval   time.Duration
	logger     *slog.Logger
	onChange   func(leading bool)

	leading atomic.Bool
	since   atomic.Int64 // unix ns when leadership was won
	// conn is the session that campaigns for the advisory lock (when Redis is off or failing),
	// kept between campaigns so that a follower does not connect every ttl/3; holds says
	// whether it holds the lock.
	conn  *pgx.Conn
	holds bool
	tune  func(*pgx.ConnConfig)
}

// LeaderApplicationName names the leader election's session in pg_stat_activity.
const LeaderApplicationName = "jq-server leader election"

// advisoryTimeout bounds each database call of a campaign: a silent network must not stall
// the election.
const advisoryTimeout = 5 * time.Second

// NewLeader returns a Leader that renews every ttl/3. lease may be nil (no Redis). onChange
// (may be nil) is called from the Leader's goroutine when leadership is won or lost.
func NewLeader(lease Lease, connString string, ttl time.Duration, logger *slog.Logger, onChange func(leading bool)) *Leader {
	if onChange == nil {
		onChange = func(bool) {}
	}
	return &Leader{lease: lease, connString: connString, interval: max(ttl/3, 100*time.Millisecond), logger: logger, onChange: onChange}
}

// TuneConn lets fn adjust the election session's configuration (keepalives, timeouts) before
// it connects. Call it before Start.
func (l *Leader) TuneConn(fn func(*pgx.ConnConfig)) *Leader {
	l.tune = fn
	return l
}

// Leading reports whether this instance is the leader now.
func (l *Leader) Leading() bool { return l.leading.Load() }

// LeadingFor is how long this instance has been the leader; 0 when it is not.
func (l *Leader) LeadingFor() time.Duration {
	if !l.leading.Load() {
		return 0
	}
	return time.Since(time.Unix(0, l.since.Load()))
}

// Start campaigns until ctx ends or Stop is called, then steps down.
func (l *Leader) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := l.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		defer l.stepDown()
		ticker := time.NewTicker(l.interval)
		defer ticker.Stop()
		for {
			l.set(ctx, l.campaign(ctx))
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return nil
}

func (l *Leader) campaign(ctx context.Context) bool {
	if l.lease != nil {
		held, err := l.lease.Acquire(ctx)
		if err == nil {
			l.dropAdvisory(ctx)
			return held
		}
		// Redis failing: fall through to the database.
	}
	return l.advisory(ctx)
}

// advisory takes or keeps the advisory lock; the lock lives as long as its session, which
// stays open between campaigns, leading or not.
func (l *Leader) advisory(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, advisoryTimeout)
	defer cancel()
	if l.conn == nil {
		cfg, err := pgx.ParseConfig(l.connString)
		if err != nil {
			return false
		}
		cfg.RuntimeParams["application_name"] = LeaderApplicationName
		if l.tune != nil {
			l.tune(cfg)
		}
		conn, err := pgx.ConnectConfig(cctx, cfg)
		if err != nil {
			return false
		}
		l.conn, l.holds = conn, false
	}
	if l.holds {
		if err := l.conn.Ping(cctx); err != nil {
			l.dropAdvisory(ctx) // the session died and the lock with it
			return false
		}
		return true
	}
	if err := l.conn.QueryRow(cctx, "SELECT pg_try_advisory_lock($1)", leaderLockKey).Scan(&l.holds); err != nil {
		l.dropAdvisory(ctx)
		return false
	}
	return l.holds
}

// dropAdvisory closes the campaign's session, releasing the lock if it held it.
func (l *Leader) dropAdvisory(ctx context.Context) {
	if l.conn != nil {
		l.conn.Close(context.WithoutCancel(ctx)) // ends the session: the lock is released
		l.conn, l.holds = nil, false
	}
}

func (l *Leader) set(ctx context.Context, leading bool) {
	if leading && !l.leading.Load() {
		l.since.Store(time.Now().UnixNano())
	}
	if l.leading.Swap(leading) != leading {
		l.logger.InfoContext(ctx, "maintenance leadership changed", "leader", leading)
		l.onChange(leading)
	}
}

func (l *Leader) stepDown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if l.lease != nil && l.leading.Load() {
		_ = l.lease.Release(ctx)
	}
	l.dropAdvisory(ctx)
	l.set(ctx, false)
}
