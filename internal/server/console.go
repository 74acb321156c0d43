package server

import (
	"fmt"
	"log/slog"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/console"
	"github.com/jqhq/jq/internal/httpserve"
)

// newConsole builds the console's listener (ui.*), or nil when the console is off. Like the
// gRPC port, it refuses auth mode none beyond loopback unless told otherwise, and warns when
// API keys would reach it in clear.
func (s *Server) newConsole(jobs *jqgrpc.JobService, admin *jqgrpc.AdminService) (*httpserve.Server, error) {
	cfg := s.cfg
	if !cfg.UI.Enabled {
		return nil, nil
	}
	local := loopback(cfg.UI.Host)
	switch {
	case cfg.Auth.Mode == jqgrpc.AuthNone && !local && !cfg.Auth.InsecureAllowNone:
		return nil, fmt.Errorf("auth.mode none on ui.host %q would let anyone who reaches the console act as an admin: "+
			"listen on 127.0.0.1, or set auth.insecure_allow_none (--insecure-allow-none) if you really mean it", cfg.UI.Host)
	case cfg.Auth.Mode != jqgrpc.AuthNone && !local:
		s.logger.Warn("the console takes API keys over plain HTTP: terminate TLS in front of it (an ingress, a load balancer)",
			slog.String("ui_host", cfg.UI.Host))
	}
	c, err := console.New(console.Config{PathPrefix: cfg.UI.PathPrefix, SessionTTL: cfg.UI.SessionTTL.Std()}, console.Deps{
		DB: s.pool, Auth: s.auth, Jobs: jobs, Admin: admin, Logger: s.logger.With(slog.String("component", "console")),
	})
	if err != nil {
		return nil, err
	}
	return httpserve.New(config.Address(cfg.UI.Host, cfg.UI.Port), c, s.logger), nil
}

// ConsoleURL is the console's address after Start (http://host:port/prefix/), or "" when the
// console is off.
func (s *Server) ConsoleURL() string {
	if s.console == nil {
		return ""
	}
	return "http://" + s.console.Addr().String() + s.cfg.UI.PathPrefix + "/"
}
