package deploy

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// runScript runs a repository script with bash in dir, with env added to a minimal
// environment, and returns its combined output and exit code.
func runScript(t *testing.T, dir, script string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{repoPath(t, script)}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	var exit *exec.ExitError
	require.Truef(t, errors.As(err, &exit), "run %s: %v", script, err)
	return string(out), exit.ExitCode()
}

// gitRepo is a throwaway repository with one commit of db/migrations on main.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the migration check needs it")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.write("db/migrations/20261127000001_schema.sql", "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n")
	r.write("db/migrations/20261127000002_funcs.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")
	r.write("README.md", "demo\n")
	r.commit("base")
	r.git("checkout", "-q", "-b", "feature")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	// A private, empty configuration: the machine's must not change the outcome.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	require.NoErrorf(r.t, err, "git %v: %s", args, out)
	return string(out)
}

func (r *gitRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(r.t, os.WriteFile(p, []byte(content), 0o644))
}

func (r *gitRepo) commit(msg string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

func (r *gitRepo) checkMigrations() (string, int) {
	r.t.Helper()
	return runScript(r.t, r.dir, ".github/scripts/check-migrations.sh", []string{"GITHUB_ACTIONS=true"}, "main")
}

func TestCheckMigrations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(r *gitRepo)
		wantCode int
		wantOut  string
	}{
		{"AddedMigration", func(r *gitRepo) {
			r.write("db/migrations/20261201000000_add_index.sql", "-- migrate:up\nSELECT 2;\n")
		}, 0, "ok (1 new migration(s)"},
		{"OtherFilesOnly", func(r *gitRepo) { r.write("README.md", "changed\n") }, 0, "ok (0 new"},
		{"EditedMigration", func(r *gitRepo) {
			r.write("db/migrations/20261127000001_schema.sql", "-- migrate:up\nCREATE TABLE a (id bigint);\n")
		}, 1, "::error file=db/migrations/20261127000001_schema.sql::committed migration changed (M)"},
		{"EditedAndAdded", func(r *gitRepo) {
			r.write("db/migrations/20261127000002_funcs.sql", "-- migrate:up\nSELECT 3;\n")
			r.write("db/migrations/20261201000000_add_index.sql", "-- migrate:up\nSELECT 2;\n")
		}, 1, "20261127000002_funcs.sql: committed migration changed"},
		{"DeletedMigration", func(r *gitRepo) {
			require.NoError(t, os.Remove(filepath.Join(r.dir, "db/migrations/20261127000002_funcs.sql")))
		}, 1, "committed migration deleted"},
		{"RenamedMigration", func(r *gitRepo) {
			r.git("mv", "db/migrations/20261127000002_funcs.sql", "db/migrations/20261201000000_funcs.sql")
		}, 1, "20261127000002_funcs.sql: committed migration deleted"},
		{"OlderThanBase", func(r *gitRepo) {
			r.write("db/migrations/20261127000000_early.sql", "SELECT 1;\n")
		}, 1, "is not newer than 20261127000002"},
		{"Misnamed", func(r *gitRepo) {
			r.write("db/migrations/add-index.sql", "SELECT 1;\n")
		}, 1, "new migration name must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newGitRepo(t)
			tt.change(r)
			r.commit(tt.name)
			out, code := r.checkMigrations()
			require.Equalf(t, tt.wantCode, code, "exit code; output:\n%s", out)
			require.Contains(t, out, tt.wantOut)
		})
	}
}

// TestCheckMigrations_BaseMovedOn: only the pull request's own changes count, not what landed
// on the base branch after it forked (the check diffs against the merge base).
func TestCheckMigrations_BaseMovedOn(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.write("db/migrations/20261201000000_feature.sql", "SELECT 1;\n")
	r.commit("feature migration")
	r.git("checkout", "-q", "main")
	r.write("db/migrations/20261127000001_schema.sql", "-- an edit on main itself, not by this pull request\n")
	r.commit("main moves on")
	r.git("checkout", "-q", "feature")
	out, code := r.checkMigrations()
	require.Equalf(t, 0, code, "output:\n%s", out)
}

