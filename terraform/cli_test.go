package terraform

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// terraformBinary finds terraform: $TERRAFORM, else PATH. It cannot be installed by make (there
// is no Go or Debian package), so the tests that need it skip when it is absent.
func terraformBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TERRAFORM"); p != "" {
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not installed (not on PATH, $TERRAFORM unset): fmt and validate not run; the HCL parse and policy tests still ran")
	}
	return p
}

// providerMirror finds a filesystem mirror holding the hashicorp/aws provider: $TF_PLUGIN_MIRROR,
// Terraform's implied mirror folders, then a shallow search of the usual install places. It
// returns the mirror root (the folder above registry.terraform.io), or "".
func providerMirror() string {
	if p := os.Getenv("TF_PLUGIN_MIRROR"); p != "" {
		return p
	}
	var candidates []string
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".terraform.d", "plugins"), filepath.Join(home, ".local", "share", "terraform", "plugins"))
	}
	for _, d := range filepath.SplitList(os.Getenv("XDG_DATA_DIRS")) {
		candidates = append(candidates, filepath.Join(d, "terraform", "plugins"))
	}
	candidates = append(candidates, "/usr/local/share/terraform/plugins", "/usr/share/terraform/plugins")
	for _, c := range candidates {
		if hasAWSProvider(c) {
			return c
		}
	}
	// Operators unpack mirrors under /opt, /srv or /usr/local; look two levels down.
	for _, base := range []string{"/opt", "/srv", "/usr/local"} {
		var found string
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || found != "" {
				return fs.SkipDir
			}
			if d.IsDir() && strings.Count(strings.TrimPrefix(p, base), string(filepath.Separator)) > 2 {
				return fs.SkipDir
			}
			if d.IsDir() && d.Name() == "registry.terraform.io" && hasAWSProvider(filepath.Dir(p)) {
				found = filepath.Dir(p)
				return fs.SkipAll
			}
			return nil
		})
		if found != "" {
			return found
		}
	}
	return ""
}

func hasAWSProvider(root string) bool {
	matches, _ := filepath.Glob(filepath.Join(root, "registry.terraform.io", "hashicorp", "aws", "*", "*", "terraform-provider-aws_*"))
	return len(matches) > 0
}

// hasProvider reports whether the mirror holds hashicorp/<name>.
func hasProvider(mirror, name string) bool {
	entries, err := os.ReadDir(filepath.Join(mirror, "registry.terraform.io", "hashicorp", name))
	return err == nil && len(entries) > 0
}

// runTerraform runs terraform in dir, isolated from the user's CLI configuration.
func runTerraform(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	require.NoError(t, os.WriteFile(cfg, nil, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1", "TF_PLUGIN_CACHE_DIR=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestTerraform_Fmt(t *testing.T) {
	t.Parallel()
	bin := terraformBinary(t)
	out, err := runTerraform(t, bin, ".", "fmt", "-check", "-recursive", "-diff", "-no-color")
	require.NoErrorf(t, err, "terraform fmt -check -recursive: run `terraform fmt -recursive terraform/`\n%s", out)
}

// TestTerraform_Validate runs `terraform init -backend=false` and `terraform validate` on both
// environments (and so on every module they call) against the local provider mirror, in a copy
// of the tree so no .terraform folder is left behind. A root needing a provider the mirror
// lacks (the add-ons need hashicorp/helm) is reported as not validated, with the reason.
func TestTerraform_Validate(t *testing.T) {
	bin := terraformBinary(t)
	mirror := providerMirror()
	if mirror == "" {
		t.Skip("no filesystem mirror of hashicorp/aws found ($TF_PLUGIN_MIRROR unset, none in Terraform's plugin folders or under /opt, /srv, /usr/local): terraform validate not run")
	}
	t.Logf("provider mirror: %s", mirror)
	work := t.TempDir()
	require.NoError(t, copyTree(".", work))

	for _, root := range roots {
		t.Run(strings.ReplaceAll(root, "/", "_"), func(t *testing.T) {
			t.Parallel()
			files, err := parseTree(root)
			require.NoError(t, err)
			for _, p := range requiredProviders(inDir(files, ".")) {
				if !hasProvider(mirror, p) {
					t.Skipf("%s and the modules it calls (%s) NOT VALIDATED: they need provider hashicorp/%s, which is not in the mirror %s (and no registry is reachable); their HCL parse and policy tests ran",
						root, strings.Join(moduleSources(inDir(files, ".")), ", "), p, mirror)
				}
			}
			dir := filepath.Join(work, root)
			out, err := runTerraform(t, bin, dir, "init", "-backend=false", "-input=false", "-no-color", "-plugin-dir="+mirror)
			require.NoErrorf(t, err, "terraform init %s:\n%s", root, out)
			out, err = runTerraform(t, bin, dir, "validate", "-no-color")
			require.NoErrorf(t, err, "terraform validate %s:\n%s", root, out)
			require.Contains(t, out, "The configuration is valid")
			t.Logf("%s validated: %s", root, strings.TrimSpace(out))
		})
	}
}

// requiredProviders lists the provider names a root's terraform blocks require.
func requiredProviders(files []tfFile) []string {
	var out []string
	for _, tf := range blocks(files, "terraform") {
		for _, rp := range nested(tf.Body, "required_providers") {
			for name := range rp.Body.Attributes {
				out = append(out, name)
			}
		}
	}
	return out
}

// moduleSources lists the sources of the modules a root calls.
func moduleSources(files []tfFile) []string {
	var out []string
	for _, m := range blocks(files, "module") {
		if src, ok := literalString(m.Body, "source"); ok {
			out = append(out, src)
		}
	}
	return out
}

// copyTree copies the Terraform sources (not .terraform folders, Go files or testdata).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if d.Name() == ".terraform" || d.Name() == "testdata" {
				return fs.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
		return os.WriteFile(target, data, 0o644)
	})
}
