package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Tool returns the path of a pinned external tool (promtool, amtool) for a test that runs it.
// It looks, in order, at the environment variable named after the tool in upper case (the
// Makefile exports PROMTOOL=… and AMTOOL=… to make test; when it is set the tool must be
// there), then on PATH, then where `make tools-obs` installs the version the Makefile pins:
// $TOOLS_DIR (default $XDG_CACHE_HOME or ~/.cache, then jq-tools)/<name>-<version>/<name>.
// When none has it, the test is skipped with the make target that installs it.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	env := strings.ToUpper(name)
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("%s=%s: %v (run `make tools-obs`)", env, p, err)
		}
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	version, err := pinnedVersion(name)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	p := filepath.Join(toolsDir(), name+"-"+version, name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("%s %s is not installed (not in $%s, on PATH or at %s): run `make tools-obs` (make test does)", name, version, env, p)
	}
	return p
}

// toolsDir is the Makefile's TOOLS_DIR.
func toolsDir() string {
	if d := os.Getenv("TOOLS_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "jq-tools")
}

// pinnedVersion reads <NAME>_VERSION from the Makefile, the one place versions are pinned.
func pinnedVersion(name string) (string, error) {
	mk, err := os.ReadFile(filepath.Join(moduleRoot(), "Makefile"))
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(`(?m)^` + strings.ToUpper(name) + `_VERSION\s*:?=\s*(\S+)`)
	m := re.FindSubmatch(mk)
	if m == nil {
		return "", fmt.Errorf("the Makefile pins no %s_VERSION", strings.ToUpper(name))
	}
	return string(m[1]), nil
}

// LintProblems runs `promtool check metrics` (promlint) on a /metrics body and returns the
// problems it reports, one "<metric> <problem>" line each, with the known exception left out:
// jq_worker_active_count is named by the specification, and promlint reserves the _count
// suffix for histograms and summaries. It fails the test when promtool cannot run or rejects
// the body as unparsable.
func LintProblems(tb testing.TB, promtool string, body []byte) []string {
	tb.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == 3: // lint problems found
	default:
		tb.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || (strings.HasPrefix(line, "jq_worker_active_count ") && strings.Contains(line, `"_count" suffix`)) {
			continue
		}
		problems = append(problems, line)
	}
	return problems
}
