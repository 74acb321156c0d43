package grpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/jqhq/jq/client"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// ServerConfig is the transport's configuration.
type ServerConfig struct {
	// Addr is host:port to listen on; port 0 picks a free one.
	Addr string
	// Creds enables TLS (and mutual TLS); nil serves plaintext.
	Creds credentials.TransportCredentials
	// MaxRecvMsgBytes bounds one request; it must exceed the payload limit.
	MaxRecvMsgBytes int
	// MaxConcurrentStreams bounds the calls in flight on one client connection
	// (grpc.max_streams_per_conn); 0 is grpc-go's default (no limit).
	MaxConcurrentStreams uint32
	// Keepalive is how the server pings idle connections and how often clients may ping.
	Keepalive Keepalive
	// Auth authorizes every call; required (auth mode none is an Authenticator too).
	Auth *Authenticator
}

// Keepalive is the server's keepalive: it pings a connection idle for Time and closes it when
// no answer comes within Timeout; a client pinging more often than MinTime is disconnected.
type Keepalive struct {
	Time, Timeout, MinTime time.Duration
}

// DefaultKeepalive matches client.Dial's pings (every 30 s): clients may ping every 15 s.
var DefaultKeepalive = Keepalive{Time: time.Minute, Timeout: 20 * time.Second, MinTime: 15 * time.Second}

// streamWorkers is the number of goroutines kept to run calls: about the ReportResult calls a
// busy worker has in flight.
const streamWorkers = 256

// Server is jq-server's gRPC transport: the three jq services, the standard health service
// and server reflection (so grpcurl, grpc-health-probe and ghz work without our .proto
// files), behind the interceptor chain.
type Server struct {
	srv     *grpclib.Server
	health  *health.Server
	workers *WorkerService
	logger  *slog.Logger
	cfg     ServerConfig
	lis     net.Listener
	served  chan error
}

// NewServer assembles the transport. requestDuration (may be nil) is
// jq_grpc_request_duration_seconds.
func NewServer(cfg ServerConfig, logger *slog.Logger, requestDuration prometheus.ObserverVec,
	jobs *JobService, workers *WorkerService, admin *AdminService,
) (*Server, error) {
	if cfg.Auth == nil {
		return nil, errors.New("grpc: an Authenticator is required")
	}
	if cfg.Keepalive == (Keepalive{}) {
		cfg.Keepalive = DefaultKeepalive
	}
	if cfg.Keepalive.MinTime >= client.KeepaliveTime {
		return nil, fmt.Errorf("grpc.keepalive_min_time %s must stay below %s, how often jq's clients ping, or the server would disconnect them",
			cfg.Keepalive.MinTime, client.KeepaliveTime)
	}
	opts := ServerOptions(logger, requestDuration, cfg.Auth)
	opts = append(opts, ServerKeepalive(cfg.Keepalive)...)
	if cfg.MaxConcurrentStreams > 0 {
		opts = append(opts, grpclib.MaxConcurrentStreams(cfg.MaxConcurrentStreams))
	}
	// Reuse handler goroutines (their stacks are already grown) instead of starting one per
	// call; calls beyond the pool still get their own goroutine.
	opts = append(opts, grpclib.NumStreamWorkers(streamWorkers))
	if cfg.Creds != nil {
		opts = append(opts, grpclib.Creds(cfg.Creds))
	}
	if cfg.MaxRecvMsgBytes > 0 {
		opts = append(opts, grpclib.MaxRecvMsgSize(cfg.MaxRecvMsgBytes))
	}
	srv := grpclib.NewServer(opts...)
	jqv1.RegisterJobServiceServer(srv, jobs)
	jqv1.RegisterWorkerServiceServer(srv, workers)
	jqv1.RegisterAdminServiceServer(srv, admin)
	h := health.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	reflection.Register(srv)
	return &Server{srv: srv, health: h, workers: workers, logger: logger, cfg: cfg, served: make(chan error, 1)}, nil
}

// ServerKeepalive returns the server options of k.
func ServerKeepalive(k Keepalive) []grpclib.ServerOption {
	return []grpclib.ServerOption{
		grpclib.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: k.MinTime, PermitWithoutStream: true}),
		grpclib.KeepaliveParams(keepalive.ServerParameters{Time: k.Time, Timeout: k.Timeout}),
	}
}

// Listen binds the address (so a port conflict is reported at once) and serves in the
// background.
func (s *Server) Listen() error {
	lis, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("grpc listen %s: %w", s.cfg.Addr, err)
	}
	s.lis = lis
	for _, svc := range []string{"", jqv1.JobService_ServiceDesc.ServiceName, jqv1.WorkerService_ServiceDesc.ServiceName, jqv1.AdminService_ServiceDesc.ServiceName} {
		s.health.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	go func() { s.served <- s.srv.Serve(lis) }()
	return nil
}

// Addr is the bound address, after Listen.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// SetNotServing flips the gRPC health service to NOT_SERVING, for a server shutting down.
func (s *Server) SetNotServing() { s.health.Shutdown() }

// Shutdown stops taking RPCs, ends the worker streams (workers reconnect and keep their jobs),
// waits up to grace for RPCs in flight, then closes what is left.
func (s *Server) Shutdown(grace time.Duration) {
	s.health.Shutdown()
	s.workers.Close()
	done := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.logger.Warn("grpc: RPCs still running after the grace period; closing them", "grace", grace.String())
		s.srv.Stop()
		<-done
	}
	if s.lis != nil {
		if err := <-s.served; err != nil {
			s.logger.Warn("grpc: serve ended with an error", "error", err)
		}
	}
}

// Stop closes every connection at once.
func (s *Server) Stop(context.Context) { s.srv.Stop() }
