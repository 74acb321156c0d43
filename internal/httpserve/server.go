package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river/rivershared/startstop"
)

const (
	// readHeaderTimeout bounds how long a client may take to send request headers, so that
	// slow clients cannot hold connections open (Slowloris).
	readHeaderTimeout = 5 * time.Second
	// idleTimeout closes keep-alive connections a scraper or prober left idle.
	idleTimeout = 2 * time.Minute
	// defaultShutdownTimeout is how long Stop lets in-flight requests finish before it closes
	// their connections.
	defaultShutdownTimeout = 5 * time.Second
)

var _ startstop.Service = (*Server)(nil)

// Server serves one http.Handler on one address. Start binds the address before returning, so
// a bad or busy address fails Start itself; Stop shuts the server down gracefully.
type Server struct {
	startstop.BaseStartStop

	addr            string
	handler         http.Handler
	logger          *slog.Logger
	shutdownTimeout time.Duration

	mu    sync.Mutex
	bound net.Addr
}

// New returns a Server that will serve handler on addr (host:port; port 0 picks a free port)
// once started. A nil logger discards.
func New(addr string, handler http.Handler, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		addr:            addr,
		handler:         handler,
		logger:          logger,
		shutdownTimeout: defaultShutdownTimeout,
	}
}

// Start binds the address, then serves in the background until Stop is called or ctx is
// done. It returns the bind error, if any, e.g. when the address is already in use. Starting
// a started Server does nothing.
func (s *Server) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := s.StartInit(ctx)
	if !shouldStart {
		return nil
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		stopped()
		return fmt.Errorf("serve http: %w", err)
	}
	s.mu.Lock()
	s.bound = ln.Addr()
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		// Requests keep the values of ctx but not its cancellation, so that stopping lets
		// in-flight requests finish within the shutdown timeout instead of failing at once.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	logger := s.logger.With(slog.String("addr", ln.Addr().String()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	go func() {
		started()
		defer stopped()
		logger.InfoContext(ctx, "http server listening")

		select {
		case <-ctx.Done():
		case err := <-served:
			// Serve only returns on its own when the listener fails.
			logger.ErrorContext(ctx, "http server stopped serving", slog.String("error", err.Error()))
			return
		}

		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			logger.WarnContext(ctx, "http server did not shut down in time, closing connections",
				slog.Duration("timeout", s.shutdownTimeout), slog.String("error", err.Error()))
			if err := srv.Close(); err != nil {
				logger.WarnContext(ctx, "http server close", slog.String("error", err.Error()))
			}
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.WarnContext(ctx, "http server serve", slog.String("error", err.Error()))
		}
		logger.InfoContext(ctx, "http server stopped")
	}()

	return nil
}

// Addr returns the address the server is bound to, with the port resolved when New was given
// port 0. It is nil until Start succeeds and keeps the last bound address after Stop.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}
