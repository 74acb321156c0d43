package deploy

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/deploy/internal/composecheck"
	"github.com/jqhq/jq/internal/config"
)

const localConfigExample = "config.local.example.yaml"

// loadLocalConfig loads config.local.example.yaml for a service as the binaries would, with
// JQ_DB_PASSWORD set as its header says and no other variable (the test's environment, which
// may carry JQ_DB_URL, must not leak in).
func loadLocalConfig(t *testing.T, svc config.Service) *config.Config {
	t.Helper()
	env := map[string]string{"JQ_DB_PASSWORD": "jq"}
	cfg, warnings, err := config.Load(svc, config.Source{
		File:      repoPath(t, localConfigExample),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	require.NoErrorf(t, err, "%s for %s", localConfigExample, svc)
	require.Emptyf(t, warnings, "%s for %s: want no warning (keep secrets out of the file)", localConfigExample, svc)
	require.NoErrorf(t, cfg.Validate(svc), "%s for %s", localConfigExample, svc)
	return cfg
}

// TestLocalConfigExample_Valid: the committed example loads without unknown keys and
// validates for every binary, with TLS off, debug logs, and authentication off only where that
// is safe (a loopback listener).
func TestLocalConfigExample_Valid(t *testing.T) {
	t.Parallel()
	for _, svc := range []config.Service{config.ServiceServer, config.ServiceWorker, config.ServiceCtl} {
		t.Run(string(svc), func(t *testing.T) {
			t.Parallel()
			cfg := loadLocalConfig(t, svc)
			require.Equal(t, "debug", cfg.Logging.Level)
			for path, v := range map[string]string{
				"grpc.tls_cert_file": cfg.GRPC.TLSCertFile, "grpc.tls_key_file": cfg.GRPC.TLSKeyFile,
				"grpc.tls_client_ca_file": cfg.GRPC.TLSClientCAFile, "worker.tls_ca_file": cfg.Worker.TLSCAFile,
			} {
				require.Emptyf(t, v, "%s: %s: want TLS off locally", localConfigExample, path)
			}
			require.False(t, cfg.Redis.TLS)
			require.False(t, cfg.Kafka.TLS)
			require.Equal(t, "disable", cfg.DB.SSLMode)
			if cfg.Auth.Mode == "none" {
				for path, host := range map[string]string{"grpc.host": cfg.GRPC.Host, "metrics.host": cfg.Metrics.Host, "health.host": cfg.Health.Host} {
					ip := net.ParseIP(host)
					require.Truef(t, host == "localhost" || (ip != nil && ip.IsLoopback()), "%s: %s=%s with auth.mode none: want a loopback address", localConfigExample, path, host)
				}
			}
			// The per-service defaults stay, so a server and a worker fit on one host.
			require.Equal(t, config.Default(svc).Metrics.Port, cfg.Metrics.Port, "metrics.port: leave it to the per-service default")
			require.Equal(t, config.Default(svc).Health.Port, cfg.Health.Port, "health.port: leave it to the per-service default")
		})
	}
}

// TestLocalConfigExample_EndpointsMatchDevStack: the example talks to what docker-compose.yml
// publishes on this machine, and the worker to the server the same file configures.
func TestLocalConfigExample_EndpointsMatchDevStack(t *testing.T) {
	t.Parallel()
	cfg := loadLocalConfig(t, config.ServiceServer)
	ports := composecheck.HostPorts(loadCompose(t, devCompose))
	want := map[string]string{
		"postgres": fmt.Sprintf("%d/tcp", cfg.DB.Port),
		"redis":    portOf(t, cfg.Redis.Addr) + "/tcp",
		"kafka":    portOf(t, cfg.Kafka.Brokers[0]) + "/tcp",
	}
	for svc, port := range want {
		require.Equalf(t, svc, ports[port], "%s: %s port %s is not the one docker-compose.yml publishes for it", localConfigExample, svc, port)
	}
	pg := loadCompose(t, devCompose).Services["postgres"]
	require.Equal(t, env(pg, "POSTGRES_USER"), cfg.DB.User)
	require.Equal(t, env(pg, "POSTGRES_DB"), cfg.DB.Name)
	require.Equal(t, env(pg, "POSTGRES_PASSWORD"), cfg.DB.Password, "the header's JQ_DB_PASSWORD is the dev stack's")

	worker := loadLocalConfig(t, config.ServiceWorker)
	require.Equal(t, strconv.Itoa(cfg.GRPC.Port), portOf(t, worker.Worker.ServerAddr), "worker.server_addr: want the gRPC port of grpc.port")
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoErrorf(t, err, "address %q", addr)
	return port
}
