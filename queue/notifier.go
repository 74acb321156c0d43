package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
	"github.com/riverqueue/river/rivershared/startstop"
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
// disconnected are lost. It reconnects by itself.
type Notifier struct {
	startstop.BaseStartStop

	connString     string
	wake           func()
	cancel         CancelFunc
	logger         *slog.Logger
	reconnectDelay time.Duration
}

// NewNotifier returns a Notifier for the database at connString.
func NewNotifier(connString string, wake func(), logger *slog.Logger) *Notifier {
	return &Notifier{connString: connString, wake: wake, logger: logger, reconnectDelay: time.Second}
}

// OnCancel makes the notifier also listen on CancelChannel and call fn for each valid
// notification. Call it before Start. A cancel notice lost while disconnected is not replayed:
// the attempt is fenced in the database, so the worker's report is refused and the job's slot
// freed; only the process runs on until it ends by itself.
func (n *Notifier) OnCancel(fn CancelFunc) *Notifier {
	n.cancel = fn
	return n
}

// Start listens until ctx ends or Stop is called.
func (n *Notifier) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := n.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.Connect(ctx, n.connString)
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				n.logger.WarnContext(ctx, "notification listener: reconnecting", "error", err)
			}
		},
		ReconnectDelay: n.reconnectDelay,
	}
	listener.Handle(ReadyChannel, readyHandler{wake: n.wake})
	if n.cancel != nil {
		listener.Handle(CancelChannel, cancelHandler{cancel: n.cancel, logger: n.logger})
	}
	go func() {
		started()
		defer stopped()
		_ = listener.Listen(ctx) // returns only when ctx ends
	}()
	return nil
}

type readyHandler struct{ wake func() }

func (h readyHandler) HandleNotification(context.Context, *pgconn.Notification, *pgx.Conn) error {
	h.wake()
	return nil
}

// HandleBacklog runs after each (re)connection: jobs may have arrived unannounced meanwhile.
func (h readyHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.wake()
	return nil
}

type cancelHandler struct {
	cancel CancelFunc
	logger *slog.Logger
}

func (h cancelHandler) HandleNotification(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
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
