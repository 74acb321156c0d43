package grpc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestInterceptors_CorrelationID(t *testing.T) {
	t.Parallel()

	t.Run("GivenIDIsEchoed", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		ctx := metadata.AppendToOutgoingContext(t.Context(), CorrelationIDKey, "abc-123")
		seen, header, err := callOK(ctx, conn)
		require.NoError(t, err)

		require.Equal(t, []string{"abc-123"}, header.Get(CorrelationIDKey), "response header")
		require.Equal(t, "abc-123", seen, "id in the handler's context")
		lines := ts.LogLinesFor(t, "rpc finished", "TestService/Ok")
		require.Len(t, lines, 1)
		require.Equal(t, "abc-123", lines[0]["correlation_id"])
		require.Contains(t, string(ts.Logs.Bytes()), `"correlation_id":"abc-123"`)
	})

	t.Run("ErrorCarriesTheIDInTrailersOnly", func(t *testing.T) {
		// An error answer with headers would be one that clients never retry (client/retry.go).
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		var header, trailer metadata.MD
		ctx := metadata.AppendToOutgoingContext(t.Context(), CorrelationIDKey, "err-1")
		err := conn.Invoke(ctx, methodNotFound, wrapperspb.String(""), new(wrapperspb.StringValue),
			grpclib.Header(&header), grpclib.Trailer(&trailer))
		require.Equal(t, codes.NotFound, status.Code(err))
		require.Equal(t, []string{"err-1"}, trailer.Get(CorrelationIDKey), "response trailer")
		require.Empty(t, header.Get(CorrelationIDKey), "no response header")
	})

	t.Run("MissingIDIsGenerated", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		seen, header, err := callOK(t.Context(), conn)
		require.NoError(t, err)

		ids := header.Get(CorrelationIDKey)
		require.Len(t, ids, 1)
		requireUUID(t, ids[0])
		require.Equal(t, ids[0], seen, "id in the handler's context")
		lines := ts.LogLinesFor(t, "rpc finished", "TestService/Ok")
		require.Len(t, lines, 1)
		require.Equal(t, ids[0], lines[0]["correlation_id"])
	})

	t.Run("MalformedIDIsReplaced", func(t *testing.T) {
		t.Parallel()
		ts := startTestServer(t, testServerConfig{})
		conn := dialTest(t, ts.Addr, nil)

		for name, sent := range map[string]string{
			"TooLong":   strings.Repeat("a", 129),
			"Space":     "abc 123",
			"Slash":     "abc/123",
			"JSONQuote": `abc","level":"error`,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := metadata.AppendToOutgoingContext(t.Context(), CorrelationIDKey, sent)
				seen, header, err := callOK(ctx, conn)
				require.NoError(t, err)

				ids := header.Get(CorrelationIDKey)
				require.Len(t, ids, 1)
				requireUUID(t, ids[0])
				require.Equal(t, ids[0], seen)
				var logged []any
				for _, line := range ts.LogLinesFor(t, "rpc finished", "TestService/Ok") {
					logged = append(logged, line["correlation_id"])
				}
				require.Contains(t, logged, ids[0])
				require.NotContains(t, logged, sent)
			})
		}
	})
}

func TestInterceptors_Panic(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, testServerConfig{})
	conn := dialTest(t, ts.Addr, nil)

	ctx := metadata.AppendToOutgoingContext(t.Context(), CorrelationIDKey, "panic-1")
	err := conn.Invoke(ctx, methodPanic, wrapperspb.String(""), new(wrapperspb.StringValue))
	st, ok := status.FromError(err)
	require.True(t, ok, "got error %v, want a status", err)
	require.Equal(t, codes.Internal, st.Code())
	require.Equal(t, "internal error", st.Message())

	panics := ts.LogLinesFor(t, "panic in grpc handler", "TestService/Panic")
	require.Len(t, panics, 1)
	require.Equal(t, "error", panics[0]["level"])
	require.Equal(t, panicValue, panics[0]["panic"])
	require.Equal(t, "panic-1", panics[0]["correlation_id"])
	stack, _ := panics[0]["stack"].(string)
	require.Contains(t, stack, "interceptors_testserver_test.go", "stack names the panicking handler")

	finished := ts.LogLinesFor(t, "rpc finished", "TestService/Panic")
	require.Len(t, finished, 1)
	require.Equal(t, "error", finished[0]["level"])
	require.Equal(t, "Internal", finished[0]["code"])

	// The server survived.
	_, _, err = callOK(t.Context(), conn)
	require.NoError(t, err)
}

