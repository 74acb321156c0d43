package grpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/logging"
)

// CorrelationIDKey is the metadata key that carries a request's correlation id (see
// client.CorrelationIDKey).
const CorrelationIDKey = client.CorrelationIDKey

// maxCorrelationIDLen bounds a client-chosen correlation id, which ends up in every log line of
// the request.
const maxCorrelationIDLen = 128

// jqPackagePrefix is stripped from method names in logs and metrics: every jq service lives in
// it, so it adds length and nothing else.
const jqPackagePrefix = "jq.v1."

// quietMethods are polled often enough that logging each call at INFO would drown the rest.
// ReportResult(s) come once per job or batch: the job's events record each outcome.
var quietMethods = map[string]bool{
	"WorkerService/Heartbeat":     true,
	"WorkerService/ReportResult":  true,
	"WorkerService/ReportResults": true,
	"grpc.health.v1.Health/Check": true,
}

// Interceptors returns the server interceptor chains, outermost first, for
// grpc.ChainUnaryInterceptor and grpc.ChainStreamInterceptor:
//
//  1. correlation id: adopts the client's x-correlation-id or makes one, puts it in the context
//     for logging.CorrelationID and returns it in a response header (in the trailers of a
//     unary call that fails, so that clients may retry it);
//  2. observation: one log line (naming the caller once authenticated) and one requestDuration
//     sample per RPC (per stream, when it ends);
//  3. authorization (when auth is not nil): the caller's credential and role, see Authenticator;
//  4. recovery: turns a handler panic into codes.Internal, logged with its stack.
//
// Authorization and recovery sit inside observation so that a refused or panicking RPC is still
// logged and counted with the code the client sees. requestDuration, labelled by method and
// code, may be nil.
func Interceptors(logger *slog.Logger, requestDuration prometheus.ObserverVec, auth *Authenticator) ([]grpclib.UnaryServerInterceptor, []grpclib.StreamServerInterceptor) {
	if logger == nil {
		logger = logging.Discard()
	}
	o := &observer{logger: logger, requestDuration: requestDuration}
	unary := []grpclib.UnaryServerInterceptor{correlationUnary, o.unary}
	stream := []grpclib.StreamServerInterceptor{correlationStream, o.stream}
	if auth != nil {
		u, s := auth.AuthInterceptors()
		unary, stream = append(unary, u), append(stream, s)
	}
	return append(unary, recoverUnary(logger)), append(stream, recoverStream(logger))
}

// ServerOptions returns the options that install the Interceptors chains on a server.
func ServerOptions(logger *slog.Logger, requestDuration prometheus.ObserverVec, auth *Authenticator) []grpclib.ServerOption {
	unary, stream := Interceptors(logger, requestDuration, auth)
	return []grpclib.ServerOption{
		grpclib.ChainUnaryInterceptor(unary...),
		grpclib.ChainStreamInterceptor(stream...),
	}
}

// incomingCorrelationID returns the client's correlation id when it is one we are willing to
// copy into our logs, or a new one.
func incomingCorrelationID(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if ids := md.Get(CorrelationIDKey); len(ids) > 0 && validCorrelationID(ids[0]) {
			return ids[0]
		}
	}
	return uuid.NewString()
}

