package httpserve_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/jqhq/jq/internal/httpserve"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testBundle struct {
	client *http.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	// A client of its own whose idle connections are closed at the end, so goleak sees no
	// leftover transport goroutines.
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return &testBundle{client: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
}

// hello answers every request with "hello".
var hello = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "hello")
})

// startServer starts a Server for handler on a free local port and stops it at the end.
func startServer(t *testing.T, handler http.Handler) *httpserve.Server {
	t.Helper()
	s := httpserve.New("127.0.0.1:0", handler, nil)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(s.Stop)
	return s
}

func (b *testBundle) get(t *testing.T, s *httpserve.Server) (int, string) {
	t.Helper()
	resp, err := b.client.Get("http://" + s.Addr().String() + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestServer(t *testing.T) {
	t.Parallel()

	t.Run("ServesOnResolvedPort", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		s := httpserve.New("127.0.0.1:0", hello, nil)
		require.Nil(t, s.Addr(), "got an address before Start, want nil")

		require.NoError(t, s.Start(t.Context()))
		t.Cleanup(s.Stop)

		tcp, isTCP := s.Addr().(*net.TCPAddr)
		require.Truef(t, isTCP, "got address type %T, want *net.TCPAddr", s.Addr())
		require.NotZerof(t, tcp.Port, "got port %d, want a real port", tcp.Port)

		code, body := bundle.get(t, s)
		require.Equalf(t, http.StatusOK, code, "got status %d, want 200", code)
		require.Equalf(t, "hello", body, "got body %q, want %q", body, "hello")
	})

	t.Run("AddressInUse", func(t *testing.T) {
		t.Parallel()
		first := startServer(t, hello)

		second := httpserve.New(first.Addr().String(), hello, nil)
		err := second.Start(t.Context())
		require.ErrorIs(t, err, syscall.EADDRINUSE)
		require.Nil(t, second.Addr())
		second.Stop() // must not block after a failed start
	})

	t.Run("RestartAfterFailedStart", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := busy.Addr().String()

		s := httpserve.New(addr, hello, nil)
		require.Error(t, s.Start(t.Context()))

		require.NoError(t, busy.Close())
		require.NoError(t, s.Start(t.Context()))
		t.Cleanup(s.Stop)
		code, _ := bundle.get(t, s)
		require.Equalf(t, http.StatusOK, code, "got status %d, want 200", code)
	})

	t.Run("StartTwiceIsNoop", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, hello)
		addr := s.Addr()
		require.NoError(t, s.Start(t.Context()))
		require.Equal(t, addr, s.Addr())
	})

	t.Run("StopClosesPortAndIsIdempotent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		s := httpserve.New("127.0.0.1:0", hello, nil)
		s.Stop() // stopping a server never started does nothing
		require.NoError(t, s.Start(t.Context()))
		bundle.get(t, s)

		s.Stop()
		s.Stop()

		conn, err := net.DialTimeout("tcp", s.Addr().String(), time.Second)
		if err == nil {
			conn.Close()
		}
		require.Errorf(t, err, "got a connection to %s after Stop, want the port closed", s.Addr())
	})

	t.Run("StopsWhenContextDone", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		s := httpserve.New("127.0.0.1:0", hello, nil)
		require.NoError(t, s.Start(ctx))
		stopped := s.Stopped()

		cancel()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("got no stop 5s after the context was canceled, want the server stopped")
		}
		s.Stop()
	})

	t.Run("StopWaitsForInFlightRequest", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		entered, release := make(chan struct{}), make(chan struct{})
		s := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "done")
		}))

		type result struct {
			code int
			body string
			err  error
		}
		results := make(chan result, 1)
		go func() { // no require here: it may only stop the test from the test's goroutine
			resp, err := bundle.client.Get("http://" + s.Addr().String() + "/")
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			results <- result{resp.StatusCode, string(body), err}
		}()
		<-entered

		stopDone := make(chan struct{})
		go func() {
			s.Stop()
			close(stopDone)
		}()
		select {
		case <-stopDone:
			t.Fatal("got Stop returning while a request was in flight, want it to wait")
		case <-time.After(100 * time.Millisecond):
		}

		close(release)
		got := <-results
		require.Equal(t, result{http.StatusOK, "done", nil}, got)
		<-stopDone
	})

	t.Run("StopClosesStuckRequestAfterTimeout", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		entered := make(chan struct{})
		s := httpserve.New("127.0.0.1:0", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done() // ends only when the connection is closed
		}), nil)
		s.SetShutdownTimeout(100 * time.Millisecond)
		require.NoError(t, s.Start(t.Context()))

		errs := make(chan error, 1)
		go func() {
			resp, err := bundle.client.Get("http://" + s.Addr().String() + "/")
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
		<-entered

		start := time.Now()
		s.Stop()
		elapsed := time.Since(start)
		require.Lessf(t, elapsed, 3*time.Second, "got Stop after %s, want about the 100ms shutdown timeout", elapsed)
		require.Error(t, <-errs, "got a response from a closed connection, want an error")
	})
}
