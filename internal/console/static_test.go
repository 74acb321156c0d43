package console_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
)

// TestStatic: assets are embedded and served with their hash for caching; pages carry the
// security headers.
func TestStatic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	page := b.bearer(t, b.keys[apikey.RoleAdmin], "GET", "jobs", nil)
	require.Equal(t, http.StatusOK, page.code)
	csp := page.header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "nosniff", page.header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", page.header.Get("Cache-Control"))

	assets := regexp.MustCompile(`(?:href|src)="/static/([a-z.]+)\?v=([0-9a-f]+)"`).FindAllStringSubmatch(page.body, -1)
	require.Len(t, assets, 2, "the page links its stylesheet and script")
	for _, m := range assets {
		name, hash := m[1], m[2]
		resp := b.bearer(t, "", "GET", "static/"+name+"?v="+hash, nil)
		require.Equal(t, http.StatusOK, resp.code, name)
		require.Contains(t, resp.header.Get("Cache-Control"), "immutable", name)
		want, err := os.ReadFile(filepath.Join("static", name))
		require.NoError(t, err)
		require.Equal(t, string(want), resp.body, "%s is the committed file", name)
		stale := b.bearer(t, "", "GET", "static/"+name+"?v=old", nil)
		require.Equal(t, "no-cache", stale.header.Get("Cache-Control"), "another version is not cached for good")
	}
	require.Equal(t, http.StatusNotFound, b.bearer(t, "", "GET", "static/nope.js", nil).code)
}

// TestTemplates_FitTheCSP: no template or asset needs what the Content-Security-Policy
// forbids (inline scripts, event handler attributes, inline styles, javascript: URLs, other
// origins), which a browser would silently block.
func TestTemplates_FitTheCSP(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("templates/*.html")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	forbidden := regexp.MustCompile(`(?i)<script>|<script\s+[^>]*>[^<]+</script>|\son[a-z]+="|\sstyle="|javascript:|https?://`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Nil(t, forbidden.Find(data), "%s: %q is blocked by the console's CSP", f, forbidden.Find(data))
	}
}

// TestChromedp_OnlyInTests: the browser driver is a test dependency: no binary links it.
func TestChromedp_OnlyInTests(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot list the binaries' dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", "../../cmd/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "github.com/jqhq/jq/internal/console", "jq-server links the console")
	require.False(t, strings.Contains(string(out), "chromedp"), "a binary links chromedp")
}
