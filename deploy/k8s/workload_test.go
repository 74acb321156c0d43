package k8s

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestOverlays_ContainersHaveResourcesProbesAndSecurity(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		t.Run(ov.Name, func(t *testing.T) {
			t.Parallel()
			objs := renderOverlay(t, ov.Name)
			require.Len(t, podTemplates(objs), 5, "pod templates: jq-server, jq-worker, jq-migrate, 2 exporters")
			require.Empty(t, checkContainers(objs))
		})
	}
}

func TestOverlays_ReplicasImagesAndPullPolicy(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		t.Run(ov.Name, func(t *testing.T) {
			t.Parallel()
			objs := renderOverlay(t, ov.Name)
			server := named[*appsv1.Deployment](t, objs, "jq-server")
			worker := named[*appsv1.Deployment](t, objs, "jq-worker")
			require.Equal(t, ov.ServerReplicas, *server.Spec.Replicas, "jq-server replicas")
			require.Equal(t, ov.WorkerReplicas, *worker.Spec.Replicas, "jq-worker replicas")

			for _, pt := range podTemplates(objs) {
				for _, c := range pt.Spec.Containers {
					switch ov.Name {
					case "staging":
						if isExporterImage(c.Image) {
							break // a pinned upstream release, not a jq image
						}
						require.Regexpf(t, `/jq-(server|worker):staging$`, c.Image, "%s image", pt.Owner)
						// A moving tag (promoted by deploy.yml) must be pulled again on every start.
						require.Equalf(t, corev1.PullAlways, c.ImagePullPolicy, "%s imagePullPolicy", pt.Owner)
					case "production":
						require.Equalf(t, corev1.PullAlways, c.ImagePullPolicy, "%s imagePullPolicy", pt.Owner)
					}
				}
			}
		})
	}
}

// Production gets larger limits than staging, never smaller ones.
func TestOverlays_ProductionLimitsAreLarger(t *testing.T) {
	t.Parallel()
	staging, production := renderOverlay(t, "staging"), renderOverlay(t, "production")
	for _, name := range []string{"jq-server", "jq-worker"} {
		s := named[*appsv1.Deployment](t, staging, name).Spec.Template.Spec.Containers[0].Resources.Limits
		p := named[*appsv1.Deployment](t, production, name).Spec.Template.Spec.Containers[0].Resources.Limits
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			sq, pq := s[r], p[r]
			require.Equalf(t, 1, pq.Cmp(sq), "%s %s limit: production %s, staging %s; want production larger", name, r, pq.String(), sq.String())
		}
	}
}

// The sizes for the server: requests 500m CPU and 512Mi.
func TestOverlays_ServerRequests(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		c := named[*appsv1.Deployment](t, renderOverlay(t, ov.Name), "jq-server").Spec.Template.Spec.Containers[0]
		require.Zerof(t, c.Resources.Requests.Cpu().Cmp(resource.MustParse("500m")), "%s jq-server CPU request %s", ov.Name, c.Resources.Requests.Cpu())
		require.Zerof(t, c.Resources.Requests.Memory().Cmp(resource.MustParse("512Mi")), "%s jq-server memory request %s", ov.Name, c.Resources.Requests.Memory())
	}
}

func TestOverlays_ServerProbesAndSpread(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		d := named[*appsv1.Deployment](t, renderOverlay(t, ov.Name), "jq-server")
		c := d.Spec.Template.Spec.Containers[0]
		require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, "readiness path")
		require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, "liveness path")
		require.Equal(t, "health", c.ReadinessProbe.HTTPGet.Port.String())
		require.Equal(t, int32(8080), containerPort(t, c, "health"))
		require.Equal(t, int32(50051), containerPort(t, c, "grpc"))
		require.Equal(t, int32(9090), containerPort(t, c, "metrics"))
		var zones bool
		for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
			zones = zones || tsc.TopologyKey == corev1.LabelTopologyZone
		}
		require.True(t, zones, "jq-server must spread across zones")
	}
}

// The worker's id is its pod name, from the downward API, and jobs get a writable /tmp on an
// otherwise read-only filesystem.
func TestOverlays_WorkerIDAndScratch(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		pod := named[*appsv1.Deployment](t, renderOverlay(t, ov.Name), "jq-worker").Spec.Template.Spec
		c := pod.Containers[0]
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		require.Contains(t, env, "WORKER_ID")
		require.NotNil(t, env["WORKER_ID"].ValueFrom, "WORKER_ID from the downward API")
		require.Equal(t, "metadata.name", env["WORKER_ID"].ValueFrom.FieldRef.FieldPath)
		require.Equal(t, "$(WORKER_ID)", env["JQ_WORKER_ID"].Value, "JQ_WORKER_ID (worker.id) set from WORKER_ID")

		var tmp string
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/tmp" {
				tmp = m.Name
			}
		}
		require.NotEmpty(t, tmp, "jq-worker mounts /tmp")
		for _, v := range pod.Volumes {
			if v.Name == tmp {
				require.NotNil(t, v.EmptyDir, "/tmp is an emptyDir")
			}
		}
		require.Equal(t, int32(9091), containerPort(t, c, "metrics"))
		require.Equal(t, int32(8081), containerPort(t, c, "health"))
	}
}

// The migration Job runs `jq-server migrate up` with the server's image and database secret,
// and runs before a sync under Argo CD.
func TestOverlays_MigrationJob(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		objs := renderOverlay(t, ov.Name)
		job := named[*batchv1.Job](t, objs, "jq-migrate")
		server := named[*appsv1.Deployment](t, objs, "jq-server")
		c := job.Spec.Template.Spec.Containers[0]
		require.Equal(t, []string{"migrate", "up"}, c.Args)
		require.Equal(t, server.Spec.Template.Spec.Containers[0].Image, c.Image, "the Job migrates with the image being rolled out")
		require.Equal(t, "PreSync", job.Annotations["argocd.argoproj.io/hook"])
		require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
		require.Equal(t, "jq-server-secrets", c.EnvFrom[0].SecretRef.Name)
	}
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	require.Failf(t, "port missing", "container %s has no port named %s", c.Name, name)
	return 0
}
