package deploy

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/jqhq/jq/deploy/internal/workflowpolicy"
)

const actionlintVersion = "v1.7.12" // the Makefile's ACTIONLINT_VERSION

// workflowFiles lists .github/workflows/*.yml, repository-relative.
func workflowFiles(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(repoPath(t, ".github/workflows/*.yml"))
	require.NoError(t, err)
	var out []string
	for _, m := range matches {
		out = append(out, ".github/workflows/"+filepath.Base(m))
	}
	require.NotEmpty(t, out, "no workflow under .github/workflows")
	return out
}

func actionlint(t *testing.T) string {
	t.Helper()
	return findTool(t, "ACTIONLINT", "actionlint", actionlintVersion, "make lint-deploy (make test and make lint install it too)")
}

// TestWorkflows_Actionlint runs the pinned actionlint on every workflow (with shellcheck on
// the run: scripts when shellcheck is installed).
func TestWorkflows_Actionlint(t *testing.T) {
	t.Parallel()
	bin := actionlint(t)
	cmd := exec.Command(bin, append([]string{"-no-color"}, workflowFiles(t)...)...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "actionlint:\n%s", out)
}

// TestActionlint_CatchesErrors: the way actionlint is run here does report a broken workflow
// (so a pass above means something).
func TestActionlint_CatchesErrors(t *testing.T) {
	t.Parallel()
	bin := actionlint(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755))
	bad := "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ secrets }}\n        if: ${{ github.nope }}\n      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
	f := filepath.Join(dir, ".github", "workflows", "bad.yml")
	require.NoError(t, os.WriteFile(f, []byte(bad), 0o644))
	cmd := exec.Command(bin, "-no-color", f)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.Errorf(t, err, "actionlint passed a broken workflow:\n%s", out)
	require.Contains(t, string(out), "bad.yml")
}

func TestWorkflows_Policy(t *testing.T) {
	t.Parallel()
	for _, f := range workflowFiles(t) {
		t.Run(path.Base(f), func(t *testing.T) {
			t.Parallel()
			problems, err := workflowpolicy.Check(readRepoFile(t, f))
			require.NoError(t, err)
			require.Emptyf(t, problems, "%s:\n%s", f, strings.Join(problems, "\n"))
		})
	}
}

