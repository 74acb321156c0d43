package deploy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/deploy/internal/dockerpolicy"
)

// image describes one jq image: its Dockerfile and what its final stage must look like.
type image struct {
	name       string // jq-server, jq-worker, jq-ctl
	dockerfile string // repository-relative
	// finalBase is the runtime base: "scratch", or the repository of a pinned image.
	finalBase string
	// entrypoint is the exec-form ENTRYPOINT of the final stage.
	entrypoint []string
	// maxMB is the largest the built image may be (docker image inspect .Size).
	maxMB int
}

var images = []image{
	{
		name: "jq-server", dockerfile: "deploy/docker/Dockerfile.server", finalBase: "scratch",
		entrypoint: []string{"/usr/local/bin/jq-server"}, maxMB: 40,
	},
	{
		// tini reaps the orphans of jobs and forwards SIGTERM to jq-worker.
		name: "jq-worker", dockerfile: "deploy/docker/Dockerfile.worker", finalBase: "debian:bookworm-slim",
		entrypoint: []string{"/usr/bin/tini", "--", "/usr/local/bin/jq-worker"}, maxMB: 120,
	},
	{
		name: "jq-ctl", dockerfile: "deploy/docker/Dockerfile.ctl", finalBase: "scratch",
		entrypoint: []string{"/usr/local/bin/jq-ctl"}, maxMB: 40,
	},
}

// makefileLDFlags returns the Makefile's LDFLAGS, the flags `make build` links with.
func makefileLDFlags(t *testing.T) []string {
	t.Helper()
	mk := string(readRepoFile(t, "Makefile"))
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*((?:.*\\\n)*.*)$`).FindStringSubmatch(mk)
	require.NotNil(t, m, "Makefile: got no LDFLAGS definition, want the flags `make build` links with")
	flags := dockerpolicy.NormaliseFlags(m[1])
	require.Contains(t, flags, "-X", "Makefile LDFLAGS: got %q, want -X flags for the build info", flags)
	return flags
}

func parseStages(t *testing.T, rel string) []instructions.Stage {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(string(readRepoFile(t, rel))))
	require.NoErrorf(t, err, "parse %s", rel)
	stages, _, err := instructions.Parse(res.AST, nil)
	require.NoErrorf(t, err, "parse %s", rel)
	require.NotEmptyf(t, stages, "%s: got no stage", rel)
	return stages
}

// TestDockerfiles_Policy runs every Dockerfile through the image policy, with the ldflags of
// the Makefile: a Dockerfile that builds differently from `make build` fails here.
func TestDockerfiles_Policy(t *testing.T) {
	t.Parallel()
	rules := dockerpolicy.Rules{UID: 1001, LDFlags: makefileLDFlags(t), RequiredLabels: dockerpolicy.OCILabels}
	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			t.Parallel()
			problems, err := dockerpolicy.Check(readRepoFile(t, img.dockerfile), rules)
			require.NoError(t, err)
			var msgs []string
			for _, p := range problems {
				msgs = append(msgs, img.dockerfile+": "+p.String())
			}
			require.Emptyf(t, msgs, "%s breaks the image policy:\n%s", img.dockerfile, strings.Join(msgs, "\n"))
		})
	}
}

// TestDockerfiles_Shape checks what differs per image: the runtime base, the binary that is
// built and the ENTRYPOINT that runs it.
func TestDockerfiles_Shape(t *testing.T) {
	t.Parallel()
	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			t.Parallel()
			stages := parseStages(t, img.dockerfile)
			final := stages[len(stages)-1]
			base := final.BaseName
			if i := strings.Index(base, "@"); i >= 0 {
				base = base[:i]
			}
			require.Equalf(t, img.finalBase, base, "%s final stage FROM: got %s, want %s", img.dockerfile, final.BaseName, img.finalBase)

			var entrypoint []string
			var builds []string
			for _, s := range stages {
				for _, cmd := range s.Commands {
					switch cmd := cmd.(type) {
					case *instructions.EntrypointCommand:
						entrypoint = cmd.CmdLine
					case *instructions.RunCommand:
						script := strings.Join(cmd.CmdLine, " ")
						if m := regexp.MustCompile(`go build .*?(\./cmd/[a-z-]+)`).FindStringSubmatch(script); m != nil {
							builds = append(builds, m[1])
						}
					}
				}
			}
			require.Equalf(t, img.entrypoint, entrypoint, "%s ENTRYPOINT", img.dockerfile)
			require.Equalf(t, []string{"./cmd/" + img.name}, builds, "%s: go build of the jq binaries", img.dockerfile)
		})
	}
}

// TestDockerfiles_OneToolchain: the three images build with the same Go image, so one
// Dependabot update moves all of them and no image is built with an older compiler.
func TestDockerfiles_OneToolchain(t *testing.T) {
	t.Parallel()
	builders := map[string][]string{}
	for _, img := range images {
		for _, s := range parseStages(t, img.dockerfile) {
			if strings.HasPrefix(s.BaseName, "golang:") {
				builders[s.BaseName] = append(builders[s.BaseName], img.dockerfile)
			}
		}
	}
	require.Lenf(t, builders, 1, "Go builder images: got %v, want one, the same in every Dockerfile", builders)
}

// TestDockerfiles_ToolchainMatchesGoMod: the builder's Go must satisfy go.mod's `go` line,
// since the Dockerfiles set GOTOOLCHAIN=local (no toolchain download mid-build).
func TestDockerfiles_ToolchainMatchesGoMod(t *testing.T) {
	t.Parallel()
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(readRepoFile(t, "go.mod")))
	require.NotNil(t, m, "go.mod: got no go line")
	want := "golang:" + m[1] + "." + m[2]
	for _, img := range images {
		for _, s := range parseStages(t, img.dockerfile) {
			if strings.HasPrefix(s.BaseName, "golang:") {
				require.Truef(t, strings.HasPrefix(s.BaseName, want+"-") || strings.HasPrefix(s.BaseName, want+"."),
					"%s FROM %s: want the Go minor of go.mod (%s)", img.dockerfile, s.BaseName, want)
			}
		}
	}
}
