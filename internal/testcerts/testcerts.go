// Package testcerts makes, at test time, a CA and certificates it signs, as PEM files in the
// test's temporary folder: a server certificate for localhost and 127.0.0.1, and client
// certificates with the names a test asks for.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Certs are the PEM files of a CA, a server certificate and a client certificate (CN
// jq-worker), and what it takes to issue more client certificates.
type Certs struct {
	CAFile         string
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string
	ClientKeyFile  string

	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial atomic.Int64
}

// New makes a CA, a server certificate and a client certificate.
func New(tb testing.TB) *Certs {
	tb.Helper()
	c := &Certs{dir: tb.TempDir(), caKey: newKey(tb)}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jq test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &c.caKey.PublicKey, c.caKey)
	check(tb, err)
	c.ca, err = x509.ParseCertificate(caDER)
	check(tb, err)
	c.serial.Store(1)
	c.CAFile = c.write(tb, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	c.ServerCertFile, c.ServerKeyFile = c.issue(tb, "server", "localhost", x509.ExtKeyUsageServerAuth,
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	c.ClientCertFile, c.ClientKeyFile = c.Client(tb, "jq-worker")
	return c
}

// Client issues a client certificate with common name cn and DNS names dnsNames, and returns
// its certificate and key files.
func (c *Certs) Client(tb testing.TB, cn string, dnsNames ...string) (certFile, keyFile string) {
	tb.Helper()
	return c.issue(tb, "client", cn, x509.ExtKeyUsageClientAuth, dnsNames, nil)
}

func (c *Certs) issue(tb testing.TB, kind, cn string, usage x509.ExtKeyUsage, dnsNames []string, ips []net.IP) (string, string) {
	tb.Helper()
	now := time.Now()
	key := newKey(tb)
	serial := c.serial.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	check(tb, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	check(tb, err)
	name := kind + "-" + big.NewInt(serial).String()
	return c.write(tb, name+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		c.write(tb, name+"-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func (c *Certs) write(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(c.dir, name)
	check(tb, os.WriteFile(path, data, 0o600))
	return path
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(tb, err)
	return key
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("testcerts: %v", err)
	}
}
