package k8s

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// maxAppliedBytes bounds one dashboard ConfigMap: `kubectl apply` (client side) copies the
// object into its last-applied annotation, and all annotations together may hold 256 KiB.
const maxAppliedBytes = 200 << 10

// TestOverlays_GrafanaDashboards: each overlay carries one ConfigMap per dashboard of
// dashboards/json (byte for byte, so the cluster shows what the Go code generates), labelled for
// the Grafana sidecar and small enough for a client-side apply.
func TestOverlays_GrafanaDashboards(t *testing.T) {
	t.Parallel()
	sources, err := filepath.Glob(filepath.Join("..", "..", "dashboards", "json", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, sources)
	for _, ov := range overlays {
		t.Run(ov.Name, func(t *testing.T) {
			t.Parallel()
			got := map[string]*corev1.ConfigMap{}
			for _, cm := range byKind[*corev1.ConfigMap](renderOverlay(t, ov.Name)) {
				if cm.Labels["grafana_dashboard"] != "1" {
					continue
				}
				require.Equalf(t, "jq", cm.Annotations["grafana_folder"], "%s: folder annotation", cm.Name)
				require.Equalf(t, ov.Namespace, cm.Namespace, "%s: namespace", cm.Name)
				require.Lenf(t, cm.Data, 1, "%s: one dashboard per ConfigMap", cm.Name)
				for key := range cm.Data {
					require.NotContainsf(t, got, key, "dashboard %s in two ConfigMaps", key)
					got[key] = cm
				}
			}
			var want []string
			for _, src := range sources {
				file := filepath.Base(src)
				want = append(want, file)
				cm, ok := got[file]
				require.Truef(t, ok, "no ConfigMap labelled grafana_dashboard=1 holds %s", file)
				b, err := os.ReadFile(src)
				require.NoError(t, err)
				require.Equalf(t, string(b), cm.Data[file],
					"%s differs from dashboards/json/%s: run `make dashboards` and commit deploy/k8s/base/monitoring/dashboards", cm.Name, file)
				require.Lessf(t, len(b), maxAppliedBytes, "%s: too large for kubectl apply's annotation", file)
				require.Regexpf(t, `^jq-dashboard-[a-z0-9-]+$`, cm.Name, "%s: a stable name (no hash suffix)", cm.Name)
			}
			have := make([]string, 0, len(got))
			for k := range got {
				have = append(have, k)
			}
			slices.Sort(have)
			require.ElementsMatch(t, want, have, "dashboard ConfigMaps == dashboards/json/*.json")
		})
	}
}
