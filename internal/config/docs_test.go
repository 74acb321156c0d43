package config_test

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/config.md")

func TestMarkdown_DocsUpToDate(t *testing.T) {
	const path = "../../docs/config.md"
	want := config.Markdown()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(got), "docs/config.md is stale: run `make generate`")
	for _, f := range config.Default(config.ServiceServer).Fields() {
		require.Contains(t, want, "`"+f.Env+"`")
	}
}