// TestWorkflows_Pipeline checks what the pipeline must do (issue: containers and CI/CD), so
// that a workflow that still lints but lost a stage fails here.
func TestWorkflows_Pipeline(t *testing.T) {
	t.Parallel()
	require.ElementsMatch(t,
		[]string{".github/workflows/ci.yml", ".github/workflows/deploy.yml", ".github/workflows/deploy-staging.yml",
			".github/workflows/deploy-production.yml", ".github/workflows/pr-checks.yml"},
		workflowFiles(t))

	t.Run("ci", func(t *testing.T) {
		t.Parallel()
		wf := loadWorkflow(t, "ci.yml")
		require.ElementsMatch(t, []string{"push", "pull_request"}, keys(wf.on()))
		for _, job := range []string{"lint", "unit", "integration", "images"} {
			require.Containsf(t, wf.jobs(), job, "ci.yml: want a %s job", job)
		}
		require.Contains(t, wf.runs("lint"), "make lint")
		require.Contains(t, wf.runs("unit"), "make test-unit")
		require.Contains(t, wf.runs("integration"), "make test")
		services := wf.job("integration")["services"].(map[string]any)
		require.ElementsMatch(t, []string{"postgres", "redis"}, keys(services))
		require.Contains(t, wf.uses("unit"), "actions/upload-artifact")

		imagesJob := wf.job("images")
		require.Equal(t, "github.event_name == 'push' && github.ref == 'refs/heads/main'", imagesJob["if"], "images: main only")
		require.ElementsMatch(t, []any{"lint", "unit", "integration"}, imagesJob["needs"], "images: after every check passed")
		require.Contains(t, wf.uses("images"), "aws-actions/configure-aws-credentials")
		push := wf.step("images", "docker/build-push-action")
		with := push["with"].(map[string]any)
		require.Equal(t, true, with["push"])
		require.Equal(t, true, with["sbom"])
		require.Equal(t, "mode=max", with["provenance"])
		require.Contains(t, with["tags"], ":${{ github.sha }}")
		require.Contains(t, with["tags"], ":latest")
		require.Contains(t, with["cache-from"], "type=registry")
		require.Contains(t, with["cache-to"], "type=registry")
		for _, arg := range []string{"VERSION=", "COMMIT=", "DATE="} {
			require.Contains(t, with["build-args"], arg, "the build information `make build` links in")
		}
		// Every image of deploy/docker is built.
		var built []string
		for _, inc := range imagesJob["strategy"].(map[string]any)["matrix"].(map[string]any)["include"].([]any) {
			built = append(built, inc.(map[string]any)["dockerfile"].(string))
		}
		var want []string
		for _, img := range images {
			want = append(want, img.dockerfile)
		}
		require.ElementsMatch(t, want, built)
	})

	t.Run("deploy", func(t *testing.T) {
		t.Parallel()
		wf := loadWorkflow(t, "deploy.yml")
		require.ElementsMatch(t, []string{"workflow_call"}, keys(wf.on()))
		inputs := wf.on()["workflow_call"].(map[string]any)["inputs"].(map[string]any)
		require.ElementsMatch(t, []string{"environment", "image_tag", "notify_success"}, keys(inputs))
		job := wf.job("rollout")
		require.Equal(t, "${{ inputs.environment }}", job["environment"], "the GitHub environment gates the job (reviewers, secrets)")
		runs := wf.runs("rollout")
		for _, want := range []string{
			"aws eks update-kubeconfig", "kubectl -n \"$NAMESPACE\" set image deployment/jq-server", "set image deployment/jq-worker",
			"rollout status deployment/jq-server --timeout=", "deploy/smoke-test.sh", "rollout undo deployment/jq-server",
			"rollout undo deployment/jq-worker", ".github/scripts/notify-slack.sh failure", ".github/scripts/notify-slack.sh success",
		} {
			require.Containsf(t, runs, want, "deploy.yml: want a step that runs %q", want)
		}
		require.Equal(t, "failure() && steps.rollout.outcome != 'skipped' && steps.promote.outcome != 'failure'",
			wf.stepNamed("rollout", "Roll back")["if"])
		require.Equal(t, "failure()", wf.stepNamed("rollout", "Slack (failure)")["if"])
	})

	t.Run("deploy-staging", func(t *testing.T) {
		t.Parallel()
		wf := loadWorkflow(t, "deploy-staging.yml")
		run := wf.on()["workflow_run"].(map[string]any)
		require.Equal(t, []any{"ci"}, run["workflows"])
		require.Equal(t, []any{"main"}, run["branches"])
		job := wf.job("deploy")
		require.Equal(t, "./.github/workflows/deploy.yml", job["uses"])
		require.Contains(t, job["if"], "github.event.workflow_run.conclusion == 'success'")
		with := job["with"].(map[string]any)
		require.Equal(t, "staging", with["environment"])
		require.Equal(t, "${{ github.event.workflow_run.head_sha }}", with["image_tag"])
	})

	t.Run("deploy-production", func(t *testing.T) {
		t.Parallel()
		wf := loadWorkflow(t, "deploy-production.yml")
		inputs := wf.on()["workflow_dispatch"].(map[string]any)["inputs"].(map[string]any)
		require.Contains(t, inputs, "image_tag")
		job := wf.job("deploy")
		require.Equal(t, "./.github/workflows/deploy.yml", job["uses"])
		with := job["with"].(map[string]any)
		require.Equal(t, "production", with["environment"])
		require.Equal(t, "${{ inputs.image_tag }}", with["image_tag"])
		require.Equal(t, true, with["notify_success"], "production: Slack on success and failure")
	})

	t.Run("pr-checks", func(t *testing.T) {
		t.Parallel()
		wf := loadWorkflow(t, "pr-checks.yml")
		require.ElementsMatch(t, []string{"pull_request", "workflow_run"}, keys(wf.on()))
		require.Contains(t, wf.runs("migrations"), ".github/scripts/check-migrations.sh")
		require.Contains(t, wf.runs("coverage"), ".github/scripts/coverage-summary.sh")
		require.Equal(t, "unit-coverage", wf.step("coverage", "actions/download-artifact")["with"].(map[string]any)["name"],
			"the artifact ci.yml's unit job uploads")
	})
}

