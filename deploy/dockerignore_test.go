package deploy

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/stretchr/testify/require"
)

// dockerignore returns the matcher of the repository's .dockerignore, built as Docker builds it.
func dockerignore(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	patterns, err := ignorefile.ReadAll(bytes.NewReader(readRepoFile(t, ".dockerignore")))
	require.NoError(t, err)
	pm, err := patternmatcher.New(patterns)
	require.NoError(t, err)
	return pm
}

func excluded(t *testing.T, pm *patternmatcher.PatternMatcher, rel string) bool {
	t.Helper()
	ex, err := pm.MatchesOrParentMatches(filepath.FromSlash(rel))
	require.NoError(t, err)
	return ex
}

// TestDockerignore_KeepsBuildInputs: every file `go build` reads for the three binaries (their
// packages' Go files and embedded files, found with go list), go.mod, go.sum and the probe's
// source stay in the build context.
func TestDockerignore_KeepsBuildInputs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list over the product's packages; skipped with -short")
	}
	root := repoRoot(t)
	cmd := exec.Command("go", "list", "-deps",
		"-f", `{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`,
		"./cmd/jq-server", "./cmd/jq-worker", "./cmd/jq-ctl")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoErrorf(t, err, "go list: %s", exitStderr(err))

	need := []string{"go.mod", "go.sum", "deploy/cmd/jq-probe/main.go"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, fields[0])
		require.NoError(t, err)
		if strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		for _, f := range fields[1:] {
			need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	require.Greater(t, len(need), 50, "go list found only %d files: want every source of the binaries", len(need))

	pm := dockerignore(t)
	var dropped []string
	for _, f := range need {
		if excluded(t, pm, f) {
			dropped = append(dropped, f)
		}
	}
	require.Emptyf(t, dropped, ".dockerignore leaves out files the image builds need:\n%s", strings.Join(dropped, "\n"))
}

// TestDockerignore_KeepsSecretsOut: local configuration, keys and the git history never reach
// the builder.
func TestDockerignore_KeepsSecretsOut(t *testing.T) {
	t.Parallel()
	pm := dockerignore(t)
	for _, f := range []string{
		".git/config", ".env", ".env.local", "config.local.yaml", "worker.key", "deploy/tls/server.pem",
		"certs/ca.crt", ".github/workflows/ci.yml", "bin/jq-server", "queue/store_test.go",
		"docs/deploy.md", "deploy/k8s/base/kustomization.yaml", "deploy/cmd/jq-probe/main_test.go",
	} {
		require.Truef(t, excluded(t, pm, f), ".dockerignore: %s is sent to the builder, want it left out", f)
	}
}

func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