func TestInterceptors_Metrics(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, testServerConfig{})
	conn := dialTest(t, ts.Addr, nil)
	ctx := t.Context()

	for range 2 {
		_, _, err := callOK(ctx, conn)
		require.NoError(t, err)
	}
	err := conn.Invoke(ctx, methodNotFound, wrapperspb.String(""), new(wrapperspb.StringValue))
	require.Equal(t, codes.NotFound, status.Code(err))
	err = conn.Invoke(ctx, methodPanic, wrapperspb.String(""), new(wrapperspb.StringValue))
	require.Equal(t, codes.Internal, status.Code(err))
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = receiveCount(ctx, conn, 2)
	require.NoError(t, err)

	require.Equal(t, 5, testutil.CollectAndCount(ts.RequestDuration, "jq_grpc_request_duration_seconds"), "series")
	got := histogramCounts(t, ts)
	want := map[string]uint64{
		"TestService/Ok OK":              2,
		"TestService/NotFound NotFound":  1,
		"TestService/Panic Internal":     1,
		"TestService/Count OK":           1,
		"grpc.health.v1.Health/Check OK": 1,
	}
	require.Equal(t, want, got, "samples by method and code")
}

func TestInterceptors_NilRequestDuration(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, testServerConfig{NoMetrics: true})
	conn := dialTest(t, ts.Addr, nil)

	_, _, err := callOK(t.Context(), conn)
	require.NoError(t, err)
	err = conn.Invoke(t.Context(), methodPanic, wrapperspb.String(""), new(wrapperspb.StringValue))
	require.Equal(t, codes.Internal, status.Code(err))
	require.Len(t, ts.LogLinesFor(t, "rpc finished", "TestService/Ok"), 1)
}

func TestInterceptors_LogLine(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, testServerConfig{})
	conn := dialTest(t, ts.Addr, nil)
	ctx := t.Context()

	_, _, err := callOK(ctx, conn)
	require.NoError(t, err)
	err = conn.Invoke(ctx, methodNotFound, wrapperspb.String(""), new(wrapperspb.StringValue))
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)

	ok := ts.LogLinesFor(t, "rpc finished", "TestService/Ok")
	require.Len(t, ok, 1)
	require.Equal(t, "info", ok[0]["level"])
	require.Equal(t, "OK", ok[0]["code"])
	require.Contains(t, ok[0], "duration_ms")
	require.True(t, strings.HasPrefix(ok[0]["peer"].(string), "127.0.0.1:"), "got peer %v, want 127.0.0.1:port", ok[0]["peer"])
	require.NotContains(t, ok[0], "error")

	notFound := ts.LogLinesFor(t, "rpc finished", "TestService/NotFound")
	require.Len(t, notFound, 1)
	require.Equal(t, "info", notFound[0]["level"])
	require.Equal(t, "NotFound", notFound[0]["code"])
	require.Equal(t, "no such thing", notFound[0]["error"])

	check := ts.LogLinesFor(t, "rpc finished", "grpc.health.v1.Health/Check")
	require.Len(t, check, 1)
	require.Equal(t, "debug", check[0]["level"])
}

