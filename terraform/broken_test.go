package terraform

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each fixture under testdata/broken breaks a rule on purpose; the check must say so. This is
// what shows the policy tests can fail.
func TestPolicies_CatchBrokenConfig(t *testing.T) {
	t.Parallel()
	ids := func(files []tfFile) []string {
		var p []string
		for _, f := range files {
			p = append(p, checkNoHardcodedIDs(f.Path, f.Src)...)
		}
		return p
	}
	tests := []struct {
		fixture string
		check   func([]tfFile) []string
		want    []string // each must appear in some problem; none means no problem at all
	}{
		{"unencrypted-rds", checkEncryption, []string{"storage_encrypted must be true", "kms_key_id must be set"}},
		{"unencrypted-rds", checkNothingPublic, []string{"aws_db_instance.db: publicly_accessible must be false"}},
		{"open-ingress", checkNothingPublic, []string{"aws_security_group.bastion: ingress from anywhere", "aws_vpc_security_group_ingress_rule.db: ingress from anywhere"}},
		{"load-balancer-https", checkNothingPublic, nil},
		{"hardcoded-ids", ids, []string{"hard-coded region us-east-1", "hard-coded AWS account id 123456789012"}},
		{"untagged", func(f []tfFile) []string { return checkTags(f, ".") }, []string{"default_tags lacks ManagedBy", "Environment must be var.environment"}},
		{"msk-plaintext", checkEncryption, []string{`client_broker must be "TLS"`, "transit_encryption_enabled must be true"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			files, err := parseTree(filepath.Join("testdata", "broken", tt.fixture))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			problems := tt.check(files)
			if tt.want == nil {
				require.Empty(t, problems)
				return
			}
			for _, w := range tt.want {
				require.Truef(t, containsSubstring(problems, w), "want a problem containing %q, got:\n%s", w, strings.Join(problems, "\n"))
			}
		})
	}
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
