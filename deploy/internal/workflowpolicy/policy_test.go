package workflowpolicy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// good keeps every rule; each case below breaks one.
const good = `# demo: builds and pushes.
# Secrets: NPM_TOKEN (publishes).
# Variables: AWS_ROLE (assumed through OIDC), AWS_REGION.
name: demo
on:
  push:
  pull_request:
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-24.04
    timeout-minutes: 10
    permissions:
      contents: read
      id-token: write
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - uses: aws-actions/configure-aws-credentials@b47578312673ae6fa5b5096b330d9fbac3d116df # v4.2.1
        with:
          role-to-assume: ${{ vars.AWS_ROLE }}
          aws-region: ${{ vars.AWS_REGION }}
      - run: npm publish
        env:
          TOKEN: ${{ secrets.NPM_TOKEN }}
          GH: ${{ secrets.GITHUB_TOKEN }}
  reuse:
    uses: ./.github/workflows/other.yml
`

func check(t *testing.T, workflow string) []string {
	t.Helper()
	got, err := Check([]byte(workflow))
	require.NoError(t, err)
	return got
}

func TestCheck_Good(t *testing.T) {
	t.Parallel()
	require.Empty(t, check(t, good))
}

func TestCheck_RejectsEachBrokenRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, old, new, want string
	}{
		{"TagNotSHA", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4", "pin it to a full commit SHA"},
		{"ShortSHA", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@11bd719", "pin it to a full commit SHA"},
		{"NoVersionComment", "@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "@11bd71901bbe5b1630ceea73d27597364c9af683", "want the release it pins"},
		{"OtherComment", "# v4.2.2", "# latest", "want the release it pins"},
		{"DockerByTag", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "docker://alpine:3.20", "pin the image by digest"},
		{"NoPermissions", "permissions:\n  contents: read\njobs:", "jobs:", "no top-level permissions"},
		{"WriteAll", "permissions:\n  contents: read\njobs:", "permissions: write-all\njobs:", "write-all"},
		{"TopLevelIDToken", "permissions:\n  contents: read\njobs:", "permissions:\n  contents: read\n  id-token: write\njobs:", "top-level id-token: write"},
		{"PullRequestTarget", "  pull_request:\n", "  pull_request_target:\n", "pull_request_target"},
		{"NoTimeout", "    timeout-minutes: 10\n", "", "job build: no timeout-minutes"},
		{"AccessKeyInput", "role-to-assume: ${{ vars.AWS_ROLE }}", "aws-access-key-id: ${{ vars.AWS_ROLE }}", "never with access keys"},
		{"AccessKeyEnv", "TOKEN: ${{ secrets.NPM_TOKEN }}", "AWS_SECRET_ACCESS_KEY: ${{ secrets.NPM_TOKEN }}", "never with access keys"},
		{"NoRole", "role-to-assume: ${{ vars.AWS_ROLE }}\n", "", "without role-to-assume"},
		{"UndocumentedSecret", "secrets.NPM_TOKEN }}", "secrets.PYPI_TOKEN }}", "secrets.PYPI_TOKEN is not documented"},
		{"UndocumentedVar", "aws-region: ${{ vars.AWS_REGION }}", "aws-region: ${{ vars.REGION }}", "vars.REGION is not documented"},
		{"NoHeader", "# demo: builds and pushes.\n# Secrets: NPM_TOKEN (publishes).\n# Variables: AWS_ROLE (assumed through OIDC), AWS_REGION.\n", "", "is not documented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Containsf(t, good, tt.old, "case %s: the fixture lost the text it replaces", tt.name)
			got := check(t, strings.Replace(good, tt.old, tt.new, 1))
			found := false
			for _, p := range got {
				found = found || strings.Contains(p, tt.want)
			}
			require.Truef(t, found, "case %s: got %q, want a problem containing %q", tt.name, got, tt.want)
		})
	}
}

func TestCheck_NamesTheLine(t *testing.T) {
	t.Parallel()
	got := check(t, strings.Replace(good, "secrets.NPM_TOKEN }}", "secrets.PYPI_TOKEN }}", 1))
	require.Equal(t, []string{"line 25: secrets.PYPI_TOKEN is not documented in the comment at the top of the file"}, got)
}

func TestCheck_NotYAML(t *testing.T) {
	t.Parallel()
	_, err := Check([]byte("jobs: [unclosed"))
	require.Error(t, err)
}
