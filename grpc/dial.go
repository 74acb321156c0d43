package grpc

import (
	"fmt"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Keepalive timing shared by Dial and ServerKeepalive. A worker's stream may sit idle for a long
// time while NATs and load balancers drop idle connections silently; pings keep the path open and
// find a dead peer within clientKeepaliveTime+clientKeepaliveTimeout.
const (
	clientKeepaliveTime    = 30 * time.Second
	clientKeepaliveTimeout = 10 * time.Second

	// serverMinPingInterval must stay below clientKeepaliveTime, or the server answers a
	// well-behaved client's pings with GOAWAY "too_many_pings".
	serverMinPingInterval = 15 * time.Second

	serverKeepaliveTime    = time.Minute
	serverKeepaliveTimeout = 20 * time.Second
)

// DefaultMaxRecvMsgSize is the largest message Dial's connections accept, above grpc-go's 4 MiB
// default so that a job's payload and captured output fit.
const DefaultMaxRecvMsgSize = 16 << 20

// Dial returns a client connection to target (host:port, or any grpc-go target) with the
// correlation id interceptors, keepalive suited to long-lived worker streams and a 16 MiB receive
// limit. creds nil means plaintext. opts come last and so override these defaults. Like
// grpc.NewClient, Dial does not connect: the first RPC does.
func Dial(target string, creds credentials.TransportCredentials, opts ...grpclib.DialOption) (*grpclib.ClientConn, error) {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	unary, stream := ClientCorrelationInterceptors()
	all := append([]grpclib.DialOption{
		grpclib.WithTransportCredentials(creds),
		grpclib.WithChainUnaryInterceptor(unary),
		grpclib.WithChainStreamInterceptor(stream),
		grpclib.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                clientKeepaliveTime,
			Timeout:             clientKeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpclib.WithDefaultCallOptions(grpclib.MaxCallRecvMsgSize(DefaultMaxRecvMsgSize)),
	}, opts...)
	conn, err := grpclib.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

// ServerKeepalive returns the server options matching Dial's keepalive: clients may ping every
// 15 s, even without an active RPC, and the server pings a connection idle for a minute,
// closing it when no answer comes within 20 s.
func ServerKeepalive() []grpclib.ServerOption {
	return []grpclib.ServerOption{
		grpclib.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             serverMinPingInterval,
			PermitWithoutStream: true,
		}),
		grpclib.KeepaliveParams(keepalive.ServerParameters{
			Time:    serverKeepaliveTime,
			Timeout: serverKeepaliveTimeout,
		}),
	}
}
