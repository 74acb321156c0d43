package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImages_Build builds the three images where a Docker engine answers and checks what the
// Dockerfile policy cannot see: the size of the result, the user it runs as, and that the
// binaries start (jq-server --version, jq-ctl --help, jq-worker --version).
func TestImages_Build(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three images (minutes); skipped with -short")
	}
	if !dockerAnswers() {
		t.Skip("no Docker engine answers (docker info failed): the images are not built here; the Dockerfile policy test still parses them")
	}
	suffix := make([]byte, 4)
	_, err := rand.Read(suffix)
	require.NoError(t, err)
	tag := "jq-image-test-" + hex.EncodeToString(suffix)

	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			ref := img.name + ":" + tag
			build := exec.Command("docker", "build", "-f", img.dockerfile,
				"--build-arg", "VERSION=image-test", "--build-arg", "COMMIT=test", "-t", ref, ".")
			build.Dir = repoRoot(t)
			build.Env = append(build.Environ(), "DOCKER_BUILDKIT=1")
			out, err := build.CombinedOutput()
			require.NoErrorf(t, err, "docker build %s:\n%s", img.dockerfile, out)
			t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", ref).Run() })

			size, err := strconv.ParseInt(docker(t, "image", "inspect", "--format", "{{.Size}}", ref), 10, 64)
			require.NoError(t, err)
			require.LessOrEqualf(t, size, int64(img.maxMB)<<20, "%s: %d MB, want at most %d MB", ref, size>>20, img.maxMB)
			require.Equal(t, "1001:1001", docker(t, "image", "inspect", "--format", "{{.Config.User}}", ref))

			switch img.name {
			case "jq-server":
				require.Contains(t, docker(t, "run", "--rm", ref, "--version"), "jq-server image-test")
				// The compose key steps write to a volume at /keys as uid 1001: Docker gives a
				// fresh volume the owner of the image's directory.
				id := docker(t, "create", ref)
				t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
				listing, err := exec.Command("sh", "-c", "docker export "+id+" | tar -tvf - keys/").Output()
				require.NoError(t, err)
				require.Regexp(t, `^drwx------ 1001/1001 .* keys/`, string(listing))
			case "jq-ctl":
				require.Contains(t, docker(t, "run", "--rm", ref, "--help"), "jq-ctl")
			case "jq-worker":
				require.Contains(t, docker(t, "run", "--rm", ref, "--version"), "jq-worker image-test")
				require.Equal(t, "1001", docker(t, "run", "--rm", "--entrypoint", "id", ref, "-u"))
			}
		})
	}
}

// docker runs a docker command and returns its trimmed standard output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).Output()
	require.NoErrorf(t, err, "docker %s: %s", strings.Join(args, " "), exitStderr(err))
	return strings.TrimSpace(string(out))
}
