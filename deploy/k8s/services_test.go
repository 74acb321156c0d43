package k8s

import (
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Services, ServiceMonitors and PDBs find the pods they are meant for: a selector that matches
// nothing renders and decodes fine, and silently does nothing.
func TestOverlays_SelectorsReachTheirPods(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		objs := renderOverlay(t, ov.Name)

		server := named[*corev1.Service](t, objs, "jq-server")
		require.Equal(t, corev1.ServiceTypeClusterIP, server.Spec.Type)
		require.Equal(t, map[string]int32{"grpc": 50051, "metrics": 9090}, servicePorts(server))
		worker := named[*corev1.Service](t, objs, "jq-worker")
		require.Equal(t, corev1.ClusterIPNone, worker.Spec.ClusterIP, "the worker Service is headless")

		for _, svc := range byKind[*corev1.Service](objs) {
			d := named[*appsv1.Deployment](t, objs, svc.Name)
			require.Truef(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)), "Service %s selects its pods", svc.Name)
			for _, p := range svc.Spec.Ports {
				containerPort(t, d.Spec.Template.Spec.Containers[0], p.TargetPort.String())
			}
		}
		for _, pdb := range byKind[*policyv1.PodDisruptionBudget](objs) {
			d := named[*appsv1.Deployment](t, objs, pdb.Name)
			require.Truef(t, selects(*pdb.Spec.Selector, d.Spec.Template.Labels), "PDB %s selects its pods", pdb.Name)
			require.Equal(t, 1, pdb.Spec.MinAvailable.IntValue(), "PDB %s minAvailable", pdb.Name)
		}
		sms := byKind[*monitoringv1.ServiceMonitor](objs)
		require.Len(t, sms, 4) // jq-server, jq-worker, 2 exporters
		for _, sm := range sms {
			svc := named[*corev1.Service](t, objs, sm.Name)
			require.Truef(t, selects(sm.Spec.Selector, svc.Labels), "ServiceMonitor %s selects Service %s", sm.Name, svc.Name)
			require.Len(t, sm.Spec.Endpoints, 1)
			ep := sm.Spec.Endpoints[0]
			require.Equal(t, monitoringv1.Duration("15s"), ep.Interval, "scrape interval")
			require.Contains(t, servicePorts(svc), ep.Port, "ServiceMonitor %s scrapes a port the Service has", sm.Name)
			require.Equal(t, "/metrics", ep.Path)
		}
	}
}

func servicePorts(svc *corev1.Service) map[string]int32 {
	out := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		out[p.Name] = p.Port
	}
	return out
}
