package k8s

import (
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func yamlToJSON(t *testing.T, data []byte) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON(data)
	require.NoError(t, err)
	return j
}
