package k8s

import (
	"cmp"
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/jqhq/jq/internal/config"
)

// placeholders are the values an operator replaces before applying an overlay (README,
// "Placeholders"), each with an example of what replaces it, so the configuration can be loaded
// and validated as jq would load it.
var placeholders = map[string]string{
	"ECR_REGISTRY":           "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
	"IMAGE_TAG":              "v1.2.3",
	"AWS_ACCOUNT_ID":         "123456789012",
	"ACM_CERT_ARN":           "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
	"REDIS_PRIMARY_ENDPOINT": "master.jq-staging.abcdef.euw1.cache.amazonaws.com",
	"MSK_BOOTSTRAP_BROKERS":  "b-1.jq.abc.c2.kafka.eu-west-1.amazonaws.com:9096,b-2.jq.abc.c2.kafka.eu-west-1.amazonaws.com:9096",
}

// exampleSecrets stand in for the values External Secrets copies from Secrets Manager.
var exampleSecrets = map[string]string{
	"JQ_DB_URL": "postgres://jq:secret@jq.abc.eu-west-1.rds.amazonaws.com:5432/jq?sslmode=verify-full",
}

func fillPlaceholders(s string) string {
	keys := make([]string, 0, len(placeholders))
	for k := range placeholders {
		keys = append(keys, k)
	}
	// Longest first, so no placeholder is replaced inside a longer one.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, placeholders[k])
	}
	return s
}

// serviceOf maps a container image to the jq binary in it.
func serviceOf(image string) (config.Service, bool) {
	name, _, _ := strings.Cut(path.Base(image), ":")
	switch name {
	case "jq-server":
		return config.ServiceServer, true
	case "jq-worker":
		return config.ServiceWorker, true
	case "jq-ctl":
		return config.ServiceCtl, true
	}
	return "", false
}

// containerConfig is what a jq container will run with, as jq itself loads it.
type containerConfig struct {
	Where   string
	Service config.Service
	Config  *config.Config
	// PreStopSleep is the preStop sleep before SIGTERM, in seconds (0 without one).
	PreStopSleep int64
	// TerminationGrace is the pod's terminationGracePeriodSeconds.
	TerminationGrace int64
}

// checkConfig follows every jq container's environment to the ConfigMaps and ExternalSecrets
// it comes from and lists every problem: a ConfigMap key or env name that is not a JQ_*
// setting of that binary (config.Default(service).Fields()), a secret setting kept in a
// ConfigMap or a literal, a non-secret in a secret, a reference to a ConfigMap or Secret that
// the overlay does not create, a ConfigMap nobody reads, and a configuration that jq would
// refuse to load or validate (placeholders and secrets replaced by examples).
func checkConfig(objs []object) ([]containerConfig, []string) {
	configMaps := map[string]map[string]string{}
	for _, cm := range byKind[*corev1.ConfigMap](objs) {
		if cm.Labels["grafana_dashboard"] == "1" {
			continue // Grafana's, not jq's configuration (dashboards_test.go)
		}
		configMaps[cm.Name] = cm.Data
	}
	secretKeys := map[string][]string{} // target Secret name -> keys
	for _, es := range byKind[*externalSecret](objs) {
		for _, d := range es.Spec.Data {
			secretKeys[es.Spec.Target.Name] = append(secretKeys[es.Spec.Target.Name], d.SecretKey)
		}
	}

	var out []containerConfig
	var problems []string
	used := map[string]bool{}
	for _, pt := range podTemplates(objs) {
		for _, c := range pt.Spec.Containers {
			where := fmt.Sprintf("%s container %s", pt.Owner, c.Name)
			if isExporterImage(c.Image) {
				continue // not jq: its settings are checked by TestOverlays_Exporters
			}
			svc, ok := serviceOf(c.Image)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: image %s is not a jq image", where, c.Image))
				continue
			}
			fields := map[string]config.Field{}
			for _, f := range config.Default(svc).Fields() {
				fields[f.Env] = f
			}
			env := map[string]string{}
			setting := func(source, key string, secret bool) bool {
				f, ok := fields[key]
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("%s: %s sets %s, which %s does not read", where, source, key, svc))
				case f.Secret && !secret:
					problems = append(problems, fmt.Sprintf("%s: %s holds %s (%s), a secret; take it from an ExternalSecret", where, source, key, f.Path))
				case !f.Secret && secret:
					problems = append(problems, fmt.Sprintf("%s: %s holds %s (%s), which is not a secret; put it in the ConfigMap", where, source, key, f.Path))
				default:
					return true
				}
				return false
			}
			for _, ef := range c.EnvFrom {
				switch {
				case ef.ConfigMapRef != nil:
					data, ok := configMaps[ef.ConfigMapRef.Name]
					if !ok {
						problems = append(problems, fmt.Sprintf("%s: ConfigMap %s is not in the overlay", where, ef.ConfigMapRef.Name))
						continue
					}
					used[ef.ConfigMapRef.Name] = true
					for k, v := range data {
						if setting("ConfigMap "+ef.ConfigMapRef.Name, ef.Prefix+k, false) {
							env[ef.Prefix+k] = fillPlaceholders(v)
						}
					}
				case ef.SecretRef != nil:
					keys, ok := secretKeys[ef.SecretRef.Name]
					if !ok {
						problems = append(problems, fmt.Sprintf("%s: Secret %s is made by no ExternalSecret of the overlay", where, ef.SecretRef.Name))
						continue
					}
					for _, k := range keys {
						if setting("Secret "+ef.SecretRef.Name, ef.Prefix+k, true) {
							env[ef.Prefix+k] = cmp.Or(exampleSecrets[ef.Prefix+k], "example-secret-value")
						}
					}
				}
			}
			for _, e := range c.Env {
				if !strings.HasPrefix(e.Name, "JQ_") {
					continue // e.g. WORKER_ID, which JQ_WORKER_ID expands
				}
				if e.ValueFrom != nil {
					problems = append(problems, fmt.Sprintf("%s: env %s comes from valueFrom; use the ConfigMap or the ExternalSecret", where, e.Name))
					continue
				}
				if setting("env", e.Name, false) {
					env[e.Name] = expandEnv(e.Value, c.Env)
				}
			}

			cfg, _, err := config.Load(svc, config.Source{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
			if err == nil {
				err = cfg.Validate(svc)
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s refuses its configuration: %v", where, svc, err))
				continue
			}
			cc := containerConfig{Where: where, Service: svc, Config: cfg}
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				cc.PreStopSleep = c.Lifecycle.PreStop.Sleep.Seconds
			}
			if pt.Spec.TerminationGracePeriodSeconds != nil {
				cc.TerminationGrace = *pt.Spec.TerminationGracePeriodSeconds
			} else {
				cc.TerminationGrace = corev1.DefaultTerminationGracePeriodSeconds
			}
			if pt.LongRunning {
				out = append(out, cc)
			}
		}
	}
	for name := range configMaps {
		if !used[name] {
			problems = append(problems, fmt.Sprintf("ConfigMap %s is read by no container", name))
		}
	}
	sort.Strings(problems)
	return out, problems
}

// expandEnv resolves $(VAR) references the way the kubelet does, to a stand-in for fields from
// the downward API (a pod name is a fine worker id).
func expandEnv(v string, env []corev1.EnvVar) string {
	for _, e := range env {
		ref := "$(" + e.Name + ")"
		if !strings.Contains(v, ref) {
			continue
		}
		val := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			val = "jq-worker-5d9c7b8f6-x2x4q"
		}
		v = strings.ReplaceAll(v, ref, val)
	}
	return v
}
