package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the repository root: go test runs in this package's folder, deploy/.
func repoRoot(t testing.TB) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	require.NoError(t, err)
	return abs
}

// repoPath turns a slash-separated, repository-relative path into an absolute one.
func repoPath(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

// readRepoFile reads a repository-relative file.
func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, rel))
	require.NoErrorf(t, err, "read %s", rel)
	return data
}

// requireExists fails unless the repository-relative path exists (file or directory).
func requireExists(t testing.TB, rel, what string) {
	t.Helper()
	_, err := os.Stat(repoPath(t, rel))
	require.NoErrorf(t, err, "%s: got %v, want %s to exist in the repository", what, err, rel)
}

// findTool finds a pinned tool: the path in envVar (exported by the Makefile), else the name on
// PATH, else the Makefile's install location under TOOLS_DIR. It skips the test, naming the make
// target that installs the tool, when none is found.
func findTool(t *testing.T, envVar, name, version, makeTarget string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		t.Fatalf("%s=%s: no such file (run %s)", envVar, p, makeTarget)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	toolsDir := os.Getenv("TOOLS_DIR")
	if toolsDir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Skipf("%s not found (%s unset, not on PATH, no home directory): run %s", name, envVar, makeTarget)
			}
			cache = filepath.Join(home, ".cache")
		}
		toolsDir = filepath.Join(cache, "jq-tools")
	}
	p := filepath.Join(toolsDir, name+"-"+version, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Skipf("%s %s not found (%s unset, not on PATH, not at %s): run %s", name, version, envVar, p, makeTarget)
	return ""
}

// dockerAnswers reports whether a Docker engine answers `docker info`.
func dockerAnswers() bool {
	if _, err := exec.LookPath("docker"); err != nil {
		return false
	}
	return exec.Command("docker", "info").Run() == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
