package deploy

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// commitSHA stands for "the full commit SHA of a main commit" among image tags.
const commitSHA = "<commit-sha>"

// imageTagPlaceholder is the overlays' stand-in for a release (deploy/k8s/README.md,
// "Placeholders"); deploy.yml accepts only a full commit SHA as a release.
const imageTagPlaceholder = "IMAGE_TAG"

// producedTags is every tag the pipeline puts on the jq images in ECR: the tags ci.yml's
// build-push step pushes, and the environment tags deploy.yml's promotion step moves, one per
// environment a workflow deploys to.
func producedTags(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}

	ci := loadWorkflow(t, "ci.yml")
	tags, _ := ci.step("images", "docker/build-push-action")["with"].(map[string]any)["tags"].(string)
	for _, line := range strings.Split(strings.TrimSpace(tags), "\n") {
		line = strings.TrimSpace(line)
		tag := line[strings.LastIndex(line, ":")+1:]
		if strings.Contains(line, "${{ github.sha }}") {
			tag = commitSHA
		}
		out[tag] = "ci.yml (images)"
	}

	dep := loadWorkflow(t, "deploy.yml")
	promote := dep.stepNamed("rollout", "Promote the images to the environment's tag")
	run, _ := promote["run"].(string)
	if strings.Contains(run, "aws ecr put-image") && strings.Contains(run, `--image-tag "$ENVIRONMENT"`) &&
		dep.job("rollout")["env"].(map[string]any)["ENVIRONMENT"] == "${{ inputs.environment }}" {
		for _, f := range workflowFiles(t) {
			wf := loadWorkflow(t, filepath.Base(f))
			for name := range wf.jobs() {
				job := wf.job(name)
				if job["uses"] != "./.github/workflows/deploy.yml" {
					continue
				}
				if env, ok := job["with"].(map[string]any)["environment"].(string); ok {
					out[env] = filepath.Base(f) + " -> deploy.yml (promote)"
				}
			}
		}
	}
	return out
}

// overlayTags maps each overlay to the tags of its images; the IMAGE_TAG placeholder stands
// for a commit SHA.
func overlayTags(t *testing.T) map[string][]string {
	t.Helper()
	dirs, err := filepath.Glob(repoPath(t, "deploy/k8s/overlays/*/kustomization.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	out := map[string][]string{}
	for _, p := range dirs {
		var k struct {
			Images []struct {
				Name   string `yaml:"name"`
				NewTag string `yaml:"newTag"`
			} `yaml:"images"`
		}
		name := filepath.Base(filepath.Dir(p))
		require.NoError(t, yaml.Unmarshal(readRepoFile(t, "deploy/k8s/overlays/"+name+"/kustomization.yaml"), &k))
		require.NotEmptyf(t, k.Images, "overlay %s sets no image", name)
		for _, img := range k.Images {
			tag := img.NewTag
			if tag == imageTagPlaceholder {
				tag = commitSHA
			}
			out[name] = append(out[name], tag)
		}
	}
	return out
}

// unproducedTags lists "overlay: tag" for each overlay image tag the pipeline never produces.
func unproducedTags(overlays map[string][]string, produced map[string]string) []string {
	var bad []string
	for ov, tags := range overlays {
		for _, tag := range tags {
			if _, ok := produced[tag]; !ok {
				bad = append(bad, ov+": "+tag)
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// TestOverlays_TagsProducedByThePipeline fails when an overlay deploys an image tag that no
// workflow ever pushes: `kubectl apply -k` would then pull a tag that does not exist.
func TestOverlays_TagsProducedByThePipeline(t *testing.T) {
	t.Parallel()
	produced := producedTags(t)
	require.Contains(t, produced, commitSHA, "ci.yml pushes the commit SHA")
	require.Contains(t, produced, "staging", "deploy-staging promotes :staging")
	ovs := overlayTags(t)
	require.Empty(t, unproducedTags(ovs, produced), "overlay image tags the pipeline never pushes (produced: %v)", sortedKeys(produced))

	// The check can fail: a tag nobody pushes is reported, the others are not.
	ovs["nightly"] = []string{"nightly", commitSHA}
	require.Equal(t, []string{"nightly: nightly"}, unproducedTags(ovs, produced))
}

// TestDeploy_MigratesBeforeRollout: deploy.yml runs the jq-migrate Job with the new image,
// waits for it and fails (with its logs) before any Deployment changes; the environment tag
// moves only after the smoke test passed.
func TestDeploy_MigratesBeforeRollout(t *testing.T) {
	t.Parallel()
	wf := loadWorkflow(t, "deploy.yml")
	steps := wf.steps("rollout")
	index := func(what string, match func(run string) bool) int {
		for i, s := range steps {
			if r, _ := s["run"].(string); match(r) {
				return i
			}
		}
		require.Failf(t, "no step", "deploy.yml: no step that %s", what)
		return -1
	}
	migrate := index("creates the jq-migrate Job", func(r string) bool {
		return strings.Contains(r, "create -f -") && strings.Contains(r, "jq-migrate")
	})
	run := steps[migrate]["run"].(string)
	for _, want := range []string{
		`kubectl kustomize "deploy/k8s/overlays/$ENVIRONMENT"`, // the commit's own Job
		"delete job jq-migrate --ignore-not-found",             // a Job's template cannot change
		`migrate="$ECR_REGISTRY/jq-server:$IMAGE_TAG"`,         // with the new image
		"*Failed*", "exit 1", "logs job/jq-migrate",
	} {
		require.Containsf(t, run, want, "migration step: want %q", want)
	}
	require.NotContains(t, steps[migrate], "continue-on-error", "a failed migration must fail the deploy")
	setImage := index("runs kubectl set image on a Deployment", func(r string) bool {
		return regexp.MustCompile(`set image deployment/`).MatchString(r)
	})
	require.Less(t, migrate, setImage, "the schema is migrated before the Deployments get the new image")

	smoke := index("runs the smoke test", func(r string) bool { return strings.Contains(r, "deploy/smoke-test.sh") })
	promote := index("promotes the environment tag", func(r string) bool { return strings.Contains(r, "aws ecr put-image") })
	require.Less(t, smoke, promote, "the environment tag moves only after the smoke test passed")

	// The base Job the step renders is the one the manifests define.
	job := readRepoFile(t, "deploy/k8s/base/migrate/job.yaml")
	require.Contains(t, string(job), "name: jq-migrate")
	require.Contains(t, string(job), "- name: migrate\n", "the container `kubectl set image` addresses")
	require.Contains(t, string(readRepoFile(t, "deploy/k8s/base/jq-server/config.env")), "JQ_DB_MIGRATE_ON_START=false",
		"if the servers migrated on start the Job would be optional; revisit this test")
}