func TestInterceptors_Stream(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, testServerConfig{})
	conn := dialTest(t, ts.Addr, nil)

	ctx := metadata.AppendToOutgoingContext(t.Context(), CorrelationIDKey, "stream-7")
	header, err := receiveCount(ctx, conn, 3)
	require.NoError(t, err)
	require.Equal(t, []string{"stream-7"}, header.Get(CorrelationIDKey))

	lines := ts.LogLinesFor(t, "stream finished", "TestService/Count")
	require.Len(t, lines, 1, "one line per stream")
	require.Equal(t, "info", lines[0]["level"])
	require.Equal(t, "OK", lines[0]["code"])
	require.Equal(t, "stream-7", lines[0]["correlation_id"])
	require.Contains(t, lines[0], "duration_ms")
}

func TestValidCorrelationID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"abc-123", true},
		{"3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a2b", true},
		{"pod.jq-worker-0:42_a", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"abc 123", false},
		{"abc/123", false},
		{"abc\n123", false},
		{"héllo", false},
	} {
		if got := validCorrelationID(tt.id); got != tt.want {
			t.Errorf("validCorrelationID(%q): got %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestMethodLabel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ fullMethod, want string }{
		{"/jq.v1.JobService/SubmitJob", "JobService/SubmitJob"},
		{"/jq.v1.WorkerService/Heartbeat", "WorkerService/Heartbeat"},
		{"/grpc.health.v1.Health/Check", "grpc.health.v1.Health/Check"},
		{"/jq.v2.JobService/SubmitJob", "jq.v2.JobService/SubmitJob"},
	} {
		if got := methodLabel(tt.fullMethod); got != tt.want {
			t.Errorf("methodLabel(%q): got %q, want %q", tt.fullMethod, got, tt.want)
		}
	}
}

func TestLogLevel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		method string
		code   codes.Code
		want   slog.Level
	}{
		{"JobService/SubmitJob", codes.OK, slog.LevelInfo},
		{"JobService/SubmitJob", codes.NotFound, slog.LevelInfo},
		{"JobService/SubmitJob", codes.Internal, slog.LevelError},
		{"JobService/SubmitJob", codes.Unknown, slog.LevelError},
		{"JobService/SubmitJob", codes.DataLoss, slog.LevelError},
		{"WorkerService/Heartbeat", codes.OK, slog.LevelDebug},
		{"WorkerService/Heartbeat", codes.NotFound, slog.LevelDebug},
		{"WorkerService/Heartbeat", codes.Internal, slog.LevelError},
		{"grpc.health.v1.Health/Check", codes.OK, slog.LevelDebug},
	} {
		if got := logLevel(tt.method, tt.code); got != tt.want {
			t.Errorf("logLevel(%q, %v): got %v, want %v", tt.method, tt.code, got, tt.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{status.Error(codes.NotFound, "x"), codes.NotFound},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("plain"), codes.Unknown},
	} {
		if got := statusOf(tt.err).Code(); got != tt.want {
			t.Errorf("statusOf(%v): got %v, want %v", tt.err, got, tt.want)
		}
	}
}

// receiveCount calls the Count stream for n messages, checks it gets 0 to n-1 and returns the
// response headers.
func receiveCount(ctx context.Context, conn *grpclib.ClientConn, n int32) (metadata.MD, error) {
	stream, err := conn.NewStream(ctx, &grpclib.StreamDesc{ServerStreams: true}, methodCount)
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(wrapperspb.Int32(n)); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	var next int32
	for {
		var msg wrapperspb.Int32Value
		err := stream.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if msg.GetValue() != next {
			return nil, errors.New("count out of order")
		}
		next++
	}
	if next != n {
		return nil, errors.New("count cut short")
	}
	return stream.Header()
}

// histogramCounts returns the sample count of each series of jq_grpc_request_duration_seconds,
// keyed "method code".
func histogramCounts(t *testing.T, ts *testServer) map[string]uint64 {
	t.Helper()
	families, err := ts.Registry.Gather()
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, mf := range families {
		if mf.GetName() != "jq_grpc_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[labelValue(m, "method")+" "+labelValue(m, "code")] = m.GetHistogram().GetSampleCount()
		}
	}
	return counts
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func requireUUID(t *testing.T, s string) {
	t.Helper()
	_, err := uuid.Parse(s)
	require.NoError(t, err, "got %q, want a UUID", s)
}
