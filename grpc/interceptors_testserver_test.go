package grpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/jqhq/jq/client"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jqhq/jq/internal/logging"
)

// The test service stands in for jq's own services. It lives in jq.v1 so that its method names
// are shortened the way jq's are.
const (
	methodOK       = "/jq.v1.TestService/Ok"
	methodPanic    = "/jq.v1.TestService/Panic"
	methodNotFound = "/jq.v1.TestService/NotFound"
	methodCount    = "/jq.v1.TestService/Count"
	methodHealth   = "/grpc.health.v1.Health/Check"
)

// panicValue is what the Panic method panics with; it must reach the log and never the client.
const panicValue = "boom: secret-value"

var testServiceDesc = grpclib.ServiceDesc{
	ServiceName: "jq.v1.TestService",
	HandlerType: (*any)(nil),
	Methods: []grpclib.MethodDesc{
		{
			// Ok answers with the correlation id its context carries.
			MethodName: "Ok",
			Handler: testUnaryHandler(methodOK, func(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				return wrapperspb.String(logging.CorrelationID(ctx)), nil
			}),
		},
		{
			MethodName: "Panic",
			Handler: testUnaryHandler(methodPanic, func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				panic(panicValue)
			}),
		},
		{
			MethodName: "NotFound",
			Handler: testUnaryHandler(methodNotFound, func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				return nil, status.Error(codes.NotFound, "no such thing")
			}),
		},
	},
	Streams: []grpclib.StreamDesc{
		{
			// Count sends the numbers 0 to n-1, n being the request.
			StreamName:    "Count",
			ServerStreams: true,
			Handler: func(_ any, stream grpclib.ServerStream) error {
				var n wrapperspb.Int32Value
				if err := stream.RecvMsg(&n); err != nil {
					return err
				}
				for i := range n.GetValue() {
					if err := stream.SendMsg(wrapperspb.Int32(i)); err != nil {
						return err
					}
				}
				return nil
			},
		},
	},
}

// testUnaryHandler adapts fn to a grpc.MethodHandler, doing what generated code does.
func testUnaryHandler(fullMethod string, fn func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)) grpclib.MethodHandler {
	return func(_ any, ctx context.Context, dec func(any) error, interceptor grpclib.UnaryServerInterceptor) (any, error) {
		req := new(wrapperspb.StringValue)
		if err := dec(req); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return fn(ctx, req)
		}
		info := &grpclib.UnaryServerInfo{FullMethod: fullMethod}
		return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return fn(ctx, req.(*wrapperspb.StringValue))
		})
	}
}

// testServer is a gRPC server on 127.0.0.1 with the interceptor chain, the health service and
// the test service.
type testServer struct {
	Addr            string
	Logs            *syncBuffer
	Registry        *prometheus.Registry
	RequestDuration *prometheus.HistogramVec
}

// testServerConfig tunes startTestServer.
type testServerConfig struct {
	Creds     credentials.TransportCredentials // nil: plaintext
	NoMetrics bool                             // pass a nil ObserverVec to the interceptors
	Auth      *Authenticator                   // nil: no authorization
}

func startTestServer(t *testing.T, cfg testServerConfig) *testServer {
	t.Helper()
	ts := &testServer{Logs: &syncBuffer{}, Registry: prometheus.NewRegistry()}
	ts.RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "jq_grpc_request_duration_seconds",
		Help: "Duration of gRPC requests.",
	}, []string{"method", "code"})
	ts.Registry.MustRegister(ts.RequestDuration)
	logger := logging.New(ts.Logs, "jq-server", logging.Options{Level: slog.LevelDebug})

	var requestDuration prometheus.ObserverVec = ts.RequestDuration
	if cfg.NoMetrics {
		requestDuration = nil
	}
	opts := append(ServerOptions(logger, requestDuration, cfg.Auth), ServerKeepalive(DefaultKeepalive)...)
	if cfg.Creds != nil {
		opts = append(opts, grpclib.Creds(cfg.Creds))
	}
	srv := grpclib.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	srv.RegisterService(&testServiceDesc, struct{}{})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts.Addr = lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpclib.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return ts
}

// dialTest connects to addr with Dial and closes the connection when the test ends.
func dialTest(t *testing.T, addr string, creds credentials.TransportCredentials) *grpclib.ClientConn {
	t.Helper()
	conn, err := client.Dial(addr, client.Options{TLS: creds})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return conn
}

// callOK calls the Ok method and returns the correlation id its handler saw and the response
// headers.
func callOK(ctx context.Context, conn *grpclib.ClientConn) (string, metadata.MD, error) {
	var (
		reply  wrapperspb.StringValue
		header metadata.MD
	)
	err := conn.Invoke(ctx, methodOK, wrapperspb.String(""), &reply, grpclib.Header(&header))
	return reply.GetValue(), header, err
}

// LogLines returns the server's log lines, decoded.
func (ts *testServer) LogLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(ts.Logs.Bytes()))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "log line %s", sc.Text())
		lines = append(lines, line)
	}
	require.NoError(t, sc.Err())
	return lines
}

// LogLinesFor returns the lines logged for method (as it appears in logs) with message msg.
func (ts *testServer) LogLinesFor(t *testing.T, msg, method string) []map[string]any {
	t.Helper()
	var found []map[string]any
	for _, line := range ts.LogLines(t) {
		if line["message"] == msg && line["method"] == method {
			found = append(found, line)
		}
	}
	return found
}

// syncBuffer is a bytes.Buffer the server's goroutines may write to while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
