package terraform

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// requiredTags are the tags every resource of an environment carries (through the provider's
// default_tags); Environment is the environment's name.
var requiredTags = map[string]string{"Project": "jq", "ManagedBy": "terraform"}

// checkTags reports a root whose AWS provider does not tag every resource with Project=jq,
// ManagedBy=terraform and Environment=<the environment> through default_tags.
func checkTags(files []tfFile, root string) []string {
	rootFiles := inDir(files, root)
	providers := blocks(rootFiles, "provider", "aws")
	if len(providers) == 0 {
		return []string{root + ": no aws provider block"}
	}
	var problems []string
	for _, p := range providers {
		dt := nested(p.Body, "default_tags")
		if len(dt) != 1 {
			problems = append(problems, p.String()+": no default_tags block")
			continue
		}
		items, err := resolveObject(rootFiles, dt[0].Body, "tags")
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: default_tags: %v", p, err))
			continue
		}
		for k, want := range requiredTags {
			e, ok := items[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: default_tags lacks %s", p, k))
				continue
			}
			if v, diags := e.Value(nil); diags.HasErrors() || v.Type() != cty.String || v.AsString() != want {
				problems = append(problems, fmt.Sprintf("%s: default_tags %s must be %q", p, k, want))
			}
		}
		if e, ok := items["Environment"]; !ok || traversalString(e) != "var.environment" {
			problems = append(problems, p.String()+": default_tags Environment must be var.environment")
		}
	}
	return problems
}

// resolveObject returns the items of an object attribute, following one local.NAME reference.
func resolveObject(rootFiles []tfFile, body *hclsyntax.Body, name string) (map[string]hclsyntax.Expression, error) {
	a, ok := body.Attributes[name]
	if !ok {
		return nil, fmt.Errorf("no %s", name)
	}
	expr := a.Expr
	if ref := traversalString(expr); strings.HasPrefix(ref, "local.") {
		expr = nil
		for _, l := range blocks(rootFiles, "locals") {
			if la, ok := l.Body.Attributes[strings.TrimPrefix(ref, "local.")]; ok {
				expr = la.Expr
			}
		}
		if expr == nil {
			return nil, fmt.Errorf("%s refers to an undefined %s", name, ref)
		}
	}
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, fmt.Errorf("%s is not an object literal", name)
	}
	items := map[string]hclsyntax.Expression{}
	for _, it := range obj.Items {
		k, diags := it.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String {
			return nil, fmt.Errorf("%s has a computed key", name)
		}
		items[k.AsString()] = it.ValueExpr
	}
	return items, nil
}

var (
	accountID  = regexp.MustCompile(`(^|[^0-9])([0-9]{12})([^0-9]|$)`)
	regionName = regexp.MustCompile(`\b(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[0-9]\b`)
)

// checkNoHardcodedIDs reports an AWS account id or region name written in code. Environments
// pass their region through terraform.tfvars and find the account at run time, so only
// .tfvars files may name a region.
func checkNoHardcodedIDs(name string, src []byte) []string {
	var problems []string
	for i, line := range strings.Split(string(src), "\n") {
		if m := accountID.FindStringSubmatch(line); m != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: hard-coded AWS account id %s", name, i+1, m[2]))
		}
		if strings.HasSuffix(name, ".tfvars") {
			continue
		}
		if m := regionName.FindString(line); m != "" {
			problems = append(problems, fmt.Sprintf("%s:%d: hard-coded region %s", name, i+1, m))
		}
	}
	return problems
}

// checkEncryption reports data at rest or in transit left unencrypted: RDS, ElastiCache, MSK,
// the EKS Secrets, node volumes, Secrets Manager entries, ECR, KMS keys without rotation, and
// S3 state.
func checkEncryption(files []tfFile) []string {
	var problems []string
	need := func(b block, body *hclsyntax.Body, attr string, want cty.Value) {
		v, ok := literal(body, attr)
		if !ok || v.IsNull() || !v.Type().Equals(want.Type()) || v.Equals(want).False() {
			problems = append(problems, fmt.Sprintf("%s: %s must be %s", b, attr, show(want)))
		}
	}
	present := func(b block, body *hclsyntax.Body, attr string) {
		if _, ok := body.Attributes[attr]; !ok {
			problems = append(problems, fmt.Sprintf("%s: %s must be set", b, attr))
		}
	}
	for _, b := range blocks(files, "resource", "aws_db_instance") {
		need(b, b.Body, "storage_encrypted", cty.True)
		present(b, b.Body, "kms_key_id")
	}
	for _, b := range blocks(files, "resource", "aws_elasticache_replication_group") {
		need(b, b.Body, "at_rest_encryption_enabled", cty.True)
		need(b, b.Body, "transit_encryption_enabled", cty.True)
		present(b, b.Body, "auth_token")
	}
	for _, b := range blocks(files, "resource", "aws_msk_cluster") {
		ei := nested(b.Body, "encryption_info")
		if len(ei) != 1 {
			problems = append(problems, b.String()+": no encryption_info")
			continue
		}
		present(b, ei[0].Body, "encryption_at_rest_kms_key_arn")
		it := nested(ei[0].Body, "encryption_in_transit")
		if len(it) != 1 {
			problems = append(problems, b.String()+": no encryption_in_transit")
			continue
		}
		need(b, it[0].Body, "client_broker", cty.StringVal("TLS"))
		need(b, it[0].Body, "in_cluster", cty.True)
	}
	for _, b := range blocks(files, "resource", "aws_eks_cluster") {
		ec := nested(b.Body, "encryption_config")
		if len(ec) != 1 {
			problems = append(problems, b.String()+": Kubernetes Secrets must be encrypted (encryption_config)")
		}
	}
	for _, b := range blocks(files, "resource", "aws_launch_template") {
		for _, bdm := range nested(b.Body, "block_device_mappings") {
			for _, ebs := range nested(bdm.Body, "ebs") {
				need(b, ebs.Body, "encrypted", cty.True)
			}
		}
	}
	for _, b := range blocks(files, "resource", "aws_kms_key") {
		need(b, b.Body, "enable_key_rotation", cty.True)
	}
	for _, b := range blocks(files, "resource", "aws_secretsmanager_secret") {
		present(b, b.Body, "kms_key_id")
	}
	for _, b := range blocks(files, "resource", "aws_ecr_repository") {
		if len(nested(b.Body, "encryption_configuration")) != 1 {
			problems = append(problems, b.String()+": no encryption_configuration")
		}
	}
	for _, tf := range blocks(files, "terraform") {
		for _, be := range nested(tf.Body, "backend") {
			if len(be.Labels) == 1 && be.Labels[0] == "s3" {
				need(tf, be.Body, "encrypt", cty.True)
			}
		}
	}
	return problems
}

