package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// composeTargets need a Docker engine; the others of this issue must not.
var composeTargets = []string{"docker-build", "up", "down", "logs", "test-integration", "test-e2e"}

// TestMakefile_Targets: the targets of the containers issue exist and `make help` lists them
// (a `## description` on the rule line), and make test / make lint run the deploy checks.
func TestMakefile_Targets(t *testing.T) {
	t.Parallel()
	mk := string(readRepoFile(t, "Makefile"))
	for _, target := range append([]string{"test-unit", "config.local.yaml", "lint-deploy"}, composeTargets...) {
		require.Regexpf(t, `(?m)^`+regexp.QuoteMeta(target)+`:[^\n]*## \S`, mk, "Makefile: want a rule `%s: ... ## description`", target)
	}
	require.Regexp(t, `(?m)^test: \$\(ACTIONLINT\)$`, mk, "make test must install the pinned actionlint the deploy checks run")
	require.Regexp(t, `(?m)^lint: lint-deploy$`, mk, "make lint must run actionlint and the deploy checks")
	require.Regexp(t, `(?m)^ACTIONLINT_VERSION\s*:=\s*`+regexp.QuoteMeta(actionlintVersion)+`$`, mk, "the tests look for the version the Makefile installs")
	require.Regexp(t, `(?m)^export ACTIONLINT$`, mk)
}

// TestMakefile_ComposeTargetsWithoutDocker: where no Docker engine answers, each compose target
// says so in one line and fails, before doing anything else. A stand-in docker whose `info`
// fails plays the missing engine, so this runs on any machine.
func TestMakefile_ComposeTargetsWithoutDocker(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/sh\necho \"docker $*\" >> \"$0.calls\"\nexit 1\n"), 0o755))
	for _, target := range composeTargets {
		t.Run(target, func(t *testing.T) { // sequential: the calls are read below
			cmd := exec.Command("make", "--no-print-directory", "-s", target)
			cmd.Dir = repoRoot(t)
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "MAKEFLAGS=")
			out, err := cmd.CombinedOutput()
			require.Errorf(t, err, "make %s without a Docker engine: want a failure; output:\n%s", target, out)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			require.Equalf(t, "no Docker engine answers: `make "+target+"` needs one", lines[0], "make %s output:\n%s", target, out)
		})
	}
	calls, err := os.ReadFile(filepath.Join(bin, "docker.calls"))
	require.NoError(t, err)
	for _, call := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		require.Equal(t, "docker info", call, "nothing but `docker info` may run before the engine answered")
	}
}
