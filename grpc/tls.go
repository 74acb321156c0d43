package grpc

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"

	"github.com/jqhq/jq/internal/config"
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
	cert, err := loadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if cfg.TLSClientCAFile != "" {
		pool, err := loadCertPool(cfg.TLSClientCAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(tc), nil
}

// ClientCredentials returns the transport credentials of a client of jq-server: nil when every
// argument is empty (plaintext), TLS 1.2 or later otherwise. caFile is the CA the server's
// certificate must chain to (the system roots when empty); certFile and keyFile are the client
// certificate for mutual TLS; serverName, when set, is the name verified instead of the host of
// the address dialled.
func ClientCredentials(caFile, certFile, keyFile, serverName string) (credentials.TransportCredentials, error) {
	if caFile == "" && certFile == "" && keyFile == "" && serverName == "" {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
	}
	if caFile != "" {
		pool, err := loadCertPool(caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, errors.New("grpc tls: client certificate and key must be set together")
	}
	return credentials.NewTLS(tc), nil
}

// loadKeyPair reads a certificate and its key, checking each file on its own first so that an
// error names the file at fault.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEM(certFile, "CERTIFICATE")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEM(keyFile, "PRIVATE KEY")
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("grpc tls: certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// loadCertPool reads a PEM bundle of CA certificates.
func loadCertPool(file string) (*x509.CertPool, error) {
	data, err := readPEM(file, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("grpc tls: %s: no valid CA certificate", file)
	}
	return pool, nil
}

// readPEM reads file and checks that it holds a PEM block whose type ends with typeSuffix
// ("PRIVATE KEY" matches PKCS #8, RSA and EC keys).
func readPEM(file, typeSuffix string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		// The *fs.PathError already names the file.
		return nil, fmt.Errorf("grpc tls: %w", err)
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("grpc tls: %s: no PEM %s block", file, typeSuffix)
		}
		if strings.HasSuffix(block.Type, typeSuffix) {
			return data, nil
		}
	}
}
