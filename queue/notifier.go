package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
	"github.com/riverqueue/river/rivershared/startstop"
)

// ReadyChannel is the channel jq.submit and friends notify when jobs become runnable.
const ReadyChannel = "jq_job_ready"

// Notifier listens on ReadyChannel over its own connection and calls wake for every
// notification, and once after every (re)connection, since notifications sent while it was
// disconnected are lost. It reconnects by itself.
type Notifier struct {
	startstop.BaseStartStop

	connString     string
	wake           func()
	logger         *slog.Logger
	reconnectDelay time.Duration
}

// NewNotifier returns a Notifier for the database at connString.
func NewNotifier(connString string, wake func(), logger *slog.Logger) *Notifier {
	return &Notifier{connString: connString, wake: wake, logger: logger, reconnectDelay: time.Second}
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
