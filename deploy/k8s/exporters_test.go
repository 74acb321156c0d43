package k8s

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// exporter is a third-party exporter deployed next to jq (base/exporters): not a jq image, so
// the jq configuration checks skip it, but every other check applies, and its NetworkPolicy
// may open only the ports of the service it exports.
type exporter struct {
	Image       string  // pinned image
	EgressPorts []int32 // in the VPC
}

var exporters = map[string]exporter{
	"jq-redis-exporter": {Image: "oliver006/redis_exporter:v1.67.0", EgressPorts: []int32{6379}},
	"jq-kafka-exporter": {Image: "danielqsj/kafka-exporter:v1.8.0", EgressPorts: []int32{9096}},
}

func isExporterImage(image string) bool {
	for _, e := range exporters {
		if e.Image == image {
			return true
		}
	}
	return false
}

// TestOverlays_Exporters: each exporter runs its pinned image and reads its endpoint and
// credentials from keys that jq's ConfigMap and ExternalSecret really have, so it talks to the
// same Redis as jq-server.
func TestOverlays_Exporters(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		objs := renderOverlay(t, ov.Name)
		d := named[*appsv1.Deployment](t, objs, "jq-redis-exporter")
		c := d.Spec.Template.Spec.Containers[0]
		require.Equal(t, exporters[d.Name].Image, c.Image)
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		require.Equal(t, "rediss://$(JQ_REDIS_ADDR)", env["REDIS_ADDR"].Value, "TLS, as jq-server (JQ_REDIS_TLS=true)")

		ref := env["JQ_REDIS_ADDR"].ValueFrom.ConfigMapKeyRef
		require.NotNil(t, ref)
		var cm *corev1.ConfigMap
		for _, m := range byKind[*corev1.ConfigMap](objs) {
			if m.Name == ref.Name {
				cm = m
			}
		}
		require.NotNilf(t, cm, "%s: ConfigMap %s is not in the overlay", ov.Name, ref.Name)
		require.Truef(t, strings.HasPrefix(cm.Name, "jq-server-config"), "the exporter reads jq-server's own endpoint")
		require.Contains(t, cm.Data, ref.Key)
		require.Equal(t, "true", cm.Data["JQ_REDIS_TLS"], "jq-server talks TLS to Redis; the exporter's rediss:// must agree")

		sref := env["REDIS_PASSWORD"].ValueFrom.SecretKeyRef
		require.NotNil(t, sref)
		var keys []string
		for _, es := range byKind[*externalSecret](objs) {
			if es.Spec.Target.Name == sref.Name {
				for _, d := range es.Spec.Data {
					keys = append(keys, d.SecretKey)
				}
			}
		}
		require.Containsf(t, keys, sref.Key, "%s: Secret %s (an ExternalSecret's target) has no key %s", ov.Name, sref.Name, sref.Key)

		k := named[*appsv1.Deployment](t, objs, "jq-kafka-exporter")
		kc := k.Spec.Template.Spec.Containers[0]
		require.Equal(t, exporters[k.Name].Image, kc.Image)
		kenv := map[string]corev1.EnvVar{}
		for _, e := range kc.Env {
			kenv[e.Name] = e
		}
		bref := kenv["JQ_KAFKA_BROKERS"].ValueFrom.ConfigMapKeyRef
		require.NotNil(t, bref)
		require.Equal(t, cm.Name, bref.Name, "the brokers jq-server publishes to")
		require.Contains(t, cm.Data, bref.Key)
		// What jq-server uses, the exporter uses: TLS and SCRAM-SHA-512.
		require.Equal(t, "true", cm.Data["JQ_KAFKA_TLS"])
		require.Equal(t, "SCRAM-SHA-512", cm.Data["JQ_KAFKA_SASL_MECHANISM"])
		script := strings.Join(kc.Args, " ")
		for _, want := range []string{"--tls.enabled", "--sasl.enabled", "--sasl.mechanism=scram-sha512", `"--kafka.server=$b"`, "$KAFKA_USERNAME", "$KAFKA_PASSWORD"} {
			require.Containsf(t, script, want, "kafka-exporter arguments")
		}
		for _, name := range []string{"KAFKA_USERNAME", "KAFKA_PASSWORD"} {
			r := kenv[name].ValueFrom.SecretKeyRef
			require.NotNilf(t, r, "%s comes from the Secret", name)
			require.Equal(t, sref.Name, r.Name)
			require.Containsf(t, keys, r.Key, "%s: Secret %s has no key %s", ov.Name, r.Name, r.Key)
		}
	}
}
