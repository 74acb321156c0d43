package k8s

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOverlays_RenderAndDecodeStrictly renders each overlay with the Kustomize API and decodes
// every object strictly into its typed struct (renderDir does both).
func TestOverlays_RenderAndDecodeStrictly(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		t.Run(ov.Name, func(t *testing.T) {
			t.Parallel()
			objs := renderOverlay(t, ov.Name)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind]++
			}
			// What the issue asks each environment to contain.
			want := map[string]int{
				"Namespace": 1, "ServiceAccount": 2, "ConfigMap": 5, "ExternalSecret": 2, // ConfigMaps: jq-server, jq-worker, 3 dashboards
				"Deployment": 4, "Service": 4, "HorizontalPodAutoscaler": 2, "PodDisruptionBudget": 2, // + 2 exporters
				"Ingress": 1, "Job": 1, "ServiceMonitor": 4, "PrometheusRule": 1, "NetworkPolicy": 7,
			}
			require.Equalf(t, want, kinds, "kinds rendered by overlays/%s", ov.Name)
		})
	}
}
