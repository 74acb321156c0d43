package terraform

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The files that wire rules/alertmanager.yml into the cluster.
const (
	addonsDir             = "modules/eks-addons"
	alertmanagerRulesFile = "../rules/alertmanager.yml"
	promStackValues       = addonsDir + "/values/kube-prometheus-stack.yaml"
	amExternalSecret      = addonsDir + "/charts/cluster-config/templates/alertmanager-externalsecret.yaml"
	secretsModule         = "modules/secrets/main.tf"
	envPrefix             = "jq/ENV" // what secretsPrefix and ${local.prefix} stand for in the checks
)

// amWiring is what the check reads, each as its file's bytes.
type amWiring struct {
	Config         []byte // rules/alertmanager.yml
	Values         []byte // kube-prometheus-stack values
	ExternalSecret []byte // the chart template, Helm expressions replaced
	AddonsMain     []byte // modules/eks-addons/main.tf
	Secrets        []byte // modules/secrets/main.tf
}

type amConfig struct {
	Route     amRoute          `yaml:"route"`
	Receivers []map[string]any `yaml:"receivers"`
}

type amRoute struct {
	Receiver string    `yaml:"receiver"`
	Routes   []amRoute `yaml:"routes"`
}

func (r amRoute) receivers(into map[string]bool) {
	if r.Receiver != "" {
		into[r.Receiver] = true
	}
	for _, c := range r.Routes {
		c.receivers(into)
	}
}

// fileKeys lists every "*_file" setting under v (a receiver's configurations), as key=path.
func fileKeys(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && strings.HasSuffix(k, "_file") {
				out[prefix+k] = s
				continue
			}
			fileKeys(prefix+k+".", val, out)
		}
	case []any:
		for i, val := range x {
			fileKeys(fmt.Sprintf("%s%d.", prefix, i), val, out)
		}
	}
}

// inlineSecretKeys are receiver settings that would put a secret into the file itself.
var inlineSecretKeys = []string{"routing_key", "service_key", "api_url", "api_key", "url", "auth_password", "bot_token"}

