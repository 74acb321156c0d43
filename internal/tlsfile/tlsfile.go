// Package tlsfile reads TLS certificates, keys and CA bundles from PEM files with errors that
// name the file at fault. The server's and the clients' TLS set-ups both use it.
package tlsfile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// KeyPair reads a certificate and its key, checking each file on its own first so that an
// error names the file at fault.
func KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := read(certFile, "CERTIFICATE")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := read(keyFile, "PRIVATE KEY")
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// CertPool reads a PEM bundle of CA certificates.
func CertPool(file string) (*x509.CertPool, error) {
	data, err := read(file, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls: %s: no valid CA certificate", file)
	}
	return pool, nil
}

// read reads file and checks that it holds a PEM block whose type ends with typeSuffix
// ("PRIVATE KEY" matches PKCS #8, RSA and EC keys).
func read(file, typeSuffix string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		// The *fs.PathError already names the file.
		return nil, fmt.Errorf("tls: %w", err)
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("tls: %s: no PEM %s block", file, typeSuffix)
		}
		if strings.HasSuffix(block.Type, typeSuffix) {
			return data, nil
		}
	}
}
