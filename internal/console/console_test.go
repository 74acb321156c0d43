package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/queue"
)

// noRole is a caller without any credential.
const noRole apikey.Role = "none"

// TestRoutes_ByRole: every page and action answers each role as the gRPC method it stands for
// would (docs/security.md), with a key in an Authorization header.
func TestRoutes_ByRole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	store := b.srv.Store()
	ctx := context.Background()
	job := b.submit(t, "default", `{"kind": "x"}`)
	b.createQueue(t, "spare")
	worker := uuid.New()
	_, err := store.RegisterWorker(ctx, queue.RegisterWorkerParams{ID: worker, Hostname: "h", Concurrency: 1, Queues: []string{"default"}, Incarnation: "i"})
	require.NoError(t, err)

	const (
		ok       = http.StatusOK
		see      = http.StatusSeeOther
		denied   = http.StatusForbidden
		noKey    = http.StatusUnauthorized
		conflict = http.StatusConflict
		notFound = http.StatusNotFound
	)
	type want map[apikey.Role]int
	routes := []struct {
		method, path string
		form         url.Values
		want         want
	}{
		{"GET", "", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: see, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "jobs", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "jobs/" + job.String(), nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "queues", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "schedules", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "workflows", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "workflows/" + uuid.NewString(), nil, want{apikey.RoleAdmin: notFound, apikey.RoleSubmitter: notFound, apikey.RoleReader: notFound, apikey.RoleWorker: denied, noRole: see}},
		{"GET", "workers", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: ok, apikey.RoleWorker: denied, noRole: see}},
		// Actions without confirm=yes show their confirmation page: the role check comes first.
		{"POST", "jobs/" + job.String() + "/cancel", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "jobs/" + job.String() + "/retry", url.Values{}, want{apikey.RoleAdmin: conflict, apikey.RoleSubmitter: conflict, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "jobs/bulk", url.Values{"action": {"retry"}, "target": {"selected"}, "id": {job.String()}}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "jobs/bulk", url.Values{"action": {"cancel"}, "target": {"selected"}, "id": {job.String()}}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "queues/spare/delete", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "queues/spare/pause", url.Values{}, want{apikey.RoleAdmin: see, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "queues/spare/resume", url.Values{}, want{apikey.RoleAdmin: see, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "queues/spare/limits", url.Values{"max_running_per_key": {"3"}}, want{apikey.RoleAdmin: see, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "queues/pause-all", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "queues/resume-all", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "schedules/nosuch/pause", url.Values{}, want{apikey.RoleAdmin: notFound, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "schedules/nosuch/resume", url.Values{}, want{apikey.RoleAdmin: notFound, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "schedules/nosuch/trigger", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "schedules/nosuch/delete", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "workers/" + worker.String() + "/drain", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "workers/" + worker.String() + "/shutdown", url.Values{}, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: denied, apikey.RoleReader: denied, apikey.RoleWorker: denied, noRole: noKey}},
		{"POST", "logout", url.Values{}, want{apikey.RoleAdmin: see, apikey.RoleSubmitter: see, apikey.RoleReader: see, apikey.RoleWorker: see, noRole: noKey}},
		{"GET", "login", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: ok, apikey.RoleWorker: ok, noRole: ok}},
		{"GET", "static/console.css", nil, want{apikey.RoleAdmin: ok, apikey.RoleSubmitter: ok, apikey.RoleReader: ok, apikey.RoleWorker: ok, noRole: ok}},
	}
	for _, rt := range routes {
		for role, code := range rt.want {
			t.Run(fmt.Sprintf("%s_%s_%s", rt.method, strings.ReplaceAll(rt.path, "/", "_"), role), func(t *testing.T) {
				t.Parallel()
				resp := b.bearer(t, b.keys[role], rt.method, rt.path, rt.form)
				require.Equal(t, code, resp.code, "%s /%s as %s: %s", rt.method, rt.path, role, resp.body)
				if code == denied {
					require.Contains(t, resp.body, "which may not call", "a refusal names the rule")
				}
			})
		}
	}
	j, err := store.GetJob(ctx, job)
	require.NoError(t, err)
	require.Equal(t, queue.StatusPending, j.Status, "no action happened without its confirmation")
}

// TestCSRF: a session's state-changing request needs its token and must come from the
// console's own origin; a key in an Authorization header needs neither.
func TestCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.signIn(t, b.keys[apikey.RoleAdmin])
	other := b.signIn(t, b.keys[apikey.RoleAdmin])
	cancelPath := func() string { return "jobs/" + b.submit(t, "default", `{}`).String() + "/cancel" }

	for name, tc := range map[string]struct {
		form    url.Values
		headers []string
		want    string
	}{
		"NoToken":           {form: url.Values{"confirm": {"yes"}}, want: "CSRF token"},
		"WrongToken":        {form: url.Values{"confirm": {"yes"}, "csrf": {"x"}}, want: "CSRF token"},
		"OtherSession":      {form: other.form("confirm", "yes"), want: "CSRF token"},
		"CrossSite":         {form: admin.form("confirm", "yes"), headers: []string{"Sec-Fetch-Site", "cross-site"}, want: "cross-origin"},
		"ForeignOrigin":     {form: admin.form("confirm", "yes"), headers: []string{"Sec-Fetch-Site", "", "Origin", "http://evil.example"}, want: "cross-origin"},
		"SameSiteSubdomain": {form: admin.form("confirm", "yes"), headers: []string{"Sec-Fetch-Site", "same-site"}, want: "cross-origin"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := admin.post(t, cancelPath(), tc.form, tc.headers...)
			require.Equal(t, http.StatusForbidden, resp.code, resp.body)
			require.Contains(t, resp.body, tc.want)
		})
	}
	t.Run("Accepted", func(t *testing.T) {
		resp := admin.post(t, cancelPath(), admin.form("confirm", "yes"))
		require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
		resp = admin.post(t, cancelPath(), admin.form("confirm", "yes"), "X-CSRF-Token", admin.csrf, "Origin", strings.TrimSuffix(b.base, "/"))
		require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	})
	t.Run("HeaderToken", func(t *testing.T) {
		resp := admin.post(t, cancelPath(), url.Values{"confirm": {"yes"}}, "X-CSRF-Token", admin.csrf)
		require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	})
	t.Run("BearerNeedsNone", func(t *testing.T) {
		resp := b.bearer(t, b.keys[apikey.RoleAdmin], "POST", cancelPath(), url.Values{"confirm": {"yes"}})
		require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	})
	t.Run("CrossSiteSignIn", func(t *testing.T) {
		req := newRequest(t, "POST", b.url("login"), url.Values{"key": {b.keys[apikey.RoleAdmin]}})
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp := do(t, noRedirects(nil), req)
		require.Equal(t, http.StatusForbidden, resp.code)
		require.Empty(t, resp.header.Values("Set-Cookie"), "no session for a cross-site sign-in")
	})
}