// validCorrelationID accepts 1 to 128 characters of [A-Za-z0-9._:-]: enough for UUIDs, trace
// ids and pod names, and nothing that could forge or break a log line.
func validCorrelationID(id string) bool {
	if id == "" || len(id) > maxCorrelationIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

func correlationUnary(ctx context.Context, req any, _ *grpclib.UnaryServerInfo, handler grpclib.UnaryHandler) (any, error) {
	id := incomingCorrelationID(ctx)
	ctx = logging.WithCorrelationID(ctx, id)
	resp, err := handler(ctx, req)
	// A unary handler sends no headers itself, so these calls cannot fail. An error goes back
	// with the id in its trailers and no headers ("trailers-only"): gRPC clients never retry a
	// call whose answer had headers, and client/retry.go retries UNAVAILABLE.
	if err != nil {
		_ = grpclib.SetTrailer(ctx, metadata.Pairs(CorrelationIDKey, id))
	} else {
		_ = grpclib.SetHeader(ctx, metadata.Pairs(CorrelationIDKey, id))
	}
	return resp, err
}

func correlationStream(srv any, ss grpclib.ServerStream, _ *grpclib.StreamServerInfo, handler grpclib.StreamHandler) error {
	id := incomingCorrelationID(ss.Context())
	_ = ss.SetHeader(metadata.Pairs(CorrelationIDKey, id))
	return handler(srv, &contextStream{ServerStream: ss, ctx: logging.WithCorrelationID(ss.Context(), id)})
}

// contextStream is a ServerStream whose Context is replaced, the only way to hand a stream
// handler a context with more values in it.
type contextStream struct {
	grpclib.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// observer logs and measures each RPC.
type observer struct {
	logger          *slog.Logger
	requestDuration prometheus.ObserverVec
}

// callInfo is what the inner interceptors learn about a call for the observer's log line.
type callInfo struct {
	caller atomic.Pointer[string]
}

type callInfoKey struct{}

// noteCaller records the authenticated caller's name for the call's log line.
func noteCaller(ctx context.Context, name string) {
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		ci.caller.Store(&name)
	}
}

func (o *observer) unary(ctx context.Context, req any, info *grpclib.UnaryServerInfo, handler grpclib.UnaryHandler) (any, error) {
	start := time.Now()
	ci := &callInfo{}
	ctx = context.WithValue(ctx, callInfoKey{}, ci)
	resp, err := handler(ctx, req)
	o.observe(ctx, ci, "rpc finished", info.FullMethod, start, err)
	return resp, err
}

func (o *observer) stream(srv any, ss grpclib.ServerStream, info *grpclib.StreamServerInfo, handler grpclib.StreamHandler) error {
	start := time.Now()
	ci := &callInfo{}
	ctx := context.WithValue(ss.Context(), callInfoKey{}, ci)
	err := handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	o.observe(ctx, ci, "stream finished", info.FullMethod, start, err)
	return err
}

func (o *observer) observe(ctx context.Context, ci *callInfo, msg, fullMethod string, start time.Time, err error) {
	elapsed := time.Since(start)
	method := methodLabel(fullMethod)
	st := statusOf(err)
	code := st.Code().String()

	if o.requestDuration != nil {
		obs, lerr := o.requestDuration.GetMetricWithLabelValues(method, code)
		if lerr != nil {
			// A mislabelled histogram is a wiring bug; say so rather than crash the server.
			o.logger.ErrorContext(ctx, "observe grpc request duration", slog.String("method", method), slog.Any("error", lerr))
		} else {
			obs.Observe(elapsed.Seconds())
		}
	}

	level := logLevel(method, st.Code())
	if !o.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code),
		logging.Since(start),
		slog.String("peer", peerAddr(ctx)),
	}
	if name := ci.caller.Load(); name != nil {
		attrs = append(attrs, slog.String("caller", *name))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", st.Message()))
	}
	o.logger.LogAttrs(ctx, level, msg, attrs...)
}

// methodLabel turns "/jq.v1.JobService/SubmitJob" into "JobService/SubmitJob". Services of other
// packages keep their package ("grpc.health.v1.Health/Check") so that no two names collide.
func methodLabel(fullMethod string) string {
	return strings.TrimPrefix(strings.TrimPrefix(fullMethod, "/"), jqPackagePrefix)
}

// statusOf is the status the client receives for err, converted the way grpc-go converts it.
func statusOf(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	return status.FromContextError(err)
}

func logLevel(method string, code codes.Code) slog.Level {
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	}
	if quietMethods[method] {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// errInternal is what a client sees of a panic: the panic value may hold anything, secrets
// included, so it stays in the server's log.
var errInternal = status.Error(codes.Internal, "internal error")

func recoverUnary(logger *slog.Logger) grpclib.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpclib.UnaryServerInfo, handler grpclib.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logPanic(ctx, logger, info.FullMethod, r)
				resp, err = nil, errInternal
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(logger *slog.Logger) grpclib.StreamServerInterceptor {
	return func(srv any, ss grpclib.ServerStream, info *grpclib.StreamServerInfo, handler grpclib.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logPanic(ss.Context(), logger, info.FullMethod, r)
				err = errInternal
			}
		}()
		return handler(srv, ss)
	}
}

func logPanic(ctx context.Context, logger *slog.Logger, fullMethod string, r any) {
	logger.ErrorContext(ctx, "panic in grpc handler",
		slog.String("method", methodLabel(fullMethod)),
		slog.String("panic", fmt.Sprint(r)),
		slog.String("stack", string(debug.Stack())),
	)
}
