package k8s

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOverlays_NetworkPolicies(t *testing.T) {
	t.Parallel()
	cidr, err := terraformVPCCIDR()
	require.NoError(t, err)
	require.Equal(t, "10.0.0.0/16", cidr, "the issue's VPC")
	for _, ov := range overlays {
		require.Emptyf(t, checkNetworkPolicies(renderOverlay(t, ov.Name), cidr), "overlay %s", ov.Name)
	}
}