// TestBadParameters: every malformed parameter is a 400 that names it, never a 500.
func TestBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.keys[apikey.RoleAdmin]
	for _, tc := range []struct{ path, want string }{
		{"jobs?status=NOPE", "status"},
		{"jobs?status=PENDING,bogus", "status"},
		{"jobs?queue=bad%20queue", "queue"},
		{"jobs?queue=" + strings.Repeat("q", 200), "queue"},
		{"jobs?priority=x", "priority"},
		{"jobs?priority=10", "priority"},
		{"jobs?priority=-1", "priority"},
		{"jobs?from=yesterday", "from"},
		{"jobs?to=2026-13-01", "to"},
		{"jobs?from=2026-02-01&to=2026-01-01", "not before"},
		{"jobs?sort=sideways", "sort"},
		{"jobs?after=nope", "after"},
		{"jobs?before=" + strings.Repeat("f", 40), "before"},
		{"jobs?after=" + uuid.NewString() + "&before=" + uuid.NewString(), "exclusive"},
		{"jobs?limit=0", "limit"},
		{"jobs?limit=201", "limit"},
		{"jobs?limit=ten", "limit"},
		{"jobs?q=" + strings.Repeat("x", 501), "search"},
		{"jobs?key=" + strings.Repeat("k", 256), "key"},
		{"jobs/not-a-uuid", "job id"},
		{"workers?offline=maybe", "offline"},
		{"workflows/nope", "workflow id"},
		{"workflows?before=nope", "before"},
		{"workflows?id=nope", "workflow id"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			resp := b.bearer(t, admin, "GET", tc.path, nil)
			require.Equal(t, http.StatusBadRequest, resp.code, resp.body)
			require.Contains(t, resp.body, tc.want)
		})
	}
	for _, tc := range []struct {
		path string
		form url.Values
		want string
	}{
		{"jobs/not-a-uuid/retry", url.Values{}, "job id"},
		{"jobs/not-a-uuid/cancel", url.Values{}, "job id"},
		{"queues/-bad/delete", url.Values{}, "queue name"},
		{"workers/12/drain", url.Values{}, "worker id"},
		{"queues/-bad/pause", url.Values{}, "queue name"},
		{"schedules/-bad/pause", url.Values{}, "schedule name"},
		{"schedules/-bad/trigger", url.Values{}, "schedule name"},
		{"queues/-bad/limits", url.Values{"max_running": {"1"}}, "queue name"},
		{"queues/default/limits", url.Values{}, "nothing to change"},
		{"queues/default/limits", url.Values{"max_running": {"-1"}}, "max_running"},
		{"queues/default/limits", url.Values{"max_running": {"many"}}, "max_running"},
		{"queues/default/limits", url.Values{"max_running_per_key": {"99999999999"}}, "max_running_per_key"},
		{"queues/default/limits", url.Values{"rate_limit": {"10"}}, "rate_period"},
		{"queues/default/limits", url.Values{"rate_limit": {"10"}, "rate_period": {"soon"}}, "rate_period"},
		{"queues/default/limits", url.Values{"rate_limit": {"10"}, "rate_period": {"-1s"}}, "rate_period"},
		{"queues/default/limits", url.Values{"rate_period": {"1s"}}, "needs a rate_limit"},
		{"workers/12/shutdown", url.Values{}, "worker id"},
		{"jobs/bulk", url.Values{"action": {"explode"}}, "action"},
		{"jobs/bulk", url.Values{"action": {"retry"}, "target": {"everything"}}, "target"},
		{"jobs/bulk", url.Values{"action": {"retry"}, "target": {"selected"}}, "no job selected"},
		{"jobs/bulk", url.Values{"action": {"retry"}, "target": {"selected"}, "id": {"x"}}, "job id"},
		{"jobs/bulk", url.Values{"action": {"retry"}, "target": {"matching"}, "status": {"NOPE"}}, "status"},
	} {
		t.Run("POST_"+tc.path, func(t *testing.T) {
			t.Parallel()
			resp := b.bearer(t, admin, "POST", tc.path, tc.form)
			require.Equal(t, http.StatusBadRequest, resp.code, resp.body)
			require.Contains(t, resp.body, tc.want)
		})
	}
	t.Run("UnknownIDs", func(t *testing.T) {
		t.Parallel()
		resp := b.bearer(t, admin, "GET", "jobs/"+uuid.NewString(), nil)
		require.Equal(t, http.StatusNotFound, resp.code, resp.body)
		resp = b.bearer(t, admin, "POST", "workers/"+uuid.NewString()+"/drain", url.Values{"confirm": {"yes"}})
		require.Equal(t, http.StatusNotFound, resp.code, resp.body)
		resp = b.bearer(t, admin, "POST", "queues/nosuchqueue/delete", url.Values{"confirm": {"yes"}})
		require.Equal(t, http.StatusNotFound, resp.code, resp.body)
		resp = b.bearer(t, admin, "GET", "no/such/page", nil)
		require.Equal(t, http.StatusNotFound, resp.code, resp.body)
		resp = b.bearer(t, admin, "DELETE", "jobs", nil)
		require.Equal(t, http.StatusMethodNotAllowed, resp.code, resp.body)
	})
	t.Run("BadBearer", func(t *testing.T) {
		t.Parallel()
		for _, key := range []string{"jqk_nope", "jqk_" + strings.Repeat("A", 49), apikey.Generate()} {
			resp := b.bearer(t, key, "GET", "jobs", nil)
			require.Equal(t, http.StatusUnauthorized, resp.code, resp.body)
			require.NotContains(t, resp.body, key, "the key is never echoed")
			require.Equal(t, `Bearer realm="jq console"`, resp.header.Get("WWW-Authenticate"))
		}
	})
}

