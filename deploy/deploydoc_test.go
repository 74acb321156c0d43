package deploy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeployDoc: docs/deploy.md describes what exists (every workflow, make target, secret and
// variable the workflows read), and the README links it.
func TestDeployDoc(t *testing.T) {
	t.Parallel()
	doc := string(readRepoFile(t, "docs/deploy.md"))
	require.Contains(t, string(readRepoFile(t, "README.md")), "(docs/deploy.md)", "README.md must link docs/deploy.md")

	for _, f := range workflowFiles(t) {
		require.Containsf(t, doc, "`"+strings.TrimPrefix(f, ".github/workflows/")+"`", "docs/deploy.md: workflow %s is not described", f)
	}
	for _, target := range append([]string{"test-unit", "config.local.yaml", "lint-deploy", "test"}, composeTargets...) {
		require.Containsf(t, doc, "make "+target, "docs/deploy.md: make %s is not described", target)
	}
	for _, img := range images {
		require.Containsf(t, doc, "`"+img.dockerfile+"`", "docs/deploy.md: %s is not described", img.dockerfile)
	}
	// Every secret and variable a workflow reads is in the table of docs/deploy.md.
	ref := regexp.MustCompile(`\b(?:secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)`)
	for _, f := range workflowFiles(t) {
		for _, m := range ref.FindAllStringSubmatch(string(readRepoFile(t, f)), -1) {
			if m[1] == "GITHUB_TOKEN" {
				continue
			}
			require.Containsf(t, doc, "| `"+m[1]+"` |", "docs/deploy.md: %s (read by %s) is not in the secrets and variables table", m[1], f)
		}
	}
	// The links inside the page point at its own headings.
	for _, m := range regexp.MustCompile(`\]\(#([a-z0-9-]+)\)`).FindAllStringSubmatch(doc, -1) {
		require.Truef(t, hasHeading(doc, m[1]), "docs/deploy.md: link #%s has no heading", m[1])
	}
}

// hasHeading reports whether doc has a heading whose GitHub anchor is anchor.
func hasHeading(doc, anchor string) bool {
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(doc, -1) {
		a := strings.ToLower(m[1])
		a = regexp.MustCompile("[^a-z0-9 -]").ReplaceAllString(a, "")
		if strings.ReplaceAll(a, " ", "-") == anchor {
			return true
		}
	}
	return false
}