// worldCIDRs are "anyone on the internet".
var worldCIDRs = []string{"0.0.0.0/0", "::/0"}

// checkNothingPublic reports what would make a data store or a node reachable from the
// internet: publicly accessible databases, subnets that hand out public IPs, and security group
// ingress from anywhere except HTTPS (443) into a load balancer's group.
func checkNothingPublic(files []tfFile) []string {
	var problems []string
	for _, f := range files {
		for _, b := range f.Body.Blocks {
			if b.Type != "resource" || len(b.Labels) != 2 {
				continue
			}
			rb := block{File: f.Path, Block: b}
			if _, ok := b.Body.Attributes["publicly_accessible"]; ok || b.Labels[0] == "aws_db_instance" {
				if v, ok := literalBool(b.Body, "publicly_accessible"); !ok || v {
					problems = append(problems, rb.String()+": publicly_accessible must be false")
				}
			}
			if v, ok := literalBool(b.Body, "map_public_ip_on_launch"); ok && v {
				problems = append(problems, rb.String()+": map_public_ip_on_launch gives instances public addresses")
			}
			loadBalancer := strings.Contains(b.Labels[1], "lb") || strings.Contains(b.Labels[1], "load_balancer")
			ingress := func(body *hclsyntax.Body, cidrAttrs ...string) {
				for _, attr := range cidrAttrs {
					if !mentionsWorld(body, attr) {
						continue
					}
					from, _ := literal(body, "from_port")
					to, _ := literal(body, "to_port")
					https := from != cty.NilVal && to != cty.NilVal && from.Equals(cty.NumberIntVal(443)).True() && to.Equals(cty.NumberIntVal(443)).True()
					if !https || !loadBalancer {
						problems = append(problems, rb.String()+": ingress from anywhere; only a load balancer's 443 may be open to the internet")
					}
				}
			}
			switch b.Labels[0] {
			case "aws_security_group":
				for _, in := range nested(b.Body, "ingress") {
					ingress(in.Body, "cidr_blocks", "ipv6_cidr_blocks")
				}
			case "aws_security_group_rule":
				if t, _ := literalString(b.Body, "type"); t == "ingress" {
					ingress(b.Body, "cidr_blocks", "ipv6_cidr_blocks")
				}
			case "aws_vpc_security_group_ingress_rule":
				ingress(b.Body, "cidr_ipv4", "cidr_ipv6")
			case "aws_eks_cluster":
				for _, vc := range nested(b.Body, "vpc_config") {
					if mentionsWorld(vc.Body, "public_access_cidrs") {
						problems = append(problems, rb.String()+": the Kubernetes API open to the whole internet")
					}
				}
			}
		}
	}
	return problems
}

// mentionsWorld reports whether a literal attribute (a CIDR or a list of them) includes 0.0.0.0/0
// or ::/0.
func mentionsWorld(body *hclsyntax.Body, attr string) bool {
	a, ok := body.Attributes[attr]
	if !ok {
		return false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return false
	}
	var values []string
	switch {
	case v.Type() == cty.String:
		values = []string{v.AsString()}
	case v.CanIterateElements():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() == cty.String {
				values = append(values, e.AsString())
			}
		}
	}
	for _, s := range values {
		if slices.Contains(worldCIDRs, s) {
			return true
		}
	}
	return false
}

// show formats a literal the way it is written in HCL.
func show(v cty.Value) string {
	switch v.Type() {
	case cty.Bool:
		return fmt.Sprint(v.True())
	case cty.String:
		return fmt.Sprintf("%q", v.AsString())
	}
	return v.GoString()
}
