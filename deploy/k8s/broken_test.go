package k8s

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Each fixture under testdata/broken is the staging overlay with one defect; the check named
// must report it. This is what shows the checks above can fail.
func TestChecks_CatchBrokenManifests(t *testing.T) {
	t.Parallel()
	cidr, err := terraformVPCCIDR()
	require.NoError(t, err)
	configProblems := func(objs []object) []string { _, p := checkConfig(objs); return p }

	tests := []struct {
		fixture string
		// renderErr, when set, is what rendering and strict decoding must fail with.
		renderErr string
		check     func([]object) []string
		want      string
	}{
		{fixture: "missing-limits", check: checkContainers, want: "container jq-worker: no cpu limit"},
		{fixture: "missing-probe", check: checkContainers, want: "container jq-server: no readinessProbe"},
		{fixture: "runs-as-root", check: checkContainers, want: "runAsUser must be 1001"},
		{fixture: "typo-field", renderErr: `unknown field "spec.template.spec.terminationGracePeriodSecond"`},
		{fixture: "externalsecret-typo", renderErr: "refreshIntervall"},
		{fixture: "unknown-setting", check: configProblems, want: "sets JQ_GRPC_PORTT, which jq-server does not read"},
		{fixture: "secret-in-configmap", check: configProblems, want: "holds JQ_DB_PASSWORD (db.password), a secret"},
		{fixture: "invalid-value", check: configProblems, want: "worker.concurrency"},
		{fixture: "short-grace", check: func(objs []object) []string {
			cfgs, _ := checkConfig(objs)
			return checkTerminationGrace(cfgs)
		}, want: "jq-server: terminationGracePeriodSeconds 35s must exceed preStop sleep + grpc.shutdown_grace = 40s"},
		{fixture: "longer-worker-grace", check: func(objs []object) []string {
			cfgs, _ := checkConfig(objs)
			return checkTerminationGrace(cfgs)
		}, want: "worker.shutdown_grace = 10m0s"},
		{fixture: "hpa-unknown-metric", check: func(objs []object) []string {
			for _, h := range byKind[*autoscalingv2.HorizontalPodAutoscaler](objs) {
				if h.Name == "jq-worker" {
					return checkWorkerHPA(h)
				}
			}
			return nil
		}, want: "metric jq_queue_depth is not exported by jq"},
		{fixture: "open-egress", check: func(objs []object) []string { return checkNetworkPolicies(objs, cidr) }, want: "jq-worker: egress to ipBlock 0.0.0.0/0"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			objs, err := renderDir(filepath.Join("testdata", "broken", tt.fixture))
			if tt.renderErr != "" {
				require.ErrorContains(t, err, tt.renderErr)
				return
			}
			require.NoError(t, err)
			problems := tt.check(objs)
			require.NotEmpty(t, problems, "the check passed a broken manifest")
			require.Truef(t, containsSubstring(problems, tt.want), "want a problem containing %q, got:\n%s", tt.want, strings.Join(problems, "\n"))
		})
	}
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
