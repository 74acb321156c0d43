package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/status"

	jqclient "github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/logging"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// client is a connection to jq-server with the per-call deadline of --timeout.
type client struct {
	conn    *grpclib.ClientConn
	jobs    jqv1.JobServiceClient
	admin   jqv1.AdminServiceClient
	addr    string
	timeout time.Duration
}

// connect returns a client of the jq-server at --server-addr. Like grpc.NewClient it does not
// connect: the first call does, and reports an unreachable server.
func (a *app) connect() (*client, error) {
	creds, err := jqclient.TLS(a.g.tlsCA, a.g.tlsCert, a.g.tlsKey, a.g.tlsServerName)
	if err != nil {
		return nil, failf(exitInvalid, "%v", err)
	}
	tokenFile := a.g.tokenFile
	if a.g.token == "" && tokenFile == "" {
		tokenFile = defaultTokenFile()
	}
	token, err := jqclient.ReadToken(a.g.token, tokenFile)
	if err != nil {
		return nil, failf(exitInvalid, "--token-file: %v", err)
	}
	conn, err := jqclient.Dial(a.g.serverAddr, jqclient.Options{TLS: creds, Token: token}, grpclib.WithChainUnaryInterceptor(a.logCall))
	if err != nil {
		return nil, failf(exitInvalid, "--server-addr %q: %v", a.g.serverAddr, err)
	}
	return &client{
		conn:    conn,
		jobs:    jqv1.NewJobServiceClient(conn),
		admin:   jqv1.NewAdminServiceClient(conn),
		addr:    a.g.serverAddr,
		timeout: a.g.timeout,
	}, nil
}

func (c *client) Close() { _ = c.conn.Close() }

// defaultTokenFile is the key jq-ctl uses when none is given: $XDG_CONFIG_HOME/jq/token (else
// ~/.config/jq/token) when that file exists. `make run` keeps its local admin key there.
func defaultTokenFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(dir, "jq", "token")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// call makes one RPC within --timeout and turns its error into jq-ctl's message and exit code.
func call[Req, Resp any](ctx context.Context, c *client, rpc func(context.Context, Req, ...grpclib.CallOption) (Resp, error), req Req) (Resp, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := rpc(ctx, req)
	if err != nil {
		var zero Resp
		return zero, rpcError(err, c.addr, c.timeout)
	}
	return resp, nil
}

// withCorrelationID tags every call of this invocation with one id, which jq-server logs with
// each line about the request: --log-level debug prints it.
func withCorrelationID(ctx context.Context) context.Context {
	return logging.WithCorrelationID(ctx, uuid.NewString())
}

// logCall logs each RPC at debug level.
func (a *app) logCall(ctx context.Context, method string, req, reply any, cc *grpclib.ClientConn, invoker grpclib.UnaryInvoker, opts ...grpclib.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	a.logger.DebugContext(ctx, "rpc", "method", method, "code", status.Code(err).String(),
		"duration", time.Since(start).Round(time.Microsecond), "server", cc.Target(),
		"correlation_id", logging.CorrelationID(ctx))
	return err
}

// callOnID runs the one RPC of a command that takes exactly one id (`jq-ctl job status ID`):
// it checks the argument, parses it, connects, and calls rpc with it.
func callOnID[Resp any](ctx context.Context, a *app, path, argName string, args []string,
	parse func(string) (string, error), rpc func(ctx context.Context, cl *client, id string) (Resp, error),
) (string, Resp, error) {
	var zero Resp
	if err := wantArgs(path, args, argName); err != nil {
		return "", zero, err
	}
	id, err := parse(args[0])
	if err != nil {
		return "", zero, err
	}
	cl, err := a.connect()
	if err != nil {
		return "", zero, err
	}
	defer cl.Close()
	resp, err := rpc(ctx, cl, id)
	return id, resp, err
}
