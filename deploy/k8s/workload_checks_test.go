package k8s

import (
	"cmp"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// The uid the images run as (deploy/docker/Dockerfile.*).
const imageUID = 1001

// podTemplate is a pod spec with where it came from.
type podTemplate struct {
	Owner string
	// LongRunning is true for Deployments, whose containers must have probes; a Job's
	// container runs to completion and has none.
	LongRunning bool
	Spec        *corev1.PodSpec
}

func podTemplates(objs []object) []podTemplate {
	var out []podTemplate
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *appsv1.Deployment:
			out = append(out, podTemplate{Owner: o.String(), LongRunning: true, Spec: &v.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, podTemplate{Owner: o.String(), Spec: &v.Spec.Template.Spec})
		}
	}
	return out
}

// checkContainers lists every way a container falls short of what jq's pods must have:
// CPU and memory requests and limits (limits not below requests), readiness, liveness and
// startup probes on long-running containers, and a locked-down security context (non-root
// uid 1001, no privilege escalation, read-only root filesystem, every capability dropped,
// the runtime's seccomp profile).
func checkContainers(objs []object) []string {
	var problems []string
	for _, pt := range podTemplates(objs) {
		pod := pt.Spec
		if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
			pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			problems = append(problems, pt.Owner+": pod securityContext.seccompProfile must be RuntimeDefault")
		}
		all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
		for _, c := range all {
			where := fmt.Sprintf("%s container %s", pt.Owner, c.Name)
			problems = append(problems, checkResources(where, c.Resources)...)
			problems = append(problems, checkSecurity(where, pod.SecurityContext, c.SecurityContext)...)
			if pt.LongRunning {
				for probe, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
					if p == nil {
						problems = append(problems, fmt.Sprintf("%s: no %s", where, probe))
					}
				}
			}
			if !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
				problems = append(problems, fmt.Sprintf("%s: image %q must name a tag other than latest", where, c.Image))
			}
		}
	}
	return problems
}

func checkResources(where string, r corev1.ResourceRequirements) []string {
	var problems []string
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq {
			problems = append(problems, fmt.Sprintf("%s: no %s request", where, name))
		}
		if !hasLim {
			problems = append(problems, fmt.Sprintf("%s: no %s limit", where, name))
		}
		if hasReq && hasLim && lim.Cmp(req) < 0 {
			problems = append(problems, fmt.Sprintf("%s: %s limit %s below its request %s", where, name, lim.String(), req.String()))
		}
	}
	return problems
}

func checkSecurity(where string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) []string {
	if c == nil {
		return []string{where + ": no securityContext"}
	}
	var problems []string
	nonRoot := c.RunAsNonRoot
	uid := c.RunAsUser
	if pod != nil {
		nonRoot = cmp.Or(nonRoot, pod.RunAsNonRoot)
		uid = cmp.Or(uid, pod.RunAsUser)
	}
	if nonRoot == nil || !*nonRoot {
		problems = append(problems, where+": runAsNonRoot must be true")
	}
	if uid == nil || *uid != imageUID {
		problems = append(problems, fmt.Sprintf("%s: runAsUser must be %d, the images' user", where, imageUID))
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		problems = append(problems, where+": allowPrivilegeEscalation must be false")
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		problems = append(problems, where+": readOnlyRootFilesystem must be true")
	}
	if c.Privileged != nil && *c.Privileged {
		problems = append(problems, where+": privileged")
	}
	if c.Capabilities == nil || len(c.Capabilities.Add) > 0 || !containsCap(c.Capabilities.Drop, "ALL") {
		problems = append(problems, where+": capabilities must drop ALL and add none")
	}
	return problems
}

func containsCap(caps []corev1.Capability, want corev1.Capability) bool {
	for _, c := range caps {
		if c == want {
			return true
		}
	}
	return false
}
