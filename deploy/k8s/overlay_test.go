package k8s

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Everything lands in the overlay's namespace, which the overlay itself creates.
func TestOverlays_Namespace(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		objs := renderOverlay(t, ov.Name)
		nss := byKind[*corev1.Namespace](objs)
		require.Len(t, nss, 1)
		require.Equal(t, ov.Namespace, nss[0].Name)
		require.Equal(t, "restricted", nss[0].Labels["pod-security.kubernetes.io/enforce"])
		for _, o := range objs {
			if o.Kind != "Namespace" {
				require.Equalf(t, ov.Namespace, o.Namespace, "%s", o)
			}
		}
	}
}

// Secrets come from this environment's Secrets Manager entries, through the ClusterSecretStore
// Terraform creates, and are never written in the manifests.
func TestOverlays_SecretsFromThisEnvironment(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		objs := renderOverlay(t, ov.Name)
		ess := byKind[*externalSecret](objs)
		require.Len(t, ess, 2)
		for _, es := range ess {
			require.Equal(t, "ClusterSecretStore", es.Spec.SecretStoreRef.Kind)
			require.Equal(t, "aws-secrets-manager", es.Spec.SecretStoreRef.Name)
			for _, d := range es.Spec.Data {
				key := d.RemoteRef.Key
				require.Truef(t, strings.HasPrefix(key, "jq/"+ov.Name+"/") || key == "AmazonMSK_jq-"+ov.Name,
					"%s: %s reads %s, not an entry of %s", es.Name, d.SecretKey, key, ov.Name)
			}
		}
		for _, sa := range byKind[*corev1.ServiceAccount](objs) {
			require.Regexpf(t, `^arn:aws:iam::AWS_ACCOUNT_ID:role/jq-`+ov.Name+`-(server|worker)$`, sa.Annotations["eks.amazonaws.com/role-arn"], "ServiceAccount %s IRSA role", sa.Name)
			require.Equal(t, "jq-"+ov.Name+"-"+strings.TrimPrefix(sa.Name, "jq-"), lastSegment(sa.Annotations["eks.amazonaws.com/role-arn"]))
		}
	}
}

// The ALB exposes gRPC over HTTPS 443 to the internet, as the issue asks.
func TestOverlays_Ingress(t *testing.T) {
	t.Parallel()
	for _, ov := range overlays {
		ing := named[*networkingv1.Ingress](t, renderOverlay(t, ov.Name), "jq-server")
		require.Equal(t, "alb", *ing.Spec.IngressClassName)
		a := ing.Annotations
		require.Equal(t, "GRPC", a["alb.ingress.kubernetes.io/backend-protocol-version"])
		require.Equal(t, "internet-facing", a["alb.ingress.kubernetes.io/scheme"])
		require.JSONEq(t, `[{"HTTPS":443}]`, a["alb.ingress.kubernetes.io/listen-ports"])
		require.Regexp(t, `^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/`, fillPlaceholders(a["alb.ingress.kubernetes.io/certificate-arn"]))
		backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
		require.Equal(t, "jq-server", backend.Name)
		require.Equal(t, "grpc", backend.Port.Name)
	}
}

var imageRef = regexp.MustCompile(`^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+$`)

// Placeholders are the only holes: filled with examples, images and ARNs are well formed, and
// README.md explains every one of them.
func TestOverlays_PlaceholdersDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for name := range placeholders {
		require.Containsf(t, string(readme), "`"+name+"`", "README.md must explain the placeholder %s", name)
	}
	for _, ov := range overlays {
		objs := renderOverlay(t, ov.Name)
		for _, pt := range podTemplates(objs) {
			for _, c := range pt.Spec.Containers {
				require.Regexpf(t, imageRef, fillPlaceholders(c.Image), "%s image", pt.Owner)
			}
		}
		var all strings.Builder
		for _, o := range objs {
			all.Write(o.JSON)
		}
		for name := range placeholders {
			if strings.Contains(all.String(), name) {
				continue
			}
			if name == "IMAGE_TAG" && ov.Name == "staging" {
				continue // staging deploys the moving `staging` tag
			}
			require.Failf(t, "placeholder unused", "%s: placeholder %s appears nowhere; drop it from the list and README", ov.Name, name)
		}
		require.NotContains(t, all.String(), "ENVIRONMENT", "%s: a base value the overlay must replace", ov.Name)
	}
}

func lastSegment(arn string) string {
	i := strings.LastIndex(arn, "/")
	return arn[i+1:]
}

// clusterSecretStore is the store Terraform's eks-addons module creates in every cluster.
const clusterSecretStore = "../../terraform/modules/eks-addons/charts/cluster-config/templates/clustersecretstore.yaml"

// The ExternalSecrets name the store Terraform really creates.
func TestExternalSecrets_StoreExistsInTerraform(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(clusterSecretStore)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^kind: ClusterSecretStore$`, string(data))
	m := regexp.MustCompile(`(?m)^  name: (\S+)$`).FindStringSubmatch(string(data))
	require.NotNil(t, m, "the store's name")
	for _, ov := range overlays {
		for _, es := range byKind[*externalSecret](renderOverlay(t, ov.Name)) {
			require.Equal(t, m[1], es.Spec.SecretStoreRef.Name, "%s: ExternalSecret %s", ov.Name, es.Name)
		}
	}
}

// The vendored CRD is the version of the operator Terraform installs.
func TestExternalSecrets_VendoredCRDMatchesInstalledChart(t *testing.T) {
	t.Parallel()
	vars, err := os.ReadFile("../../terraform/modules/eks-addons/variables.tf")
	require.NoError(t, err)
	chart := regexp.MustCompile(`external_secrets\s*=\s*"([^"]+)"`).FindStringSubmatch(string(vars))
	require.NotNil(t, chart, "eks-addons pins the external-secrets chart")
	crd, err := os.ReadFile(externalSecretCRD)
	require.NoError(t, err)
	require.Contains(t, string(crd), "external-secrets/external-secrets v"+chart[1]+",", "testdata CRD and the chart Terraform installs must be the same version")
}