// checkAlertmanagerWiring returns every way the cluster's Alertmanager would not deliver what
// rules/alertmanager.yml routes: a routed receiver missing or a defined one never routed, a
// secret inline, a file a receiver reads that the mounted Secret does not provide, a Secret key
// no Secrets Manager entry (readable by the External Secrets Operator) fills.
func checkAlertmanagerWiring(w amWiring) []string {
	var bad []string
	addf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	var cfg amConfig
	if err := yaml.Unmarshal(w.Config, &cfg); err != nil {
		return []string{"rules/alertmanager.yml: " + err.Error()}
	}
	routed := map[string]bool{}
	cfg.Route.receivers(routed)
	defined := map[string]bool{}
	files := map[string]string{}
	for _, r := range cfg.Receivers {
		name, _ := r["name"].(string)
		defined[name] = true
		for k, v := range r {
			if !strings.HasSuffix(k, "_configs") {
				continue
			}
			for _, c := range v.([]any) {
				for _, sk := range inlineSecretKeys {
					if _, ok := c.(map[string]any)[sk]; ok {
						addf("receiver %s: %s.%s is a secret written in the file; use %s_file", name, k, sk, sk)
					}
				}
			}
			fileKeys(name+"."+k+".", v, files)
		}
	}
	for r := range routed {
		if !defined[r] {
			addf("route sends to receiver %q, which is not defined", r)
		}
	}
	for r := range defined {
		if !routed[r] {
			addf("receiver %q is defined but no route reaches it", r)
		}
	}

	// The values mount a Secret somewhere; each receiver file must be a key of it.
	var values struct {
		Alertmanager struct {
			Spec struct {
				Volumes []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
				VolumeMounts []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			} `yaml:"alertmanagerSpec"`
			Config any `yaml:"config"`
		} `yaml:"alertmanager"`
	}
	if err := yaml.Unmarshal(w.Values, &values); err != nil {
		return append(bad, "kube-prometheus-stack values: "+err.Error())
	}
	if values.Alertmanager.Config != nil {
		addf("kube-prometheus-stack values: alertmanager.config is written there; it must come from rules/alertmanager.yml (main.tf)")
	}
	mounts := map[string]string{} // mount path -> Secret name
	for _, m := range values.Alertmanager.Spec.VolumeMounts {
		for _, v := range values.Alertmanager.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				mounts[path.Clean(m.MountPath)] = v.Secret.SecretName
			}
		}
	}

	var es externalSecret
	if err := yaml.Unmarshal(w.ExternalSecret, &es); err != nil {
		return append(bad, "ExternalSecret: "+err.Error())
	}
	esKeys := map[string]string{}
	for _, d := range es.Spec.Data {
		esKeys[d.SecretKey] = d.RemoteRef.Key
	}
	for where, file := range files {
		secret, ok := mounts[path.Dir(file)]
		if !ok {
			addf("%s reads %s, but Alertmanager mounts no Secret at %s", where, file, path.Dir(file))
			continue
		}
		if secret != es.Spec.Target.Name {
			addf("%s reads %s from Secret %s, but the ExternalSecret fills %s", where, file, secret, es.Spec.Target.Name)
			continue
		}
		if _, ok := esKeys[path.Base(file)]; !ok {
			addf("%s reads %s, but the ExternalSecret gives Secret %s no key %s", where, file, secret, path.Base(file))
		}
	}

	// Alertmanager runs in the release's namespace; the ExternalSecret must be there.
	ns := regexp.MustCompile(`(?s)resource "helm_release" "kube_prometheus_stack" \{.*?namespace\s*=\s*local\.monitoring_namespace`)
	if !ns.Match(w.AddonsMain) || !regexp.MustCompile(`monitoring_namespace\s*=\s*"`+regexp.QuoteMeta(es.Metadata.Namespace)+`"`).Match(w.AddonsMain) {
		addf("the ExternalSecret's namespace %q is not kube-prometheus-stack's", es.Metadata.Namespace)
	}
	// The release's alertmanager.config is rules/alertmanager.yml itself.
	if !strings.Contains(string(w.AddonsMain), `yamldecode(file("${path.module}/../../../rules/alertmanager.yml"))`) ||
		!strings.Contains(string(w.AddonsMain), "alertmanager = { config = local.alertmanager_config }") {
		addf("modules/eks-addons/main.tf: kube-prometheus-stack's alertmanager.config is not read from rules/alertmanager.yml")
	}

	// Every remote key is a Secrets Manager entry of the secrets module that the operator may read.
	secrets := string(w.Secrets)
	entry := regexp.MustCompile(`resource "aws_secretsmanager_secret" "(\w+)" \{\s*name\s*=\s*"([^"]+)"`)
	names := map[string]string{}
	for _, m := range entry.FindAllStringSubmatch(secrets, -1) {
		names[strings.ReplaceAll(m[2], "${local.prefix}", envPrefix)] = m[1]
	}
	for key, remote := range esKeys {
		res, ok := names[remote]
		if !ok {
			addf("ExternalSecret key %s reads %s, which modules/secrets does not create", key, remote)
			continue
		}
		if !strings.Contains(secrets, "aws_secretsmanager_secret."+res+".arn,") || !strings.Contains(secrets, "local.monitoring_secret_arns)") {
			addf("Secrets Manager entry %s is not in the External Secrets Operator's read policy", remote)
		}
	}
	slices.Sort(bad)
	return bad
}

