// Package client is how programs reach jq-server: dialing with TLS and an API key, the
// correlation id that follows a request into the server's logs, keepalive suited to long-lived
// worker streams, and a small Client over JobService for Go programs that submit jobs. It links
// neither the server nor PostgreSQL's driver, so the embeddable worker and jq-ctl stay small.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/tlsfile"
)

// CorrelationIDKey is the metadata key that carries a request's correlation id, in both
// directions: a client may send one, and the server always answers with the one it used in a
// response header.
const CorrelationIDKey = "x-correlation-id"

// Keepalive timing of the connections Dial makes. A worker's stream may sit idle for a long
// time while NATs and load balancers drop idle connections silently; pings keep the path open and
// find a dead peer within KeepaliveTime+KeepaliveTimeout. A server must let clients ping this
// often (its grpc.keepalive_min_time must stay below KeepaliveTime), or it answers with GOAWAY
// "too_many_pings".
const (
	KeepaliveTime    = 30 * time.Second
	KeepaliveTimeout = 10 * time.Second
)

// DefaultMaxRecvMsgSize is the largest message Dial's connections accept, above grpc-go's 4 MiB
// default so that a job's payload and captured output fit.
const DefaultMaxRecvMsgSize = 16 << 20

// Options say how to reach jq-server.
type Options struct {
	// TLS enables TLS (see TLS); nil is plaintext.
	TLS credentials.TransportCredentials
	// Token is the API key sent as "authorization: Bearer KEY" with every call; empty sends
	// none (a server in auth mode token refuses such calls with UNAUTHENTICATED).
	Token string
}

// Dial returns a client connection to target (host:port, or any grpc-go target) with the
// options' credentials, the correlation id interceptors, keepalive suited to long-lived worker
// streams and a 16 MiB receive limit. opts come last and so override these defaults. Like
// grpc.NewClient, Dial does not connect: the first RPC does.
func Dial(target string, o Options, opts ...grpclib.DialOption) (*grpclib.ClientConn, error) {
	creds := o.TLS
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	unary, stream := CorrelationInterceptors()
	all := []grpclib.DialOption{
		grpclib.WithTransportCredentials(creds),
		grpclib.WithChainUnaryInterceptor(unary),
		grpclib.WithChainStreamInterceptor(stream),
		grpclib.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                KeepaliveTime,
			Timeout:             KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpclib.WithDefaultCallOptions(grpclib.MaxCallRecvMsgSize(DefaultMaxRecvMsgSize)),
	}
	if o.Token != "" {
		all = append(all, grpclib.WithPerRPCCredentials(bearer{token: o.Token, secure: o.TLS != nil}))
	}
	all = append(all, retryOptions()...) // client/retry.go: calls safe to repeat are retried on UNAVAILABLE
	conn, err := grpclib.NewClient(target, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

// bearer sends an API key with every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false: jq-server often sits behind a load balancer that
// terminates TLS, or next to its workers on a private network, and a plaintext listener there
// must still accept keys. docs/security.md says when that is acceptable.
func (b bearer) RequireTransportSecurity() bool { return false }

// TLS returns transport credentials for a client of jq-server: nil when every argument is
// empty (plaintext), TLS 1.2 or later otherwise. caFile is the CA the server's certificate must
// chain to (the system roots when empty); certFile and keyFile are the client certificate for
// mutual TLS; serverName, when set, is the name verified instead of the host of the address
// dialled.
func TLS(caFile, certFile, keyFile, serverName string) (credentials.TransportCredentials, error) {
	if caFile == "" && certFile == "" && keyFile == "" && serverName == "" {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
	}
	if caFile != "" {
		pool, err := tlsfile.CertPool(caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tlsfile.KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, errors.New("tls: client certificate and key must be set together")
	}
	return credentials.NewTLS(tc), nil
}

// CorrelationInterceptors return client interceptors that send the correlation id carried by
// the context (logging.WithCorrelationID) as x-correlation-id, so that one id follows a request
// from the worker or jq-ctl into jq-server's logs. Metadata the caller already set wins.
func CorrelationInterceptors() (grpclib.UnaryClientInterceptor, grpclib.StreamClientInterceptor) {
	unary := func(ctx context.Context, method string, req, reply any, cc *grpclib.ClientConn, invoker grpclib.UnaryInvoker, opts ...grpclib.CallOption) error {
		return invoker(outgoingCorrelationID(ctx), method, req, reply, cc, opts...)
	}
	stream := func(ctx context.Context, desc *grpclib.StreamDesc, cc *grpclib.ClientConn, method string, streamer grpclib.Streamer, opts ...grpclib.CallOption) (grpclib.ClientStream, error) {
		return streamer(outgoingCorrelationID(ctx), desc, cc, method, opts...)
	}
	return unary, stream
}

func outgoingCorrelationID(ctx context.Context) context.Context {
	id := logging.CorrelationID(ctx)
	if id == "" {
		return ctx
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(CorrelationIDKey)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, CorrelationIDKey, id)
}