// TestPathPrefix: behind an ingress's sub-path, every link, redirect, asset and the cookie stay
// under it.
func TestPathPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.UI.PathPrefix = "/ops/jq" })
	require.True(t, strings.HasSuffix(b.base, "/ops/jq/"), b.base)
	root := strings.TrimSuffix(b.base, "ops/jq/")

	resp := do(t, noRedirects(nil), newRequest(t, "GET", b.url(""), nil))
	require.Equal(t, http.StatusSeeOther, resp.code)
	require.True(t, strings.HasPrefix(resp.location, "/ops/jq/login?next=%2Fops%2Fjq%2F"), resp.location)

	resp = do(t, noRedirects(nil), newRequest(t, "GET", root+"ops/jq", nil))
	require.Equal(t, http.StatusMovedPermanently, resp.code)
	require.Equal(t, "/ops/jq/", resp.location)
	resp = do(t, noRedirects(nil), newRequest(t, "GET", root+"jobs", nil))
	require.Equal(t, http.StatusNotFound, resp.code, "nothing is served outside the prefix")

	resp = do(t, noRedirects(nil), newRequest(t, "POST", b.url("login"), url.Values{"key": {b.keys[apikey.RoleAdmin]}, "next": {"/ops/jq/queues"}}))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.Equal(t, "/ops/jq/queues", resp.location)
	cookie := resp.header.Get("Set-Cookie")
	require.Contains(t, cookie, "Path=/ops/jq;")

	br := b.signIn(t, b.keys[apikey.RoleAdmin])
	page := br.get(t, "")
	require.Equal(t, http.StatusOK, page.code)
	for _, link := range []string{`href="/ops/jq/jobs"`, `href="/ops/jq/queues"`, `href="/ops/jq/static/console.css?v=`, `src="/ops/jq/static/console.js?v=`, `action="/ops/jq/logout"`} {
		require.Contains(t, page.body, link)
	}
	require.NotContains(t, page.body, `href="/jobs`, "no link escapes the prefix")
	require.Equal(t, http.StatusOK, br.get(t, "static/console.js").code)
	id := b.submit(t, "default", `{}`)
	resp = br.post(t, "jobs/"+id.String()+"/cancel", br.form("confirm", "yes"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.Equal(t, "/ops/jq/jobs/"+id.String(), resp.location)
}

// TestSession: the cookie is a random id (never the key), HttpOnly and SameSite=Strict (Secure
// behind TLS); signing out, or revoking the key, ends the session.
func TestSession(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Auth.KeyCacheTTL = config.Duration(50 * time.Millisecond) })
	key := b.srv.Key(t, apikey.RoleReader)

	req := newRequest(t, "POST", b.url("login"), url.Values{"key": {key}})
	req.Header.Set("X-Forwarded-Proto", "https")
	resp := do(t, noRedirects(nil), req)
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	cookie := resp.header.Get("Set-Cookie")
	for _, attr := range []string{"jq_console=", "HttpOnly", "SameSite=Strict", "Secure", "Path=/"} {
		require.Contains(t, cookie, attr)
	}
	require.NotContains(t, cookie, key)
	require.NotContains(t, cookie, key[4:20], "not even part of the key")
	plain := do(t, noRedirects(nil), newRequest(t, "POST", b.url("login"), url.Values{"key": {key}}))
	require.NotContains(t, plain.header.Get("Set-Cookie"), "Secure", "no Secure flag over plain HTTP")

	t.Run("SignOut", func(t *testing.T) {
		br := b.signIn(t, key)
		jar := br.client.Jar
		u, _ := url.Parse(b.base)
		old := jar.Cookies(u)
		require.Equal(t, http.StatusSeeOther, br.post(t, "logout", br.form()).code)
		// The old cookie, replayed, is dead.
		req := newRequest(t, "GET", b.url("jobs"), nil)
		for _, c := range old {
			req.AddCookie(c)
		}
		resp := do(t, noRedirects(nil), req)
		require.Equal(t, http.StatusSeeOther, resp.code)
		require.Contains(t, resp.location, "/login")
	})
	t.Run("Revoked", func(t *testing.T) {
		br := b.signIn(t, key)
		_, err := b.srv.Store().RevokeAPIKey(context.Background(), keyName(t, b, key), "test")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			resp := br.get(t, "jobs")
			return resp.code == http.StatusSeeOther && strings.Contains(resp.location, "reason=ended")
		}, 5*time.Second, 20*time.Millisecond, "a revoked key ends its session")
		page := br.get(t, "login?reason=ended")
		require.Contains(t, page.body, "revoked or has expired")
	})
	t.Run("WrongKeys", func(t *testing.T) {
		for _, tc := range []struct {
			key  string
			code int
			want string
		}{
			{"", http.StatusBadRequest, "Paste an API key"},
			{"not a key", http.StatusUnauthorized, "malformed API key"},
			{apikey.Generate(), http.StatusUnauthorized, "unknown API key"},
			{b.keys[apikey.RoleWorker], http.StatusForbidden, "has role worker"},
		} {
			resp := do(t, noRedirects(nil), newRequest(t, "POST", b.url("login"), url.Values{"key": {tc.key}}))
			require.Equal(t, tc.code, resp.code, resp.body)
			require.Contains(t, resp.body, tc.want)
			require.Empty(t, resp.header.Values("Set-Cookie"))
		}
	})
	t.Run("NextStaysHere", func(t *testing.T) {
		for next, want := range map[string]string{
			"/jobs?status=DONE":     "/jobs?status=DONE",
			"//evil.example/jobs":   "/",
			"https://evil.example/": "/",
			`/\evil.example`:        "/",
			"/login":                "/",
			"":                      "/",
		} {
			resp := do(t, noRedirects(nil), newRequest(t, "POST", b.url("login"), url.Values{"key": {b.keys[apikey.RoleAdmin]}, "next": {next}}))
			require.Equal(t, http.StatusSeeOther, resp.code)
			require.Equal(t, want, resp.location, "next=%q", next)
		}
	})
	t.Run("LinkFromElsewhere", func(t *testing.T) {
		// A link from another site arrives without the SameSite=Strict cookie: the console
		// reloads from its own origin instead of asking to sign in again.
		req := newRequest(t, "GET", b.url("jobs"), nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp := do(t, noRedirects(nil), req)
		require.Equal(t, http.StatusOK, resp.code)
		require.Contains(t, resp.body, `http-equiv="refresh"`)
	})
}

