package deploy

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDoc_NamedFilesExist: doc.go names only files that exist (it once promised some that did
// not). Paths in backquotes are repository-relative, or relative to deploy/ for the packages and
// test files of this module.
func TestDoc_NamedFilesExist(t *testing.T) {
	t.Parallel()
	doc := string(readRepoFile(t, "deploy/doc.go"))
	quoted := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(doc, -1)
	require.GreaterOrEqual(t, len(quoted), 10, "doc.go: got %d quoted paths, want the files it describes", len(quoted))
	for _, m := range quoted {
		if m[1] == "make test" || regexp.MustCompile(`^github\.com/`).MatchString(m[1]) {
			continue
		}
		requireExists(t, localOrRepo(t, m[1]), "deploy/doc.go")
	}
	for _, m := range regexp.MustCompile(`\b([a-z_]+_test\.go)\b`).FindAllStringSubmatch(doc, -1) {
		requireExists(t, "deploy/"+m[1], "deploy/doc.go")
	}
}

// localOrRepo resolves a path named in doc.go: internal/… and cmd/… are this module's.
func localOrRepo(t *testing.T, p string) string {
	t.Helper()
	if regexp.MustCompile(`^(internal|cmd)/`).MatchString(p) {
		return "deploy/" + p
	}
	return p
}
