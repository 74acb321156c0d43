package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds each check when New is given no WithTimeout option.
const DefaultTimeout = 2 * time.Second

// Result texts a check can be reported with besides its error message.
const (
	// ResultOK reports a check that passed.
	ResultOK = "ok"
	// ResultTimeout reports a check that did not answer within its timeout.
	ResultTimeout = "timeout"
	// degradedPrefix marks a failed optional check: reported, but the process stays ready.
	degradedPrefix = "degraded: "
)

// reasonShuttingDown is the reason /readyz gives once SetShuttingDown was called.
const reasonShuttingDown = "shutting down"

// Check reports whether one dependency is usable, e.g. by pinging PostgreSQL. It returns nil
// when it is. It should return soon after ctx is done; Health stops waiting for it then anyway.
type Check func(ctx context.Context) error

// Option tunes New.
type Option func(*Health)

// WithTimeout bounds each check to d instead of DefaultTimeout. A d ≤ 0 keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(h *Health) {
		if d > 0 {
			h.timeout = d
		}
	}
}

// Health holds the readiness checks of a process and serves /healthz and /readyz. It is safe
// for concurrent use.
type Health struct {
	logger  *slog.Logger
	timeout time.Duration

	shuttingDown atomic.Bool

	mu        sync.Mutex
	checks    map[string]Check
	optional  map[string]bool // checks whose failure degrades rather than fails readiness
	lastReady *bool           // readiness last reported, to log only its changes
}

// New returns a Health with no checks, which is ready until a check is added or
// SetShuttingDown is called. A nil logger discards.
func New(logger *slog.Logger, opts ...Option) *Health {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Health{
		logger:   logger,
		timeout:  DefaultTimeout,
		checks:   make(map[string]Check),
		optional: make(map[string]bool),
	}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// Add registers check under name, which is how /readyz reports it (e.g. "postgresql").
// Adding a name again replaces its check.
func (h *Health) Add(name string, check Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
	delete(h.optional, name)
}

// AddOptional registers a check of a dependency the process works without (e.g. Kafka: events
// wait, jobs still run). When it fails, /readyz still answers 200, with status "degraded" and
// the check's result prefixed "degraded: ".
func (h *Health) AddOptional(name string, check Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
	h.optional[name] = true
}

// SetShuttingDown makes the process unready for good, so that traffic drains away from it
// before it stops. It is safe to call more than once.
func (h *Health) SetShuttingDown() {
	if !h.shuttingDown.Swap(true) {
		h.logger.Info("readiness: shutting down, now reporting unready")
	}
}

// Ready runs every check concurrently, each under the timeout, and reports whether all passed
// with, by check name, "ok", "timeout" or the error message. Once SetShuttingDown was called,
// it reports false without running the checks, since the answer is known and the dependencies
// may be closing.
func (h *Health) Ready(ctx context.Context) (ok bool, results map[string]string) {
	ok, _, results = h.ready(ctx)
	return ok, results
}

// ready is Ready that also says whether shutting down was the reason, read once so that the
// answer cannot contradict itself when SetShuttingDown races a probe.
func (h *Health) ready(ctx context.Context) (ok, shuttingDown bool, results map[string]string) {
	if h.shuttingDown.Load() {
		return false, true, map[string]string{}
	}

	h.mu.Lock()
	checks := maps.Clone(h.checks)
	optional := maps.Clone(h.optional)
	h.mu.Unlock()

	results = make(map[string]string, len(checks))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for name, check := range checks {
		wg.Go(func() {
			result := h.run(ctx, check)
			mu.Lock()
			results[name] = result
			mu.Unlock()
		})
	}
	wg.Wait()

	ok = true
	for name, result := range results {
		switch {
		case result == ResultOK:
		case optional[name]:
			results[name] = degradedPrefix + result
		default:
			ok = false
		}
	}
	h.logChange(ok, results)
	return ok, false, results
}

// run runs one check under the timeout and returns its result text.
func (h *Health) run(ctx context.Context, check Check) string {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()

	_, err := call(ctx, func(ctx context.Context) (string, error) { return "", check(ctx) })
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return ResultTimeout
	}
	return err.Error()
}

// logChange logs readiness when it changes, rather than on every probe.
func (h *Health) logChange(ok bool, results map[string]string) {
	h.mu.Lock()
	changed := h.lastReady == nil || *h.lastReady != ok
	h.lastReady = &ok
	h.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		h.logger.Info("readiness: ready")
		return
	}
	var failed []any
	for _, name := range slices.Sorted(maps.Keys(results)) {
		if results[name] != ResultOK {
			failed = append(failed, slog.String(name, results[name]))
		}
	}
	h.logger.Warn("readiness: not ready", slog.Group("failed_checks", failed...))
}

// readyResponse is the JSON body of /readyz.
type readyResponse struct {
	Status       string            `json:"status"`
	Reason       string            `json:"reason,omitempty"`
	ShuttingDown bool              `json:"shutting_down,omitempty"`
	Checks       map[string]string `json:"checks"`
}

// Handler serves GET (and HEAD) /healthz and /readyz. Other paths answer 404 and other
// methods 405.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.serveHealthz)
	mux.HandleFunc("GET /readyz", h.serveReadyz)
	return mux
}

func (h *Health) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok"))
}

func (h *Health) serveReadyz(w http.ResponseWriter, r *http.Request) {
	ok, shuttingDown, results := h.ready(r.Context())
	resp := readyResponse{Status: "ok", Checks: results}
	code := http.StatusOK
	for _, result := range results {
		if strings.HasPrefix(result, degradedPrefix) {
			resp.Status = "degraded"
		}
	}
	if !ok {
		resp.Status = "unavailable"
		code = http.StatusServiceUnavailable
	}
	if shuttingDown {
		resp.Reason = reasonShuttingDown
		resp.ShuttingDown = true
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		h.logger.DebugContext(r.Context(), "readiness: write response", slog.String("error", err.Error()))
	}
}