// keyName finds the name of an API key, by its display prefix.
func keyName(t *testing.T, b *bundle, key string) string {
	t.Helper()
	keys, err := b.srv.Store().ListAPIKeys(context.Background())
	require.NoError(t, err)
	for _, k := range keys {
		if k.Prefix == apikey.Display(key) {
			return k.Name
		}
	}
	t.Fatalf("no key %s", apikey.Display(key))
	return ""
}

// TestAuthModeNone: with auth mode none the console is open, as an admin named anonymous,
// and still wants its CSRF token.
func TestAuthModeNone(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Auth.Mode = "none" })
	jar := newJar(t)
	br := &browser{b: b, client: noRedirects(jar)}
	page := br.get(t, "")
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, "anonymous")
	m := csrfField.FindStringSubmatch(page.body)
	require.NotNil(t, m)
	br.csrf = m[1]
	id := b.submit(t, "default", `{}`)
	require.Equal(t, http.StatusForbidden, br.post(t, "jobs/"+id.String()+"/cancel", url.Values{"confirm": {"yes"}}).code)
	resp := br.post(t, "jobs/"+id.String()+"/cancel", br.form("confirm", "yes"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	events, err := b.srv.Store().JobEvents(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "anonymous", events[len(events)-1].Actor)
	require.Equal(t, http.StatusSeeOther, br.get(t, "login").code, "nothing to sign in to")
}
