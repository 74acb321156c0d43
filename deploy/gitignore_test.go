package deploy

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGitignore_LocalSecrets: local configuration, .env files and key material cannot be
// committed by accident, while their committed examples can. Asked of git itself
// (check-ignore --no-index), so it is the real matching, negations included.
func TestGitignore_LocalSecrets(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	if err := exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skipf("not a git checkout (git rev-parse: %v): .gitignore cannot be asked", err)
	}
	ignored := func(path string) bool {
		err := exec.Command("git", "-C", root, "check-ignore", "--no-index", "-q", path).Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return true
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			return false
		default:
			t.Fatalf("git check-ignore %s: %v", path, err)
			return false
		}
	}
	for _, p := range []string{".env", ".env.local", "config.local.yaml", "worker.key", "deploy/keys/admin.key", "tls/server.crt", "ca.pem", "bin/jq-server", "jq-worker", "jq-ctl"} {
		require.Truef(t, ignored(p), ".gitignore: %s could be committed, want it ignored", p)
	}
	for _, p := range []string{".env.example", "config.local.example.yaml", "docker-compose.yml", "deploy/docker/Dockerfile.server"} {
		require.Falsef(t, ignored(p), ".gitignore: %s is ignored, want it committed", p)
	}
}
