package grpc

import (
	"crypto/tls"
	"errors"

	"google.golang.org/grpc/credentials"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/tlsfile"
)

// ServerCredentials returns jq-server's transport credentials: nil when no certificate is
// configured (plaintext), TLS 1.2 or later with cfg.TLSCertFile and cfg.TLSKeyFile otherwise, and
// mutual TLS, requiring a client certificate that chains to cfg.TLSClientCAFile, when that is set.
func ServerCredentials(cfg config.GRPCConfig) (credentials.TransportCredentials, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" && cfg.TLSClientCAFile == "" {
		return nil, nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		// Mutual TLS is TLS first: a client CA alone does not make a server certificate.
		return nil, errors.New("grpc tls: tls_cert_file and tls_key_file must both be set to serve TLS")
	}
	cert, err := tlsfile.KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if cfg.TLSClientCAFile != "" {
		pool, err := tlsfile.CertPool(cfg.TLSClientCAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(tc), nil
}
