package grpc

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jqhq/jq/internal/testcerts"

	"github.com/jqhq/jq/client"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/internal/config"
)

func TestServerCredentials(t *testing.T) {
	t.Parallel()

	t.Run("NoCertIsPlaintext", func(t *testing.T) {
		t.Parallel()
		creds, err := ServerCredentials(config.GRPCConfig{})
		require.NoError(t, err)
		require.Nil(t, creds)
	})

	t.Run("TLSClientWithCA", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		ts := startTestServer(t, testServerConfig{Creds: serverTLS(t, certs, false)})

		for name, serverName := range map[string]string{"AddressName": "", "ServerNameOverride": "localhost"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				conn := dialTest(t, ts.Addr, clientTLS(t, certs.CAFile, "", "", serverName))
				_, _, err := callOK(t.Context(), conn)
				require.NoError(t, err)
			})
		}
	})

	t.Run("PlaintextClientFails", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		ts := startTestServer(t, testServerConfig{Creds: serverTLS(t, certs, false)})

		requireUnavailable(t, ts.Addr, nil)
	})

	t.Run("UntrustedServerFails", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		ts := startTestServer(t, testServerConfig{Creds: serverTLS(t, certs, false)})

		requireUnavailable(t, ts.Addr, clientTLS(t, testcerts.New(t).CAFile, "", "", ""))
	})

	t.Run("WrongServerNameFails", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		ts := startTestServer(t, testServerConfig{Creds: serverTLS(t, certs, false)})

		requireUnavailable(t, ts.Addr, clientTLS(t, certs.CAFile, "", "", "jq.example.com"))
	})

	t.Run("RejectsTLS11", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		ts := startTestServer(t, testServerConfig{Creds: serverTLS(t, certs, false)})

		conn, err := tls.Dial("tcp", ts.Addr, &tls.Config{
			MinVersion:         tls.VersionTLS10,
			MaxVersion:         tls.VersionTLS11,
			InsecureSkipVerify: true, //nolint:gosec // only the version matters here
			NextProtos:         []string{"h2"},
		})
		if err == nil {
			_ = conn.Close()
		}
		require.Error(t, err, "got a TLS 1.1 handshake, want it refused")
	})

	t.Run("MutualTLS", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		ts := startTestServer(t, testServerConfig{Creds: serverTLS(t, certs, true)})

		t.Run("AcceptsCASignedClientCert", func(t *testing.T) {
			t.Parallel()
			conn := dialTest(t, ts.Addr, clientTLS(t, certs.CAFile, certs.ClientCertFile, certs.ClientKeyFile, ""))
			_, _, err := callOK(t.Context(), conn)
			require.NoError(t, err)
		})
		t.Run("RejectsClientWithoutCert", func(t *testing.T) {
			t.Parallel()
			requireUnavailable(t, ts.Addr, clientTLS(t, certs.CAFile, "", "", ""))
		})
		t.Run("RejectsClientCertOfAnotherCA", func(t *testing.T) {
			t.Parallel()
			other := testcerts.New(t)
			requireUnavailable(t, ts.Addr, clientTLS(t, certs.CAFile, other.ClientCertFile, other.ClientKeyFile, ""))
		})
	})

	t.Run("BadFiles", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		dir := t.TempDir()
		missing := filepath.Join(dir, "missing.pem")
		garbage := filepath.Join(dir, "garbage.pem")
		require.NoError(t, os.WriteFile(garbage, []byte("not pem\n"), 0o600))

		for _, tt := range []struct {
			name string
			cfg  config.GRPCConfig
			want []string // substrings of the error
		}{
			{
				name: "MissingCert",
				cfg:  config.GRPCConfig{TLSCertFile: missing, TLSKeyFile: certs.ServerKeyFile},
				want: []string{missing},
			},
			{
				name: "MissingKey",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerCertFile, TLSKeyFile: missing},
				want: []string{missing},
			},
			{
				name: "CertNotPEM",
				cfg:  config.GRPCConfig{TLSCertFile: garbage, TLSKeyFile: certs.ServerKeyFile},
				want: []string{garbage, "CERTIFICATE"},
			},
			{
				name: "KeyNotPEM",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerCertFile, TLSKeyFile: garbage},
				want: []string{garbage, "PRIVATE KEY"},
			},
			{
				name: "KeyOfAnotherCert",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerCertFile, TLSKeyFile: certs.ClientKeyFile},
				want: []string{certs.ServerCertFile, certs.ClientKeyFile},
			},
			{
				name: "KeyInCertFile",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerKeyFile, TLSKeyFile: certs.ServerKeyFile},
				want: []string{certs.ServerKeyFile, "CERTIFICATE"},
			},
			{
				name: "MissingClientCA",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerCertFile, TLSKeyFile: certs.ServerKeyFile, TLSClientCAFile: missing},
				want: []string{missing},
			},
			{
				name: "ClientCANotPEM",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerCertFile, TLSKeyFile: certs.ServerKeyFile, TLSClientCAFile: garbage},
				want: []string{garbage},
			},
			{
				name: "CertWithoutKey",
				cfg:  config.GRPCConfig{TLSCertFile: certs.ServerCertFile},
				want: []string{"tls_key_file"},
			},
			{
				name: "ClientCAWithoutCert",
				cfg:  config.GRPCConfig{TLSClientCAFile: certs.CAFile},
				want: []string{"tls_cert_file"},
			},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				creds, err := ServerCredentials(tt.cfg)
				require.Error(t, err)
				require.Nil(t, creds)
				for _, want := range tt.want {
					require.Contains(t, err.Error(), want)
				}
			})
		}
	})

	t.Run("MissingFileWrapsNotExist", func(t *testing.T) {
		t.Parallel()
		_, err := ServerCredentials(config.GRPCConfig{
			TLSCertFile: filepath.Join(t.TempDir(), "missing.pem"),
			TLSKeyFile:  filepath.Join(t.TempDir(), "missing-key.pem"),
		})
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestClientTLS(t *testing.T) {
	t.Parallel()

	t.Run("AllEmptyIsPlaintext", func(t *testing.T) {
		t.Parallel()
		creds, err := client.TLS("", "", "", "")
		require.NoError(t, err)
		require.Nil(t, creds)
	})

	t.Run("ServerNameAloneIsTLS", func(t *testing.T) {
		t.Parallel()
		creds, err := client.TLS("", "", "", "jq.example.com")
		require.NoError(t, err)
		require.NotNil(t, creds)
		require.Equal(t, "tls", creds.Info().SecurityProtocol)
	})

	t.Run("BadFiles", func(t *testing.T) {
		t.Parallel()
		certs := testcerts.New(t)
		dir := t.TempDir()
		missing := filepath.Join(dir, "missing.pem")
		garbage := filepath.Join(dir, "garbage.pem")
		require.NoError(t, os.WriteFile(garbage, []byte("not pem\n"), 0o600))

		for _, tt := range []struct {
			name                      string
			caFile, certFile, keyFile string
			want                      string
		}{
			{name: "MissingCA", caFile: missing, want: missing},
			{name: "CANotPEM", caFile: garbage, want: garbage},
			{name: "MissingCert", caFile: certs.CAFile, certFile: missing, keyFile: certs.ClientKeyFile, want: missing},
			{name: "KeyNotPEM", caFile: certs.CAFile, certFile: certs.ClientCertFile, keyFile: garbage, want: garbage},
			{name: "CertWithoutKey", caFile: certs.CAFile, certFile: certs.ClientCertFile, want: "together"},
			{name: "KeyWithoutCert", caFile: certs.CAFile, keyFile: certs.ClientKeyFile, want: "together"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				creds, err := client.TLS(tt.caFile, tt.certFile, tt.keyFile, "")
				require.Error(t, err)
				require.Nil(t, creds)
				require.Contains(t, err.Error(), tt.want)
			})
		}
	})
}

func serverTLS(t *testing.T, certs *testcerts.Certs, mutual bool) credentials.TransportCredentials {
	t.Helper()
	cfg := config.GRPCConfig{TLSCertFile: certs.ServerCertFile, TLSKeyFile: certs.ServerKeyFile}
	if mutual {
		cfg.TLSClientCAFile = certs.CAFile
	}
	creds, err := ServerCredentials(cfg)
	require.NoError(t, err)
	require.NotNil(t, creds)
	return creds
}

func clientTLS(t *testing.T, caFile, certFile, keyFile, serverName string) credentials.TransportCredentials {
	t.Helper()
	creds, err := client.TLS(caFile, certFile, keyFile, serverName)
	require.NoError(t, err)
	require.NotNil(t, creds)
	return creds
}

// requireUnavailable checks that an RPC to addr with creds fails for want of a connection.
func requireUnavailable(t *testing.T, addr string, creds credentials.TransportCredentials) {
	t.Helper()
	conn := dialTest(t, addr, creds)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := callOK(ctx, conn)
	require.Error(t, err)
	require.Equal(t, codes.Unavailable, status.Code(err), "got %v, want Unavailable", err)
}
