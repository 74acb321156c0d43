package terraform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The environments and the add-on roots: every Terraform root that has a provider.
var roots = []string{
	"environments/staging",
	"environments/production",
	"environments/staging/addons",
	"environments/production/addons",
}

// The modules the issue lists, plus eks-addons, which holds the Helm releases apart.
var modules = []string{"vpc", "eks", "eks-addons", "rds", "elasticache", "msk", "ecr", "secrets", "iam"}

func TestLayout_ModulesAndEnvironments(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	for _, m := range modules {
		dir := "modules/" + m
		got := inDir(files, dir)
		require.NotEmptyf(t, got, "%s holds no Terraform files", dir)
		for _, want := range []string{"main.tf", "variables.tf", "versions.tf"} {
			require.FileExistsf(t, filepath.Join(dir, want), "module %s", m)
		}
		// Every input and output says what it is.
		for _, v := range blocks(got, "variable") {
			require.Containsf(t, v.Body.Attributes, "description", "%s", v)
			require.Containsf(t, v.Body.Attributes, "type", "%s", v)
		}
		for _, o := range blocks(got, "output") {
			require.Containsf(t, o.Body.Attributes, "description", "%s", o)
		}
	}
	for _, r := range roots {
		for _, want := range []string{"main.tf", "backend.tf", "terraform.tfvars", "variables.tf", "versions.tf"} {
			require.FileExistsf(t, filepath.Join(r, want), "root %s", r)
		}
	}
}

func TestPolicy_EveryResourceTagged(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	for _, r := range roots {
		require.Emptyf(t, checkTags(files, r), "root %s", r)
		vars := tfvars(t, files, r+"/terraform.tfvars")
		env := strings.TrimSuffix(strings.TrimPrefix(r, "environments/"), "/addons")
		require.Equalf(t, env, vars["environment"].AsString(), "%s/terraform.tfvars environment", r)
	}
	// Node group instances and volumes are launched by EKS, out of default_tags' reach: the
	// environment hands the eks module its tags for the launch template.
	for _, env := range []string{"staging", "production"} {
		mods := blocks(inDir(files, "environments/"+env), "module", "eks")
		require.Len(t, mods, 1)
		require.Equal(t, "local.tags", reference(mods[0].Body, "tags"))
	}
	lt := blocks(files, "resource", "aws_launch_template")
	require.Len(t, lt, 1)
	specs := nested(lt[0].Body, "tag_specifications")
	require.Len(t, specs, 2, "instance and volume tags")
	for _, s := range specs {
		require.Contains(t, s.Body.Attributes, "tags")
	}
}

func TestPolicy_NoHardcodedRegionOrAccount(t *testing.T) {
	t.Parallel()
	var problems []string
	var scanned int
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".tf", ".tfvars", ".yaml", ".yml", ".example":
		default:
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scanned++
		problems = append(problems, checkNoHardcodedIDs(filepath.ToSlash(p), src)...)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, scanned, 40)
	require.Empty(t, problems)
}

func TestPolicy_EncryptionOn(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	// The checks below look at these; they must exist or the test proves nothing.
	for _, typ := range []string{"aws_db_instance", "aws_elasticache_replication_group", "aws_msk_cluster", "aws_eks_cluster", "aws_secretsmanager_secret", "aws_ecr_repository", "aws_kms_key"} {
		require.NotEmptyf(t, blocks(files, "resource", typ), "no %s", typ)
	}
	require.Empty(t, checkEncryption(files))
	for _, r := range roots {
		var s3 int
		for _, tf := range blocks(inDir(files, r), "terraform") {
			for _, be := range nested(tf.Body, "backend") {
				require.Equal(t, []string{"s3"}, be.Labels, "%s backend", r)
				require.NotContains(t, be.Body.Attributes, "bucket", "%s: the bucket comes from -backend-config", r)
				require.NotContains(t, be.Body.Attributes, "dynamodb_table", "%s: the lock table comes from -backend-config", r)
				s3++
			}
		}
		require.Equalf(t, 1, s3, "%s: one S3 backend", r)
	}
	example := tfvars(t, loadTree(t), "environments/staging/backend.hcl.example")
	require.Contains(t, example, "dynamodb_table", "state locking in DynamoDB")
	require.Contains(t, example, "bucket")
}

func TestPolicy_NothingPublicButTheLoadBalancer(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	require.NotEmpty(t, blocks(files, "resource", "aws_vpc_security_group_ingress_rule"))
	require.Empty(t, checkNothingPublic(files))
	for _, env := range []string{"staging", "production"} {
		vars := tfvars(t, files, "environments/"+env+"/terraform.tfvars")
		for it := vars["eks_public_access_cidrs"].ElementIterator(); it.Next(); {
			_, v := it.Element()
			require.NotContains(t, worldCIDRs, v.AsString(), "%s: the Kubernetes API open to the internet", env)
		}
	}
}

// The Helm provider (not installable offline) is needed by eks-addons and the roots that apply
// it, and nothing else, so every other module and both environments validate without it.
func TestPolicy_HelmIsolated(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	for _, f := range files {
		if !strings.Contains(string(f.Src), "helm") {
			continue
		}
		for _, tf := range blocks([]tfFile{f}, "terraform") {
			for _, rp := range nested(tf.Body, "required_providers") {
				if _, ok := rp.Body.Attributes["helm"]; ok {
					dir := filepath.ToSlash(filepath.Dir(f.Path))
					require.Truef(t, dir == "modules/eks-addons" || strings.HasSuffix(dir, "/addons"), "%s requires the helm provider", f.Path)
				}
			}
		}
		if filepath.ToSlash(filepath.Dir(f.Path)) != "modules/eks-addons" {
			require.Emptyf(t, blocks([]tfFile{f}, "resource", "helm_release"), "%s: Helm releases belong in modules/eks-addons", f.Path)
		}
	}
}
