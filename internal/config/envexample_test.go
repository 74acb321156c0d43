package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// envExamplePath is the repository's .env.example, seen from this package's folder.
const envExamplePath = "../../.env.example"

// envOutsideConfig are the JQ_* variables jq reads that are not settings of Config, each with
// the repository file that shows it is real: .env.example may (and must) name them too. When a
// program starts or stops reading one, change this list and .env.example together.
var envOutsideConfig = map[string]string{
	// Every binary: the config file to read (--config).
	"JQ_CONFIG": "internal/cli/cli.go",
	// jq-ctl's global flags (their variables are built from the flag names, so the docs, which
	// cmd/jq-ctl's TestDocs keeps in step with the code, are where the names are written).
	"JQ_TLS_CA":          "docs/jq-ctl.md",
	"JQ_TLS_CERT":        "docs/jq-ctl.md",
	"JQ_TLS_KEY":         "docs/jq-ctl.md",
	"JQ_TLS_SERVER_NAME": "docs/jq-ctl.md",
	"JQ_TIMEOUT":         "docs/jq-ctl.md",
	"JQ_OUTPUT":          "docs/jq-ctl.md",
	// The development scripts and the test harness.
	"JQ_LOCAL_DIR": "deploy/local-services.sh",
	"JQ_RUN_LOGS":  "deploy/run-local.sh",
	"JQ_TEST_LOGS": "internal/testserver/testserver.go",
}

// envExampleEntry is one variable of .env.example: `# JQ_X=placeholder` (or uncommented), with
// the comment line above it.
type envExampleEntry struct {
	line        int
	placeholder string
	explanation string
}

var envExampleVar = regexp.MustCompile(`^#?\s*(JQ_[A-Z0-9_]+)=(.*)$`)

// parseEnvExample reads .env.example and fails on a variable named twice or without a
// placeholder or an explanation.
func parseEnvExample(t envTB, data []byte) map[string]envExampleEntry {
	t.Helper()
	out := map[string]envExampleEntry{}
	var prev string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		m := envExampleVar.FindStringSubmatch(text)
		if m == nil {
			prev = text
			continue
		}
		name, placeholder := m[1], strings.TrimSpace(m[2])
		first, dup := out[name]
		require.Falsef(t, dup, ".env.example:%d: %s is also on line %d; name each variable once", n, name, first.line)
		require.NotEmptyf(t, placeholder, ".env.example:%d: %s has no placeholder; write %s=<example value>", n, name, name)
		explanation := strings.TrimSpace(strings.TrimPrefix(prev, "#"))
		require.Truef(t, strings.HasPrefix(prev, "#") && explanation != "" && !envExampleVar.MatchString(prev) && !strings.HasPrefix(prev, "##"),
			".env.example:%d: %s has no explanation; put one comment line right above it", n, name)
		out[name] = envExampleEntry{line: n, placeholder: placeholder, explanation: explanation}
		prev = text
	}
	require.NoError(t, sc.Err())
	return out
}

