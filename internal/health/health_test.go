package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/jqhq/jq/internal/health"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// readyBody is what /readyz answers, decoded.
type readyBody struct {
	Status       string            `json:"status"`
	Reason       string            `json:"reason"`
	ShuttingDown bool              `json:"shutting_down"`
	Checks       map[string]string `json:"checks"`
}

func ok(context.Context) error { return nil }

func failing(err error) health.Check {
	return func(context.Context) error { return err }
}

// serve sends one request to h's handler and returns the recorded response.
func serve(t *testing.T, h *health.Health, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// readyz GETs /readyz, checks its status code and content type, and decodes its body.
func readyz(t *testing.T, h *health.Health, wantCode int) readyBody {
	t.Helper()
	rec := serve(t, h, http.MethodGet, "/readyz")
	require.Equalf(t, wantCode, rec.Code, "got status %d, want %d (body %s)", rec.Code, wantCode, rec.Body)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var body readyBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	return body
}

func TestHealthz(t *testing.T) {
	t.Parallel()

	t.Run("AlwaysOK", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("postgresql", failing(errors.New("connection refused")))
		h.SetShuttingDown()

		rec := serve(t, h, http.MethodGet, "/healthz")
		require.Equalf(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
		require.Equalf(t, "ok", rec.Body.String(), "got body %q, want %q", rec.Body.String(), "ok")
	})

	t.Run("Head", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, health.New(nil), http.MethodHead, "/healthz")
		require.Equalf(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
	})
}

func TestReadyz(t *testing.T) {
	t.Parallel()

	t.Run("AllOK", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("postgresql", ok)
		h.Add("redis", ok)

		body := readyz(t, h, http.StatusOK)
		require.Equal(t, readyBody{
			Status: "ok",
			Checks: map[string]string{"postgresql": "ok", "redis": "ok"},
		}, body)
	})

	t.Run("NoChecks", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, health.New(nil), http.MethodGet, "/readyz")
		require.Equalf(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
		require.JSONEq(t, `{"status":"ok","checks":{}}`, rec.Body.String())
	})

	t.Run("OneFailing", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("postgresql", ok)
		h.Add("redis", failing(errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")))

		rec := serve(t, h, http.MethodGet, "/readyz")
		require.Equalf(t, http.StatusServiceUnavailable, rec.Code, "got status %d, want 503", rec.Code)
		require.JSONEq(t, `{"status":"unavailable","checks":{
			"postgresql":"ok",
			"redis":"dial tcp 127.0.0.1:6379: connect: connection refused"}}`, rec.Body.String())
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		const timeout = 100 * time.Millisecond
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })

		h := health.New(nil, health.WithTimeout(timeout))
		h.Add("postgresql", ok)
		h.Add("polite", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		h.Add("stuck", func(context.Context) error {
			<-release // ignores its context
			return nil
		})

		start := time.Now()
		body := readyz(t, h, http.StatusServiceUnavailable)
		elapsed := time.Since(start)

		require.Equal(t, map[string]string{"postgresql": "ok", "polite": "timeout", "stuck": "timeout"}, body.Checks)
		require.GreaterOrEqualf(t, elapsed, timeout, "got answer after %s, want at least the timeout %s", elapsed, timeout)
		require.Lessf(t, elapsed, timeout+time.Second, "got answer after %s, want about the timeout %s", elapsed, timeout)
	})

	t.Run("ChecksRunConcurrently", func(t *testing.T) {
		t.Parallel()
		// Each check passes only once the other has started, so running them one after the
		// other would time out both.
		started := make(chan struct{}, 2)
		waitForBoth := func(ctx context.Context) error {
			started <- struct{}{}
			for len(started) < 2 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
			return nil
		}
		h := health.New(nil, health.WithTimeout(5*time.Second))
		h.Add("a", waitForBoth)
		h.Add("b", waitForBoth)

		readyOK, results := h.Ready(t.Context())
		require.Truef(t, readyOK, "got unready %v, want ready", results)
	})

	t.Run("ShuttingDown", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		h := health.New(nil)
		h.Add("postgresql", func(context.Context) error {
			calls.Add(1)
			return nil
		})
		readyz(t, h, http.StatusOK)

		h.SetShuttingDown()
		h.SetShuttingDown() // idempotent

		body := readyz(t, h, http.StatusServiceUnavailable)
		require.Equal(t, readyBody{
			Status:       "unavailable",
			Reason:       "shutting down",
			ShuttingDown: true,
			Checks:       map[string]string{},
		}, body)
		require.Equalf(t, int32(1), calls.Load(), "got %d check runs, want 1 (none after shutting down)", calls.Load())
	})

	t.Run("PanickingCheck", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("kafka", func(context.Context) error { panic("boom") })

		body := readyz(t, h, http.StatusServiceUnavailable)
		require.Equal(t, "check panicked: boom", body.Checks["kafka"])
	})

	t.Run("AddReplaces", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("redis", failing(errors.New("down")))
		h.Add("redis", ok)

		body := readyz(t, h, http.StatusOK)
		require.Equal(t, map[string]string{"redis": "ok"}, body.Checks)
	})
}

func TestReady(t *testing.T) {
	t.Parallel()

	t.Run("CanceledContextIsNotTimeout", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("postgresql", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		readyOK, results := h.Ready(ctx)
		require.False(t, readyOK)
		require.Equal(t, map[string]string{"postgresql": context.Canceled.Error()}, results)
	})
}

func TestHandler(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		method   string
		path     string
		wantCode int
	}{
		{"UnknownPath", http.MethodGet, "/metrics", http.StatusNotFound},
		{"Root", http.MethodGet, "/", http.StatusNotFound},
		{"TrailingSlash", http.MethodGet, "/readyz/", http.StatusNotFound},
		{"PostHealthz", http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{"DeleteReadyz", http.MethodDelete, "/readyz", http.StatusMethodNotAllowed},
		{"HeadReadyz", http.MethodHead, "/readyz", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, health.New(nil), tt.method, tt.path)
			require.Equalf(t, tt.wantCode, rec.Code, "got status %d for %s %s, want %d",
				rec.Code, tt.method, tt.path, tt.wantCode)
		})
	}

	t.Run("OverRealServer", func(t *testing.T) {
		t.Parallel()
		h := health.New(nil)
		h.Add("postgresql", ok)
		srv := httptest.NewServer(h.Handler())
		t.Cleanup(srv.Close)

		resp, err := srv.Client().Get(srv.URL + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equalf(t, http.StatusOK, resp.StatusCode, "got status %d, want 200", resp.StatusCode)
		var body readyBody
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Equal(t, "ok", body.Status)
	})
}

func TestReadyz_OptionalCheckDegradesWithoutFailing(t *testing.T) {
	t.Parallel()
	h := health.New(nil)
	h.Add("postgresql", func(context.Context) error { return nil })
	h.AddOptional("kafka", func(context.Context) error { return errors.New("no brokers answer") })

	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, rec.Code, "an optional dependency down keeps the process ready")
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "degraded", body.Status)
	require.Equal(t, "degraded: no brokers answer", body.Checks["kafka"])
	require.Equal(t, "ok", body.Checks["postgresql"])

	h.Add("kafka", func(context.Context) error { return errors.New("down") }) // now required
	rec = httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
