package server

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/queue"
)

// newAuthenticator builds the gRPC authenticator of cfg.Auth. Auth mode none is refused on an
// address other hosts can reach unless auth.insecure_allow_none says otherwise, and warned
// about at every start either way.
func newAuthenticator(cfg *config.Config, tls bool, store *queue.Store, logger *slog.Logger) (*jqgrpc.Authenticator, error) {
	a := cfg.Auth
	local := loopback(cfg.GRPC.Host)
	switch a.Mode {
	case jqgrpc.AuthNone:
		if !local && !a.InsecureAllowNone {
			return nil, fmt.Errorf("auth.mode none on grpc.host %q would let anyone who reaches the port run commands on every worker: "+
				"listen on 127.0.0.1, or set auth.insecure_allow_none (--insecure-allow-none) if you really mean it", cfg.GRPC.Host)
		}
		logger.Warn("auth.mode is none: every caller is an admin, with no credential (local development only)",
			"grpc_host", cfg.GRPC.Host)
	case jqgrpc.AuthToken:
		if !tls && !local {
			logger.Warn("API keys reach this server in plaintext: terminate TLS in front of it (a load balancer, a mesh) or set grpc.tls_cert_file",
				"grpc_host", cfg.GRPC.Host)
		}
	}
	roles := make([]config.MTLSRole, 0, len(a.MTLSRoles))
	for _, m := range a.MTLSRoles {
		r, err := config.ParseMTLSRole(m)
		if err != nil {
			return nil, fmt.Errorf("auth.mtls_roles: %w", err)
		}
		roles = append(roles, r)
	}
	return jqgrpc.NewAuthenticator(jqgrpc.AuthConfig{Mode: a.Mode, CacheTTL: a.KeyCacheTTL.Std(), MTLSRoles: roles}, store, logger)
}

// loopback reports whether host is reachable only from this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