// TestEnvExample_MatchesConfig: .env.example documents every JQ_* variable that jq-server,
// jq-worker and jq-ctl read, and no other. A new config field fails this test until its
// variable is added to .env.example (the failure prints the lines to add).
func TestEnvExample_MatchesConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(envExamplePath)
	require.NoError(t, err)
	documented := parseEnvExample(t, data)

	want := map[string]Field{}
	for _, svc := range []Service{ServiceServer, ServiceWorker, ServiceCtl} {
		for _, f := range Default(svc).Fields() {
			require.NotEmptyf(t, f.Env, "config field %s has no env tag", f.Path)
			want[f.Env] = f
		}
	}

	var missing []string
	for _, env := range sortedFieldEnvs(want) {
		if _, ok := documented[env]; !ok {
			f := want[env]
			placeholder := f.String()
			if placeholder == "" {
				placeholder = "<example>"
			}
			missing = append(missing, fmt.Sprintf("# %s\n# %s=%s", f.Help, env, placeholder))
		}
	}
	for env, file := range envOutsideConfig {
		if _, ok := documented[env]; !ok {
			missing = append(missing, fmt.Sprintf("# <what it does; read by %s>\n# %s=<example>", file, env))
		}
	}
	sort.Strings(missing)
	require.Emptyf(t, missing, ".env.example lacks variables jq reads; add these lines (in the section of the setting):\n\n%s\n", strings.Join(missing, "\n"))

	var unknown []string
	for env, e := range documented {
		if _, ok := want[env]; ok {
			continue
		}
		if _, ok := envOutsideConfig[env]; ok {
			continue
		}
		unknown = append(unknown, fmt.Sprintf(".env.example:%d: %s", e.line, env))
	}
	sort.Strings(unknown)
	require.Emptyf(t, unknown, ".env.example names variables jq does not read: remove them, or, for a variable read outside internal/config, add it to envOutsideConfig in %s:\n%s",
		"internal/config/envexample_test.go", strings.Join(unknown, "\n"))
}

// TestEnvExample_OutsideConfigIsReal: each variable of envOutsideConfig is still named by the
// file given as its reader, so the allowance cannot outlive the variable.
func TestEnvExample_OutsideConfigIsReal(t *testing.T) {
	t.Parallel()
	for env, file := range envOutsideConfig {
		data, err := os.ReadFile("../../" + file)
		require.NoErrorf(t, err, "envOutsideConfig[%s]", env)
		require.Truef(t, regexp.MustCompile(`\b`+env+`\b`).Match(data), "envOutsideConfig: %s no longer names %s; drop it here and in .env.example", file, env)
	}
	// And the other way: every variable of jq-ctl's global flags is documented.
	doc, err := os.ReadFile("../../docs/jq-ctl.md")
	require.NoError(t, err)
	for _, m := range regexp.MustCompile("(?m)^\\| `--[^|]*\\| `(JQ_[A-Z0-9_]+)` \\|").FindAllSubmatch(doc, -1) {
		env := string(m[1])
		_, inConfig := Default(ServiceCtl).fieldByEnv(env)
		_, outside := envOutsideConfig[env]
		require.Truef(t, inConfig || outside, "docs/jq-ctl.md names %s: add it to .env.example and to envOutsideConfig", env)
	}
}

func TestParseEnvExample_Rejects(t *testing.T) {
	t.Parallel()
	good := "## section\n# what it does\n# JQ_A=1\n# what B does\nJQ_B=x\n"
	got := parseEnvExample(t, []byte(good))
	require.Equal(t, "what it does", got["JQ_A"].explanation)
	require.Equal(t, "x", got["JQ_B"].placeholder)

	for name, bad := range map[string]string{
		"Twice":          good + "# again\n# JQ_A=2\n",
		"NoPlaceholder":  "# what it does\n# JQ_A=\n",
		"NoExplanation":  "\n# JQ_A=1\n",
		"SectionIsNotIt": "## section\n# JQ_A=1\n",
		"TwoInARow":      "# what they do\n# JQ_A=1\n# JQ_B=2\n",
	} {
		ft := &fakeT{}
		func() {
			defer func() { _ = recover() }()
			parseEnvExample(ft, []byte(bad))
		}()
		require.Truef(t, ft.failed, "case %s: got no failure, want parseEnvExample to reject:\n%s", name, bad)
	}
}

// envTB is what parseEnvExample needs of a *testing.T.
type envTB interface {
	require.TestingT
	Helper()
}

// fakeT records a failure instead of failing the test, to show that a check rejects bad input.
type fakeT struct {
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(string, ...any) {
	f.failed = true
}
func (f *fakeT) FailNow() {
	f.failed = true
	panic("FailNow")
}

func (c *Config) fieldByEnv(env string) (Field, bool) {
	for _, f := range c.Fields() {
		if f.Env == env {
			return f, true
		}
	}
	return Field{}, false
}

func sortedFieldEnvs(m map[string]Field) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
