package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConfig_ReconnectWithinAHeartbeat: the reconnect backoff never exceeds the heartbeat
// interval, so a worker is back about a heartbeat after the server is, long before the
// server's heartbeat timeout declares it lost.
func TestConfig_ReconnectWithinAHeartbeat(t *testing.T) {
	t.Parallel()
	c := Config{HeartbeatInterval: 500 * time.Millisecond}
	c.defaults()
	require.Equal(t, 500*time.Millisecond, c.ReconnectMax)

	c = Config{}
	c.defaults()
	require.Equal(t, 10*time.Second, c.ReconnectMax)
	require.Equal(t, 10*time.Second, c.HeartbeatInterval)

	c = Config{HeartbeatInterval: time.Minute, ReconnectMax: 2 * time.Second}
	c.defaults()
	require.Equal(t, 2*time.Second, c.ReconnectMax)
	for attempt := range 30 {
		require.LessOrEqual(t, fullJitter(attempt, c.ReconnectMax), c.ReconnectMax)
	}
}
