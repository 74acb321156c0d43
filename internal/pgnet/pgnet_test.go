package pgnet_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/pgnet"
)

func TestDialer_Keepalive(t *testing.T) {
	t.Parallel()
	d := pgnet.Dialer(3 * time.Second)
	require.Equal(t, 3*time.Second, d.Timeout)
	require.True(t, d.KeepAliveConfig.Enable)
	require.Equal(t, pgnet.KeepaliveIdle, d.KeepAliveConfig.Idle)
	require.Equal(t, pgnet.KeepaliveInterval, d.KeepAliveConfig.Interval)
	require.Equal(t, pgnet.KeepaliveCount, d.KeepAliveConfig.Count)
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	c, err := pgconn.ParseConfig("postgres://u@127.0.0.1:1/d?connect_timeout=7")
	require.NoError(t, err)
	pgnet.Configure(c, 0)
	require.Equal(t, 7*time.Second, c.ConnectTimeout, "the URL's connect_timeout stays when none is given")
	require.NotNil(t, c.DialFunc)
	pgnet.Configure(c, 2*time.Second)
	require.Equal(t, 2*time.Second, c.ConnectTimeout)
}
