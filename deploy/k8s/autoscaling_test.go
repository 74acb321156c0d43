package k8s

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/yaml"

	"github.com/jqhq/jq/queue"
)

// adapterValues is the prometheus-adapter Helm values that Terraform's eks-addons module
// installs; its external rules serve the metric the worker HPA scales on.
const adapterValues = "../../terraform/modules/eks-addons/values/prometheus-adapter.yaml"

func TestOverlays_ServerHPA(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		hpa := named[*autoscalingv2.HorizontalPodAutoscaler](t, renderOverlay(t, ov.Name), "jq-server")
		require.Equal(t, "jq-server", hpa.Spec.ScaleTargetRef.Name)
		require.Equal(t, int32(5), hpa.Spec.MaxReplicas)
		require.LessOrEqual(t, *hpa.Spec.MinReplicas, ov.ServerReplicas, "minReplicas")
		require.Len(t, hpa.Spec.Metrics, 1)
		m := hpa.Spec.Metrics[0]
		require.Equal(t, autoscalingv2.ResourceMetricSourceType, m.Type)
		require.Equal(t, "cpu", string(m.Resource.Name))
		require.Equal(t, int32(70), *m.Resource.Target.AverageUtilization)
	}
	// Production keeps its two servers; the autoscaler only adds.
	prod := named[*autoscalingv2.HorizontalPodAutoscaler](t, renderOverlay(t, "production"), "jq-server")
	require.Equal(t, int32(2), *prod.Spec.MinReplicas)
}

func TestOverlays_WorkerHPAScalesOnExportedQueueDepth(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		hpa := named[*autoscalingv2.HorizontalPodAutoscaler](t, renderOverlay(t, ov.Name), "jq-worker")
		require.Empty(t, checkWorkerHPA(hpa))
		// The range is 2-50; staging's single worker lowers it to 1-5.
		want := map[string][2]int32{"staging": {1, 5}, "production": {2, 50}}[ov.Name]
		require.Equal(t, want, [2]int32{*hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas}, "%s jq-worker HPA min/max", ov.Name)
	}
}

// checkWorkerHPA holds the worker HPA to the issue: it scales on jq_job_queue_depth per worker
// with target 10, the metric is one jq-server really exports (read from the metrics registry)
// with labels it really has, and prometheus-adapter serves it as an external metric from that
// same series.
func checkWorkerHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) []string {
	exported := exportedMetrics()
	var problems []string
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].External == nil {
		return []string{"jq-worker HPA: want exactly one External metric"}
	}
	ext := hpa.Spec.Metrics[0].External
	name := ext.Metric.Name
	labels, ok := exported[name]
	if !ok {
		problems = append(problems, fmt.Sprintf("jq-worker HPA: metric %s is not exported by jq (internal/metrics)", name))
	}
	if name != "jq_job_queue_depth" {
		problems = append(problems, fmt.Sprintf("jq-worker HPA: scales on %s, want jq_job_queue_depth", name))
	}
	if ext.Metric.Selector != nil {
		for k, v := range ext.Metric.Selector.MatchLabels {
			if ok && !slices.Contains(labels, k) {
				problems = append(problems, fmt.Sprintf("jq-worker HPA: selector label %s; %s has labels %v", k, name, labels))
			}
			if k == "status" && !queue.JobStatus(v).Valid() {
				problems = append(problems, fmt.Sprintf("jq-worker HPA: status %q is not a job status", v))
			}
		}
	}
	if ext.Target.Type != autoscalingv2.AverageValueMetricType || ext.Target.AverageValue == nil || ext.Target.AverageValue.Value() != 10 {
		problems = append(problems, "jq-worker HPA: want an AverageValue target of 10 (queued jobs per worker)")
	}
	if err := checkAdapterServes(adapterValues, name, exported); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

var seriesMetric = regexp.MustCompile(`^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// checkAdapterServes checks that the prometheus-adapter values expose metric as an external
// metric, namespaced (the HPA asks for its own namespace), from a series jq exports.
func checkAdapterServes(path, metric string, exported map[string][]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("prometheus-adapter values: %w", err)
	}
	var values struct {
		Rules struct {
			External []struct {
				SeriesQuery string `json:"seriesQuery"`
				Resources   struct {
					Overrides map[string]struct {
						Resource string `json:"resource"`
					} `json:"overrides"`
				} `json:"resources"`
				Name struct {
					As string `json:"as"`
				} `json:"name"`
				MetricsQuery string `json:"metricsQuery"`
			} `json:"external"`
		} `json:"rules"`
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("prometheus-adapter values %s: %w", path, err)
	}
	for _, r := range values.Rules.External {
		m := seriesMetric.FindStringSubmatch(r.SeriesQuery)
		if m == nil {
			return fmt.Errorf("prometheus-adapter: seriesQuery %q names no metric", r.SeriesQuery)
		}
		served := r.Name.As
		if served == "" {
			served = m[1]
		}
		if served != metric {
			continue
		}
		if _, ok := exported[m[1]]; !ok {
			return fmt.Errorf("prometheus-adapter serves %s from %s, which jq does not export", metric, m[1])
		}
		if r.Resources.Overrides["namespace"].Resource != "namespace" {
			return fmt.Errorf("prometheus-adapter rule for %s must map the namespace label to the namespace resource", metric)
		}
		if r.MetricsQuery == "" {
			return fmt.Errorf("prometheus-adapter rule for %s has no metricsQuery", metric)
		}
		return nil
	}
	return fmt.Errorf("prometheus-adapter (%s) serves no external metric %s", path, metric)
}

// The registry read must find the metrics, or every check above would pass vacuously.
func TestExportedMetrics_ReadFromRegistry(t *testing.T) {
	t.Parallel()
	got := exportedMetrics()
	require.Contains(t, got, "jq_job_queue_depth")
	require.Equal(t, []string{"queue", "status"}, got["jq_job_queue_depth"])
	require.Greater(t, len(got), 10)
}
