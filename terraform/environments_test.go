package terraform

import (
	"math/big"
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
)

// Staging and production run the same code; only their tfvars and state keys differ.
func TestEnvironments_SameCodeDifferentValues(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "addons/main.tf", "addons/variables.tf", "addons/versions.tf"} {
		s, err := os.ReadFile("environments/staging/" + f)
		require.NoError(t, err)
		p, err := os.ReadFile("environments/production/" + f)
		require.NoError(t, err)
		require.Equalf(t, string(s), string(p), "environments/*/%s must be identical; put differences in terraform.tfvars", f)
	}
	files := loadTree(t)
	for _, dir := range []string{"", "/addons"} {
		s := tfvars(t, files, "environments/staging"+dir+"/terraform.tfvars")
		p := tfvars(t, files, "environments/production"+dir+"/terraform.tfvars")
		require.Equal(t, keys(s), keys(p), "both environments%s set the same variables", dir)
	}
}

var overlayNamespace = regexp.MustCompile(`(?m)^namespace:\s*(\S+)`)

// Each environment's namespace is the one its Kubernetes overlay deploys into: the IRSA roles
// trust service accounts of that namespace only.
func TestEnvironments_NamespaceMatchesOverlay(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	for _, env := range []string{"staging", "production"} {
		k, err := os.ReadFile("../deploy/k8s/overlays/" + env + "/kustomization.yaml")
		require.NoError(t, err)
		m := overlayNamespace.FindSubmatch(k)
		require.NotNil(t, m, "overlay %s sets a namespace", env)
		for _, dir := range []string{"", "/addons"} {
			vars := tfvars(t, files, "environments/"+env+dir+"/terraform.tfvars")
			require.Equal(t, string(m[1]), vars["namespace"].AsString(), "environments/%s%s namespace", env, dir)
		}
	}
}

// The sizes and settings the issue asks for.
func TestEnvironments_IssueSizes(t *testing.T) {
	t.Parallel()
	files := loadTree(t)
	staging := tfvars(t, files, "environments/staging/terraform.tfvars")
	production := tfvars(t, files, "environments/production/terraform.tfvars")

	require.Equal(t, "db.t3.medium", staging["rds_instance_class"].AsString())
	require.Equal(t, "db.r6g.large", production["rds_instance_class"].AsString())
	require.True(t, production["rds_multi_az"].True(), "RDS Multi-AZ in production")
	require.True(t, production["redis_multi_az"].True(), "ElastiCache failover in production")
	require.True(t, production["rds_deletion_protection"].True())
	requireInt(t, 3, production["msk_broker_count"], "3 brokers in production")
	// The issue asks for 1 broker in staging; MSK needs two zones, so 2 is the least it takes.
	requireInt(t, 2, staging["msk_broker_count"])
	for name, vars := range map[string]map[string]cty.Value{"staging": staging, "production": production} {
		requireInt(t, 2, vars["eks_node_min_size"], "%s nodes min", name)
		requireInt(t, 10, vars["eks_node_max_size"], "%s nodes max", name)
	}

	def := func(module, variable string) cty.Value {
		for _, v := range blocks(inDir(files, "modules/"+module), "variable", variable) {
			val, ok := literal(v.Body, "default")
			require.Truef(t, ok, "%s: literal default", v)
			return val
		}
		require.Failf(t, "variable missing", "modules/%s has no variable %s", module, variable)
		return cty.NilVal
	}
	require.Equal(t, "10.0.0.0/16", def("vpc", "vpc_cidr").AsString())
	requireInt(t, 3, def("vpc", "az_count"))
	require.Equal(t, "c5.xlarge", def("eks", "node_instance_type").AsString())
	require.Equal(t, "15", def("rds", "engine_version").AsString())
	require.Regexp(t, `^3\.5\.`, def("msk", "kafka_version").AsString())
	requireInt(t, 100, def("msk", "ebs_volume_size_gb"))
	requireInt(t, 20, def("ecr", "keep_images"))
	requireInt(t, 7, def("ecr", "untagged_expiry_days"))
	require.Equal(t, cty.TupleVal([]cty.Value{cty.StringVal("jq-server"), cty.StringVal("jq-worker"), cty.StringVal("jq-ctl")}), def("ecr", "repositories"))
	require.Regexp(t, `^1\.(29|[3-9][0-9])$`, def("eks", "kubernetes_version").AsString(), "EKS 1.29+")

	db := blocks(files, "resource", "aws_db_instance")[0]
	v, _ := literal(db.Body, "backup_retention_period")
	requireInt(t, 7, v, "7 days of backups")
	params := map[string]string{}
	for _, pg := range blocks(files, "resource", "aws_db_parameter_group") {
		for _, p := range nested(pg.Body, "parameter") {
			n, _ := literalString(p.Body, "name")
			val, _ := literalString(p.Body, "value")
			params[n] = val
		}
	}
	require.Equal(t, "200", params["max_connections"])
	require.Contains(t, params["shared_preload_libraries"], "pg_stat_statements")
	require.Contains(t, params, "autovacuum_naptime")

	ec := blocks(files, "resource", "aws_elasticache_replication_group")[0]
	engine, _ := literalString(ec.Body, "engine_version")
	require.Regexp(t, `^7\.`, engine, "Redis 7")
	shards, _ := literal(ec.Body, "num_node_groups")
	requireInt(t, 1, shards, "a single shard")

	for _, repo := range blocks(files, "resource", "aws_ecr_repository") {
		scan := nested(repo.Body, "image_scanning_configuration")
		require.Len(t, scan, 1)
		on, _ := literalBool(scan[0].Body, "scan_on_push")
		require.True(t, on, "scan on push")
	}
	require.NotEmpty(t, blocks(files, "data", "aws_ssm_parameter", "node_ami_release"), "the EKS AMI comes from a data source")
	require.NotEmpty(t, blocks(files, "resource", "aws_iam_openid_connect_provider"), "IRSA")
	addons := map[string]bool{}
	for _, a := range blocks(files, "resource", "aws_eks_addon") {
		name, _ := literalString(a.Body, "addon_name")
		addons[name] = true
	}
	require.True(t, addons["amazon-cloudwatch-observability"], "Container Insights")
	releases := map[string]bool{}
	for _, r := range blocks(files, "resource", "helm_release") {
		chart, _ := literalString(r.Body, "chart")
		releases[chart] = true
	}
	for _, chart := range []string{"aws-load-balancer-controller", "external-secrets", "kube-prometheus-stack", "prometheus-adapter"} {
		require.Truef(t, releases[chart], "eks-addons installs %s", chart)
	}
}

func keys(m map[string]cty.Value) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// requireInt compares a cty number with an integer (cty.Value equality also compares the
// numbers' precision).
func requireInt(t *testing.T, want int64, got cty.Value, msgAndArgs ...any) {
	t.Helper()
	require.Falsef(t, got == cty.NilVal || got.IsNull() || got.Type() != cty.Number, "want a number, got %#v", got)
	n, acc := got.AsBigFloat().Int64()
	require.Equal(t, big.Exact, acc, msgAndArgs...)
	require.Equal(t, want, n, msgAndArgs...)
}
