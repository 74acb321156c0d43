package k8s

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/jqhq/jq/deploy/k8s/rulegen"
)

var update = flag.Bool("update", false, "rewrite generated files (base/monitoring/prometheusrule.yaml) instead of comparing")

const (
	rulesDir           = "../../rules"
	prometheusRulePath = "base/monitoring/prometheusrule.yaml"
)

// The PrometheusRule is generated from rules/, the one source of truth for alerts; the
// committed file must be what the generator writes today (`make k8s-rules` regenerates it).
func TestPrometheusRule_UpToDate(t *testing.T) {
	t.Parallel()
	want, err := rulegen.Generate(rulesDir)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(prometheusRulePath, want, 0o644))
	}
	got, err := os.ReadFile(prometheusRulePath)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "%s is stale: run `make k8s-rules` and commit it", prometheusRulePath)
}

// Both overlays carry the rule with every group of rules/.
func TestOverlays_PrometheusRuleHasEveryGroup(t *testing.T) {
	t.Parallel()
	files, err := rulegen.RuleFiles(rulesDir)
	require.NoError(t, err)
	var want []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(rulesDir, filepath.FromSlash(f)))
		require.NoError(t, err)
		var spec monitoringv1.PrometheusRuleSpec
		require.NoError(t, yaml.Unmarshal(data, &spec))
		for _, g := range spec.Groups {
			want = append(want, g.Name)
		}
	}
	for _, ov := range overlays {
		rule := named[*monitoringv1.PrometheusRule](t, renderOverlay(t, ov.Name), rulegen.Name)
		require.Equal(t, ov.Namespace, rule.Namespace)
		var got []string
		for _, g := range rule.Spec.Groups {
			got = append(got, g.Name)
		}
		require.Equalf(t, want, got, "%s: rule groups deployed vs in rules/ (run `make k8s-rules`)", ov.Name)
	}
}

func TestRulegen_GeneratesFromRuleFiles(t *testing.T) {
	t.Parallel()

	t.Run("SkipsNonRuleFiles", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, dir, "jq.yml", "groups:\n- name: jq\n  rules:\n  - alert: JQDown\n    expr: up{job=\"jq-server\"} == 0\n    for: 5m\n    labels: {severity: critical}\n")
		write(t, dir, "more/jq-slo.yaml", "groups:\n- name: jq-slo\n  rules:\n  - record: jq:wait:p95\n    expr: histogram_quantile(0.95, sum by (le) (rate(jq_job_wait_duration_seconds_bucket[5m])))\n")
		write(t, dir, "alertmanager.yml", "route: {receiver: x}\nreceivers: [{name: x}]\n")
		write(t, dir, "jq_test.yml", "rule_files: [jq.yml]\ntests: []\n")
		write(t, dir, "tests/jq.yml", "rule_files: [../jq.yml]\ntests: []\n")
		write(t, dir, "README.md", "not yaml: [")

		files, err := rulegen.RuleFiles(dir)
		require.NoError(t, err)
		require.Equal(t, []string{"jq.yml", "more/jq-slo.yaml"}, files)

		out, err := rulegen.Generate(dir)
		require.NoError(t, err)
		rule := &monitoringv1.PrometheusRule{}
		require.NoError(t, unmarshalStrict(yamlToJSON(t, out), rule))
		require.Len(t, rule.Spec.Groups, 2)
		require.Equal(t, "JQDown", rule.Spec.Groups[0].Rules[0].Alert)
		require.Equal(t, "jq:wait:p95", rule.Spec.Groups[1].Rules[0].Record)
	})

	t.Run("RefusesUnknownKeys", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, dir, "jq.yml", "groups:\n- name: jq\n  rules:\n  - alert: JQDown\n    expression: up == 0\n")
		_, err := rulegen.Generate(dir)
		require.ErrorContains(t, err, "expression")
	})

	t.Run("RefusesDuplicateGroups", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, dir, "a.yml", "groups:\n- name: jq\n  rules: []\n")
		write(t, dir, "b.yml", "groups:\n- name: jq\n  rules: []\n")
		_, err := rulegen.Generate(dir)
		require.ErrorContains(t, err, `"jq" is in both a.yml and b.yml`)
	})

	t.Run("EmptyFolder", func(t *testing.T) {
		t.Parallel()
		out, err := rulegen.Generate(filepath.Join(t.TempDir(), "missing"))
		require.NoError(t, err)
		rule := &monitoringv1.PrometheusRule{}
		require.NoError(t, unmarshalStrict(yamlToJSON(t, out), rule))
		require.Equal(t, "PrometheusRule", rule.Kind)
		require.Empty(t, rule.Spec.Groups)
	})
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}
