package health_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/health"
)

func version(v string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return v, nil }
}

func TestComponent_Probe(t *testing.T) {
	t.Parallel()

	t.Run("Version", func(t *testing.T) {
		t.Parallel()
		c := health.Component{Name: "postgresql", Configured: true, Check: func(context.Context) (string, error) {
			time.Sleep(10 * time.Millisecond) // a latency the result must show
			return "17.2", nil
		}}

		r := c.Probe(t.Context(), time.Second)
		require.NoError(t, r.Err)
		require.Equal(t, "17.2", r.Version)
		require.GreaterOrEqual(t, r.Latency, 10*time.Millisecond)
	})

	t.Run("Error", func(t *testing.T) {
		t.Parallel()
		down := errors.New("connection refused")
		c := health.Component{Name: "redis", Configured: true, Check: func(context.Context) (string, error) { return "7.2", down }}

		r := c.Probe(t.Context(), time.Second)
		require.ErrorIs(t, r.Err, down)
		require.Empty(t, r.Version, "no version with an error")
	})

	t.Run("TimeoutOfACheckThatIgnoresItsContext", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		c := health.Component{Name: "kafka", Configured: true, Check: func(context.Context) (string, error) {
			<-release
			return "", nil
		}}

		start := time.Now()
		r := c.Probe(t.Context(), 50*time.Millisecond)
		require.ErrorIs(t, r.Err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), time.Second)
	})

	t.Run("Panic", func(t *testing.T) {
		t.Parallel()
		c := health.Component{Name: "kafka", Configured: true, Check: func(context.Context) (string, error) { panic("boom") }}

		require.EqualError(t, c.Probe(t.Context(), time.Second).Err, "check panicked: boom")
	})

	t.Run("NoCheck", func(t *testing.T) {
		t.Parallel()
		require.Error(t, health.Component{Name: "redis"}.Probe(t.Context(), time.Second).Err)
	})
}

func TestHealth_AddComponent(t *testing.T) {
	t.Parallel()
	h := health.New(nil)
	for _, c := range []health.Component{
		{Name: "postgresql", Configured: true, Check: version("17.2")},
		{Name: "redis", Configured: false},
		{Name: "kafka", Configured: true, Optional: true, Check: func(context.Context) (string, error) {
			return "", errors.New("no brokers answer")
		}},
	} {
		h.AddComponent(c)
	}

	body := readyz(t, h, http.StatusOK)
	require.Equal(t, "degraded", body.Status, "an optional component down keeps the process ready")
	require.Equal(t, map[string]string{"postgresql": "ok", "kafka": "degraded: no brokers answer"}, body.Checks,
		"a component that is not configured is not checked")

	h.AddComponent(health.Component{Name: "postgresql", Configured: true, Check: func(context.Context) (string, error) {
		return "", errors.New("password authentication failed")
	}})
	body = readyz(t, h, http.StatusServiceUnavailable)
	require.Equal(t, "password authentication failed", body.Checks["postgresql"])
}
