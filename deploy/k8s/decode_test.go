package k8s

import (
	"errors"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
)

// typedKinds maps every kind the manifests may contain to the Go struct it must decode into.
// A kind that is not here fails the strict check, so adding one is a deliberate choice.
var typedKinds = map[schema.GroupVersionKind]func() any{
	corev1.SchemeGroupVersion.WithKind("Namespace"):                      func() any { return &corev1.Namespace{} },
	corev1.SchemeGroupVersion.WithKind("ConfigMap"):                      func() any { return &corev1.ConfigMap{} },
	corev1.SchemeGroupVersion.WithKind("Service"):                        func() any { return &corev1.Service{} },
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"):                 func() any { return &corev1.ServiceAccount{} },
	appsv1.SchemeGroupVersion.WithKind("Deployment"):                     func() any { return &appsv1.Deployment{} },
	batchv1.SchemeGroupVersion.WithKind("Job"):                           func() any { return &batchv1.Job{} },
	autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"): func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"):          func() any { return &policyv1.PodDisruptionBudget{} },
	networkingv1.SchemeGroupVersion.WithKind("Ingress"):                  func() any { return &networkingv1.Ingress{} },
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"):            func() any { return &networkingv1.NetworkPolicy{} },
	monitoringv1.SchemeGroupVersion.WithKind("ServiceMonitor"):           func() any { return &monitoringv1.ServiceMonitor{} },
	monitoringv1.SchemeGroupVersion.WithKind("PrometheusRule"):           func() any { return &monitoringv1.PrometheusRule{} },
}

// decodeStrict decodes o into its typed struct the way the API server's strict field
// validation does: an unknown or duplicated field, or a value of the wrong type, is an error.
// Secrets are refused outright: their values would be in the repository.
func decodeStrict(o object) (any, error) {
	gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
	if gvk == corev1.SchemeGroupVersion.WithKind("Secret") {
		return nil, errors.New("a Secret in the manifests would commit its values; use an ExternalSecret")
	}
	if gvk.Group == externalSecretsGroup {
		return decodeExternalSecret(gvk, o.JSON)
	}
	newTyped, ok := typedKinds[gvk]
	if !ok {
		return nil, fmt.Errorf("no typed struct known for %s; add one to typedKinds", gvk)
	}
	v := newTyped()
	if err := unmarshalStrict(o.JSON, v); err != nil {
		return nil, err
	}
	return v, nil
}

func unmarshalStrict(data []byte, v any) error {
	strictErrs, err := kjson.UnmarshalStrict(data, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("decode %T strictly: %w", v, errors.Join(strictErrs...))
	}
	return nil
}
