package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const (
	grafanaExternalSecret = addonsDir + "/charts/cluster-config/templates/grafana-admin-externalsecret.yaml"
	monitoringKustomize   = "../deploy/k8s/base/monitoring/kustomization.yaml"
)

type grafanaWiring struct {
	Values         []byte // kube-prometheus-stack values
	Kustomization  []byte // deploy/k8s/base/monitoring/kustomization.yaml
	ExternalSecret []byte // the admin ExternalSecret, Helm expressions replaced
	Secrets        []byte // modules/secrets/main.tf
}

// checkGrafanaWiring lists every reason the cluster's Grafana would not show jq's dashboards or
// would start with a login that is not ours.
func checkGrafanaWiring(w grafanaWiring) []string {
	var bad []string
	addf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	var values struct {
		Grafana struct {
			Enabled bool `yaml:"enabled"`
			Admin   struct {
				ExistingSecret string `yaml:"existingSecret"`
				UserKey        string `yaml:"userKey"`
				PasswordKey    string `yaml:"passwordKey"`
			} `yaml:"admin"`
			Sidecar struct {
				Dashboards struct {
					Enabled          bool   `yaml:"enabled"`
					Label            string `yaml:"label"`
					LabelValue       string `yaml:"labelValue"`
					SearchNamespace  string `yaml:"searchNamespace"`
					FolderAnnotation string `yaml:"folderAnnotation"`
				} `yaml:"dashboards"`
			} `yaml:"sidecar"`
		} `yaml:"grafana"`
	}
	if err := yaml.Unmarshal(w.Values, &values); err != nil {
		return []string{"values: " + err.Error()}
	}
	var kust struct {
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
		GeneratorOptions struct {
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"generatorOptions"`
	}
	if err := yaml.Unmarshal(w.Kustomization, &kust); err != nil {
		return []string{"kustomization: " + err.Error()}
	}
	g := values.Grafana
	sc := g.Sidecar.Dashboards
	if !g.Enabled || !sc.Enabled {
		addf("grafana and its dashboard sidecar must be enabled (grafana.enabled %v, sidecar %v)", g.Enabled, sc.Enabled)
	}
	if len(kust.ConfigMapGenerator) == 0 {
		addf("deploy/k8s/base/monitoring generates no dashboard ConfigMap")
	}
	if got := kust.GeneratorOptions.Labels[sc.Label]; sc.Label == "" || got != sc.LabelValue {
		addf("the sidecar looks for %s=%q, the dashboard ConfigMaps carry %q", sc.Label, sc.LabelValue, got)
	}
	if sc.SearchNamespace != "ALL" {
		addf("the dashboards live in jq's namespaces, but the sidecar searches %q", sc.SearchNamespace)
	}
	if _, ok := kust.GeneratorOptions.Annotations[sc.FolderAnnotation]; sc.FolderAnnotation == "" || !ok {
		addf("the sidecar reads the folder from annotation %q, which the ConfigMaps do not carry", sc.FolderAnnotation)
	}

	var es externalSecret
	if err := yaml.Unmarshal(w.ExternalSecret, &es); err != nil {
		return append(bad, "ExternalSecret: "+err.Error())
	}
	if g.Admin.ExistingSecret == "" || g.Admin.ExistingSecret != es.Spec.Target.Name {
		addf("grafana.admin.existingSecret %q is not the Secret the ExternalSecret fills (%q)", g.Admin.ExistingSecret, es.Spec.Target.Name)
	}
	keys := map[string]string{}
	for _, d := range es.Spec.Data {
		keys[d.SecretKey] = d.RemoteRef.Key
	}
	secrets := string(w.Secrets)
	for _, k := range []string{g.Admin.UserKey, g.Admin.PasswordKey} {
		remote, ok := keys[k]
		if !ok {
			addf("grafana.admin reads key %q, which the ExternalSecret does not fill", k)
			continue
		}
		name := strings.Replace(remote, envPrefix, "${local.prefix}", 1)
		m := regexp.MustCompile(`resource "aws_secretsmanager_secret" "(\w+)" \{\s*name\s*=\s*"` + regexp.QuoteMeta(name) + `"`).FindStringSubmatch(secrets)
		if m == nil {
			addf("key %q reads %s, which modules/secrets does not create", k, remote)
		} else if !strings.Contains(secrets, "aws_secretsmanager_secret."+m[1]+".arn") || !strings.Contains(secrets, "local.monitoring_secret_arns)") {
			addf("%s is not in the External Secrets Operator's read policy", remote)
		}
	}
	return bad
}

func loadGrafanaWiring(t *testing.T) grafanaWiring {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.FromSlash(p))
		require.NoError(t, err)
		return b
	}
	es := string(read(grafanaExternalSecret))
	es = regexp.MustCompile(`\{\{\s*required "secretsPrefix" \.Values\.secretsPrefix\s*\}\}`).ReplaceAllString(es, envPrefix)
	es = regexp.MustCompile(`\{\{\s*required "alertmanager\.namespace" \.Values\.alertmanager\.namespace\s*\}\}`).ReplaceAllString(es, "monitoring")
	require.NotContains(t, es, "{{")
	return grafanaWiring{Values: read(promStackValues), Kustomization: read(monitoringKustomize), ExternalSecret: []byte(es), Secrets: read(secretsModule)}
}

// TestGrafana_LoadsTheClusterDashboards: the in-cluster Grafana is on, its sidecar finds the
// ConfigMaps deploy/k8s generates from the dashboards, and its admin login is ours.
func TestGrafana_LoadsTheClusterDashboards(t *testing.T) {
	t.Parallel()
	good := loadGrafanaWiring(t)
	require.Empty(t, checkGrafanaWiring(good))

	for name, c := range map[string]struct {
		edit func(w *grafanaWiring)
		want string
	}{
		"label differs": {func(w *grafanaWiring) {
			w.Kustomization = []byte(strings.Replace(string(w.Kustomization), `grafana_dashboard: "1"`, `grafana_dashboard: "yes"`, 1))
		}, "the dashboard ConfigMaps carry \"yes\""},
		"grafana off": {func(w *grafanaWiring) {
			w.Values = []byte(strings.Replace(string(w.Values), "grafana:\n  enabled: true", "grafana:\n  enabled: false", 1))
		}, "must be enabled"},
		"own namespace only": {func(w *grafanaWiring) {
			w.Values = []byte(strings.Replace(string(w.Values), "searchNamespace: ALL", "searchNamespace: monitoring", 1))
		}, "the sidecar searches \"monitoring\""},
		"admin secret unknown": {func(w *grafanaWiring) {
			w.Values = []byte(strings.Replace(string(w.Values), "existingSecret: jq-grafana-admin", "existingSecret: grafana-admin", 1))
		}, "is not the Secret the ExternalSecret fills"},
	} {
		w := good
		c.edit(&w)
		require.Contains(t, strings.Join(checkGrafanaWiring(w), "\n"), c.want, name)
	}
}