func TestDependabot(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Version int `yaml:"version"`
		Updates []struct {
			Ecosystem   string   `yaml:"package-ecosystem"`
			Directory   string   `yaml:"directory"`
			Directories []string `yaml:"directories"`
			Schedule    struct {
				Interval string `yaml:"interval"`
			} `yaml:"schedule"`
		} `yaml:"updates"`
	}
	require.NoError(t, yaml.Unmarshal(readRepoFile(t, ".github/dependabot.yml"), &cfg))
	require.Equal(t, 2, cfg.Version)
	dirs := map[string][]string{}
	for _, u := range cfg.Updates {
		require.Equalf(t, "weekly", u.Schedule.Interval, "dependabot %s: want weekly updates", u.Ecosystem)
		d := u.Directories
		if u.Directory != "" {
			d = append(d, u.Directory)
		}
		dirs[u.Ecosystem] = append(dirs[u.Ecosystem], d...)
	}
	require.ElementsMatch(t, []string{"gomod", "github-actions", "docker", "docker-compose"}, sortedKeys(dirs))

	covered := func(ecosystem, dir string) bool {
		for _, pattern := range dirs[ecosystem] {
			if ok, _ := path.Match(pattern, dir); ok || pattern == dir {
				return true
			}
		}
		return false
	}
	// Every Go module of the repository, including the nested ones of the operations checks.
	err := filepath.WalkDir(repoRoot(t), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() != "go.mod" {
			return nil
		}
		rel, err := filepath.Rel(repoRoot(t), filepath.Dir(p))
		require.NoError(t, err)
		dir := "/" + strings.TrimPrefix(filepath.ToSlash(rel), ".")
		require.Truef(t, covered("gomod", dir), ".github/dependabot.yml: Go module %s is not covered by the gomod directories %v", dir, dirs["gomod"])
		return nil
	})
	require.NoError(t, err)
	for _, img := range images {
		require.Truef(t, covered("docker", "/"+path.Dir(img.dockerfile)), ".github/dependabot.yml: docker does not watch %s", img.dockerfile)
	}
	require.True(t, covered("docker-compose", "/"), "docker-compose.yml is at the root")
	require.True(t, covered("github-actions", "/"))
}

func TestCodeowners(t *testing.T) {
	t.Parallel()
	owners := map[string][]string{}
	for i, line := range strings.Split(string(readRepoFile(t, ".github/CODEOWNERS")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		require.Greaterf(t, len(fields), 1, "CODEOWNERS:%d: %q has no owner", i+1, line)
		for _, o := range fields[1:] {
			require.Regexpf(t, `^@[A-Za-z0-9-]+(/[A-Za-z0-9_.-]+)?$|^[^@\s]+@[^@\s]+$`, o, "CODEOWNERS:%d: owner %q", i+1, o)
		}
		owners[fields[0]] = fields[1:]
	}
	for _, p := range []string{"/terraform/", "/deploy/k8s/", "/db/migrations/", "/.github/workflows/"} {
		require.Containsf(t, owners, p, "CODEOWNERS: want owners for %s", p)
	}
	requireExists(t, "db/migrations", "CODEOWNERS")
	require.True(t, slices.Contains(sortedKeys(owners), "/.github/CODEOWNERS"), "CODEOWNERS must own itself, or anyone could change who reviews what")
}

// workflow is a parsed workflow file, for the structural checks.
type workflow struct {
	t    *testing.T
	name string
	doc  map[string]any
}

func loadWorkflow(t *testing.T, name string) workflow {
	t.Helper()
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(readRepoFile(t, ".github/workflows/"+name), &doc))
	return workflow{t: t, name: name, doc: doc}
}

func (w workflow) on() map[string]any {
	on, ok := w.doc["on"].(map[string]any)
	require.Truef(w.t, ok, "%s: want `on:` as a mapping of triggers", w.name)
	return on
}

func (w workflow) jobs() map[string]any { return w.doc["jobs"].(map[string]any) }

func (w workflow) job(name string) map[string]any {
	j, ok := w.jobs()[name].(map[string]any)
	require.Truef(w.t, ok, "%s: no job %s", w.name, name)
	return j
}

func (w workflow) steps(job string) []map[string]any {
	var out []map[string]any
	for _, s := range w.job(job)["steps"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

// runs is every run: script of the job, joined.
func (w workflow) runs(job string) string {
	var b strings.Builder
	for _, s := range w.steps(job) {
		if r, ok := s["run"].(string); ok {
			b.WriteString(r + "\n")
		}
	}
	return b.String()
}

// uses is every action the job uses, joined.
func (w workflow) uses(job string) string {
	var b strings.Builder
	for _, s := range w.steps(job) {
		if u, ok := s["uses"].(string); ok {
			b.WriteString(u + "\n")
		}
	}
	return b.String()
}

func (w workflow) step(job, action string) map[string]any {
	for _, s := range w.steps(job) {
		if u, _ := s["uses"].(string); strings.HasPrefix(u, action+"@") {
			return s
		}
	}
	require.Failf(w.t, "no step", "%s job %s: no step uses %s", w.name, job, action)
	return nil
}

func (w workflow) stepNamed(job, name string) map[string]any {
	for _, s := range w.steps(job) {
		if s["name"] == name {
			return s
		}
	}
	require.Failf(w.t, "no step", "%s job %s: no step named %q", w.name, job, name)
	return nil
}

func keys(m map[string]any) []string { return sortedKeys(m) }