func TestCheckMigrations_Usage(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	out, code := runScript(t, r.dir, ".github/scripts/check-migrations.sh", nil)
	require.Equal(t, 2, code, out)
	out, code = runScript(t, r.dir, ".github/scripts/check-migrations.sh", nil, "no-such-branch")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "unknown base")
}

func TestCoverageSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	profile := filepath.Join(dir, "coverage.out")
	// queue: 10 statements, 6 covered (the first block appears twice, covered once);
	// internal/config: 4 statements, none covered.
	require.NoError(t, os.WriteFile(profile, []byte(`mode: atomic
github.com/jqhq/jq/queue/store.go:10.2,12.3 4 0
github.com/jqhq/jq/queue/store.go:14.2,15.3 2 5
github.com/jqhq/jq/queue/store.go:10.2,12.3 4 3
github.com/jqhq/jq/queue/registry.go:1.1,2.2 4 0
github.com/jqhq/jq/internal/config/load.go:3.1,4.2 4 0
`), 0o600))
	out, code := runScript(t, dir, ".github/scripts/coverage-summary.sh", nil, profile)
	require.Equalf(t, 0, code, "output:\n%s", out)
	require.True(t, strings.HasPrefix(out, "<!-- jq-coverage-summary -->\n"), "first line: the marker the workflow looks for")
	require.Contains(t, out, "Total: **42.9%** of statements (6 of 14)")
	// Sorted by package.
	cfg := strings.Index(out, "| `github.com/jqhq/jq/internal/config` | 0.0% | 0 / 4 |")
	q := strings.Index(out, "| `github.com/jqhq/jq/queue` | 60.0% | 6 / 10 |")
	require.Positive(t, cfg, out)
	require.Greater(t, q, cfg, out)

	for name, content := range map[string]string{
		"Empty":     "",
		"NoMode":    "github.com/jqhq/jq/queue/store.go:10.2,12.3 4 0\n",
		"Malformed": "mode: set\nnot a profile line\n",
		// A package path with Markdown in it must not reach the comment.
		"Injection": "mode: set\ngithub.com/x/`](http://evil)/a.go:1.1,2.2 1 1\n",
	} {
		p := filepath.Join(dir, name+".out")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		out, code := runScript(t, dir, ".github/scripts/coverage-summary.sh", nil, p)
		require.Equalf(t, 1, code, "case %s: want exit 1; output:\n%s", name, out)
	}
	_, code = runScript(t, dir, ".github/scripts/coverage-summary.sh", nil, filepath.Join(dir, "missing.out"))
	require.Equal(t, 1, code)
}

// stubCtl writes a stand-in jq-ctl: `system status` fails the first failStatus calls, and
// `job submit` behaves as mode says. It logs every call's arguments to calls.log.
func stubCtl(t *testing.T, mode string, failStatus int) (ctl, calls string) {
	t.Helper()
	dir := t.TempDir()
	ctl = filepath.Join(dir, "jq-ctl")
	calls = filepath.Join(dir, "calls.log")
	script := `#!/usr/bin/env bash
echo "$*" >> "` + calls + `"
count=$(grep -c '^system status' "` + calls + `")
case "$1 $2" in
"system status")
	if [[ $count -le ` + strconv.Itoa(failStatus) + ` ]]; then echo "jq-ctl: unavailable" >&2; exit 5; fi
	echo "healthy"; exit 0 ;;
"job submit")
	last=${@: -1}
	case ` + mode + ` in
	ok) echo "$last" ;;
	wrong) echo "something else" ;;
	dead) echo "jq-ctl: job dead-lettered" >&2; exit 7 ;;
	slow) exit 8 ;;
	esac ;;
*) exit 2 ;;
esac
`
	require.NoError(t, os.WriteFile(ctl, []byte(script), 0o755))
	return ctl, calls
}

func TestSmokeTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		mode       string
		failStatus int
		attempts   string
		wantCode   int
		wantOut    string
	}{
		{"JobRuns", "ok", 0, "3", 0, "ok: a worker ran the smoke job on queue smoke"},
		{"ServerComesUp", "ok", 1, "3", 0, "jq-server answers (attempt 2)"},
		{"ServerNeverAnswers", "ok", 9, "2", 1, "did not answer after 2 attempts"},
		{"WrongOutput", "wrong", 0, "3", 1, "printed 'something else'"},
		{"DeadLettered", "dead", 0, "3", 1, "dead-lettered"},
		{"NoWorker", "slow", 0, "3", 1, "did not finish within 5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctl, calls := stubCtl(t, tt.mode, tt.failStatus)
			out, code := runScript(t, t.TempDir(), "deploy/smoke-test.sh",
				[]string{"JQ_CTL=" + ctl, "SMOKE_QUEUE=smoke", "SMOKE_TIMEOUT=5s", "SMOKE_INTERVAL=0.1", "SMOKE_ATTEMPTS=" + tt.attempts})
			require.Equalf(t, tt.wantCode, code, "output:\n%s", out)
			require.Contains(t, out, tt.wantOut)
			if tt.mode == "ok" && tt.wantCode == 0 {
				log, err := os.ReadFile(calls)
				require.NoError(t, err)
				require.Regexp(t, `(?m)^job submit --queue smoke --wait --wait-timeout 5s -- echo jq-smoke-\d+-\d+$`, string(log))
			}
		})
	}
	out, code := runScript(t, t.TempDir(), "deploy/smoke-test.sh", []string{"JQ_CTL=no-such-jq-ctl"})
	require.Equal(t, 2, code, out)
}

func TestNotifySlack(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"jq", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (GitHub's runners have it): notify-slack.sh needs it", tool)
		}
	}
	type message struct {
		Text        string `json:"text"`
		Attachments []struct {
			Color  string `json:"color"`
			Fields []struct {
				Title string `json:"title"`
				Value string `json:"value"`
			} `json:"fields"`
		} `json:"attachments"`
	}
	received := make(chan message, 1)
	status := http.StatusOK
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		received <- m
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	env := []string{"SLACK_WEBHOOK_URL=" + srv.URL, "GITHUB_SERVER_URL=https://github.example", "GITHUB_REPOSITORY=jqhq/jq", "GITHUB_RUN_ID=42", "GITHUB_ACTOR=octo"}

	// Quotes, a backslash and a newline must arrive as they were: the JSON is built by jq.
	text := "jq deploy of abc to \"staging\" FAILED \\ rolled back\nsee the run"
	out, code := runScript(t, t.TempDir(), ".github/scripts/notify-slack.sh", env, "failure", text)
	require.Equalf(t, 0, code, "output:\n%s", out)
	m := <-received
	require.Equal(t, ":x: "+text, m.Text)
	require.Len(t, m.Attachments, 1)
	require.Equal(t, "danger", m.Attachments[0].Color)
	require.Equal(t, "https://github.example/jqhq/jq/actions/runs/42", m.Attachments[0].Fields[0].Value)

	_, code = runScript(t, t.TempDir(), ".github/scripts/notify-slack.sh", env, "success", "live")
	require.Equal(t, 0, code)
	m = <-received
	require.Equal(t, ":white_check_mark: live", m.Text)
	require.Equal(t, "good", m.Attachments[0].Color)

	mu.Lock()
	status = http.StatusNotFound // a webhook that was revoked
	mu.Unlock()
	out, code = runScript(t, t.TempDir(), ".github/scripts/notify-slack.sh", env, "success", "live")
	<-received
	require.Equalf(t, 1, code, "Slack refused the message: want exit 1; output:\n%s", out)

	// No webhook configured: a warning, and the deployment goes on.
	out, code = runScript(t, t.TempDir(), ".github/scripts/notify-slack.sh", nil, "failure", "x")
	require.Equal(t, 0, code)
	require.Contains(t, out, "::warning::SLACK_WEBHOOK_URL is not set")

	_, code = runScript(t, t.TempDir(), ".github/scripts/notify-slack.sh", env, "maybe", "x")
	require.Equal(t, 2, code)
}

// TestScripts_Shellcheck lints the scripts of this issue with shellcheck where it is installed.
func TestScripts_Shellcheck(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed (apt-get install shellcheck): the scripts are not linted")
	}
	scripts, err := filepath.Glob(repoPath(t, ".github/scripts/*.sh"))
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	scripts = append(scripts, repoPath(t, "deploy/smoke-test.sh"))
	out, err := exec.Command(bin, scripts...).CombinedOutput()
	require.NoErrorf(t, err, "shellcheck:\n%s", out)
}
