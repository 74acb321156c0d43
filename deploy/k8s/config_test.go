package k8s

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
)

// Every ConfigMap key and JQ_* variable is a setting its binary reads, secrets come only from
// ExternalSecrets, and each binary accepts the configuration it is given.
func TestOverlays_ConfigIsWhatJQReads(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		t.Run(ov.Name, func(t *testing.T) {
			t.Parallel()
			cfgs, problems := checkConfig(renderOverlay(t, ov.Name))
			require.Empty(t, problems)
			require.Len(t, cfgs, 2, "jq-server and jq-worker")
			for _, c := range cfgs {
				switch c.Service {
				case config.ServiceServer:
					// Only the migration Job migrates; instances starting together must not race.
					require.Falsef(t, c.Config.DB.MigrateOnStart, "%s: db.migrate_on_start", c.Where)
					require.Equal(t, "token", c.Config.Auth.Mode, "auth.mode")
					require.Equal(t, 50051, c.Config.GRPC.Port)
					require.Equal(t, 9090, c.Config.Metrics.Port)
					require.Equal(t, 8080, c.Config.Health.Port)
				case config.ServiceWorker:
					require.Equal(t, "jq-server:50051", c.Config.Worker.ServerAddr, "the worker dials the server's Service")
					require.NotEmpty(t, c.Config.Worker.AllowedCommands, "worker.allowed_commands: an allow-list, set to the jobs' tools")
					require.Equal(t, 9091, c.Config.Metrics.Port)
					require.Equal(t, 8081, c.Config.Health.Port)
				}
			}
		})
	}
}

// Kubernetes must not kill a pod while it drains: terminationGracePeriodSeconds covers the
// preStop sleep plus the drain the binary itself allows (grpc.shutdown_grace for the server,
// worker.shutdown_grace for the worker), read from the configuration the pod runs with.
func TestOverlays_TerminationGraceCoversDrain(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		cfgs, problems := checkConfig(renderOverlay(t, ov.Name))
		require.Empty(t, problems)
		require.Empty(t, checkTerminationGrace(cfgs))
	}
}

func checkTerminationGrace(cfgs []containerConfig) []string {
	var problems []string
	for _, c := range cfgs {
		var drain time.Duration
		var setting string
		switch c.Service {
		case config.ServiceServer:
			drain, setting = c.Config.GRPC.ShutdownGrace.Std(), "grpc.shutdown_grace"
		case config.ServiceWorker:
			drain, setting = c.Config.Worker.ShutdownGrace.Std(), "worker.shutdown_grace"
		default:
			continue
		}
		need := time.Duration(c.PreStopSleep)*time.Second + drain
		if got := time.Duration(c.TerminationGrace) * time.Second; got <= need {
			problems = append(problems, c.Where+": terminationGracePeriodSeconds "+got.String()+
				" must exceed preStop sleep + "+setting+" = "+need.String())
		}
	}
	return problems
}
