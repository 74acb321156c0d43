package grpc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/logging"
)

func TestDial_ForwardsCorrelationID(t *testing.T) {
	t.Parallel()

	t.Run("FromContext", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		ctx := logging.WithCorrelationID(t.Context(), "from-ctx-1")
		seen, header, err := callOK(ctx, conn)
		require.NoError(t, err)

		require.Equal(t, "from-ctx-1", seen, "id in the handler's context")
		require.Equal(t, []string{"from-ctx-1"}, header.Get(CorrelationIDKey))
		lines := ts.LogLinesFor(t, "rpc finished", "TestService/Ok")
		require.Len(t, lines, 1)
		require.Equal(t, "from-ctx-1", lines[0]["correlation_id"])
	})

	t.Run("Stream", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		header, err := receiveCount(logging.WithCorrelationID(t.Context(), "from-ctx-2"), conn, 1)
		require.NoError(t, err)
		require.Equal(t, []string{"from-ctx-2"}, header.Get(CorrelationIDKey))
	})

	t.Run("ExplicitMetadataWins", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		ctx := logging.WithCorrelationID(t.Context(), "from-ctx-3")
		ctx = metadata.AppendToOutgoingContext(ctx, CorrelationIDKey, "explicit-3")
		seen, header, err := callOK(ctx, conn)
		require.NoError(t, err)

		require.Equal(t, "explicit-3", seen)
		require.Equal(t, []string{"explicit-3"}, header.Get(CorrelationIDKey))
	})

	t.Run("NoneInContext", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		seen, header, err := callOK(t.Context(), conn)
		require.NoError(t, err)
		requireUUID(t, seen)
		require.Equal(t, []string{seen}, header.Get(CorrelationIDKey))
	})
}

func TestServerKeepalive(t *testing.T) {
	t.Parallel()
	// The server must allow pings at least as often as Dial's clients send them, or it closes
	// their connections with GOAWAY "too_many_pings".
	require.Less(t, DefaultKeepalive.MinTime, client.KeepaliveTime)
	require.Len(t, ServerKeepalive(DefaultKeepalive), 2)

	auth, err := NewAuthenticator(AuthConfig{Mode: AuthNone}, nil, logging.Discard())
	require.NoError(t, err)
	_, err = NewServer(ServerConfig{Auth: auth, Keepalive: Keepalive{Time: time.Minute, Timeout: time.Second, MinTime: client.KeepaliveTime}},
		logging.Discard(), nil, nil, nil, nil)
	require.ErrorContains(t, err, "keepalive_min_time")
}