func loadAlertmanagerWiring(t *testing.T) amWiring {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.FromSlash(p))
		require.NoError(t, err)
		return b
	}
	es := string(read(amExternalSecret))
	es = regexp.MustCompile(`\{\{\s*required "secretsPrefix" \.Values\.secretsPrefix\s*\}\}`).ReplaceAllString(es, envPrefix)
	es = regexp.MustCompile(`\{\{\s*required "alertmanager\.namespace" \.Values\.alertmanager\.namespace\s*\}\}`).ReplaceAllString(es, "monitoring")
	require.NotContains(t, es, "{{", "the check substitutes only secretsPrefix and alertmanager.namespace")
	values := read(addonsDir + "/charts/cluster-config/values.yaml")
	require.Contains(t, string(values), "namespace: monitoring")
	return amWiring{
		Config:         read(alertmanagerRulesFile),
		Values:         read(promStackValues),
		ExternalSecret: []byte(es),
		AddonsMain:     read(addonsDir + "/main.tf"),
		Secrets:        read(secretsModule),
	}
}

// TestAlertmanager_WiredFromRules: the cluster's Alertmanager runs rules/alertmanager.yml, and
// every receiver it routes to finds its key in a file the Secret (from Secrets Manager) provides.
func TestAlertmanager_WiredFromRules(t *testing.T) {
	t.Parallel()
	w := loadAlertmanagerWiring(t)
	require.Empty(t, checkAlertmanagerWiring(w))

	var cfg amConfig
	require.NoError(t, yaml.Unmarshal(w.Config, &cfg))
	routed := map[string]bool{}
	cfg.Route.receivers(routed)
	require.Subset(t, sortedSet(routed), []string{"pagerduty", "slack"}, "critical pages, warnings go to Slack")
}

// TestAlertmanager_WiringCheckCatchesBreaks: each break of the wiring is reported.
func TestAlertmanager_WiringCheckCatchesBreaks(t *testing.T) {
	t.Parallel()
	good := loadAlertmanagerWiring(t)
	cases := map[string]struct {
		edit func(w *amWiring)
		want string
	}{
		"receiver file not in the Secret": {
			edit: func(w *amWiring) {
				w.Config = []byte(strings.ReplaceAll(string(w.Config), "secrets/slack-webhook-url", "secrets/opsgenie-key"))
			},
			want: "no key opsgenie-key",
		},
		"file outside the mount": {
			edit: func(w *amWiring) {
				w.Config = []byte(strings.ReplaceAll(string(w.Config), "/etc/alertmanager/secrets/pagerduty-routing-key", "/run/secrets/pd"))
			},
			want: "mounts no Secret at /run/secrets",
		},
		"receiver never routed": {
			edit: func(w *amWiring) {
				w.Config = []byte(strings.Replace(string(w.Config), "receivers:\n", "receivers:\n  - name: email\n", 1))
			},
			want: `receiver "email" is defined but no route reaches it`,
		},
		"secret inline": {
			edit: func(w *amWiring) {
				w.Config = []byte(strings.Replace(string(w.Config), "routing_key_file: /etc/alertmanager/secrets/pagerduty-routing-key",
					"routing_key: 0123456789abcdef", 1))
			},
			want: "routing_key is a secret written in the file",
		},
		"remote key not created by Terraform": {
			edit: func(w *amWiring) {
				w.Secrets = []byte(strings.Replace(string(w.Secrets), "/alertmanager-slack-webhook-url", "/slack", 1))
			},
			want: "which modules/secrets does not create",
		},
		"config not from rules": {
			edit: func(w *amWiring) {
				w.AddonsMain = []byte(strings.ReplaceAll(string(w.AddonsMain), "rules/alertmanager.yml", "values/alertmanager.yml"))
			},
			want: "not read from rules/alertmanager.yml",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w := good
			c.edit(&w)
			bad := checkAlertmanagerWiring(w)
			require.NotEmpty(t, bad)
			require.Contains(t, strings.Join(bad, "\n"), c.want)
		})
	}
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// externalSecret is the part of an ExternalSecret manifest the wiring checks read.
type externalSecret struct {
	Metadata struct {
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Target struct {
			Name string `yaml:"name"`
		} `yaml:"target"`
		Data []struct {
			SecretKey string `yaml:"secretKey"`
			RemoteRef struct {
				Key string `yaml:"key"`
			} `yaml:"remoteRef"`
		} `yaml:"data"`
	} `yaml:"spec"`
}
