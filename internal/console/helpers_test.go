package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testserver"
	"github.com/jqhq/jq/queue"
)

// bundle is a jq-server with its console on a fresh database, and a key per role.
type bundle struct {
	srv  *testserver.Server
	base string // the console's URL, with its prefix and a trailing slash
	keys map[apikey.Role]string
}

// setup starts a server with the console on a free port; tweak may change the configuration.
func setup(t *testing.T, tweak ...func(*config.Config)) *bundle {
	t.Helper()
	srv := testserver.Start(t, append([]func(*config.Config){func(c *config.Config) {
		c.UI.Enabled, c.UI.Host, c.UI.Port = true, "127.0.0.1", 0
	}}, tweak...)...)
	b := &bundle{srv: srv, base: srv.ConsoleURL(), keys: map[apikey.Role]string{apikey.RoleAdmin: srv.AdminKey}}
	require.NotEmpty(t, b.base, "the console listens")
	for _, r := range []apikey.Role{apikey.RoleSubmitter, apikey.RoleReader, apikey.RoleWorker} {
		b.keys[r] = srv.Key(t, r)
	}
	return b
}

// url is a console path ("jobs?status=DONE") as an absolute URL.
func (b *bundle) url(path string) string { return b.base + strings.TrimPrefix(path, "/") }

// submit enqueues a job on queue and returns its id.
func (b *bundle) submit(t *testing.T, q, payload string, tweak ...func(*queue.SubmitParams)) uuid.UUID {
	t.Helper()
	p := queue.SubmitParams{Queue: q, Payload: []byte(payload)}
	for _, f := range tweak {
		f(&p)
	}
	res, err := b.srv.Store().Submit(context.Background(), p)
	require.NoError(t, err)
	return res.ID
}

// createQueue makes a queue.
func (b *bundle) createQueue(t *testing.T, name string) {
	t.Helper()
	_, err := b.srv.Store().CreateQueue(context.Background(), queue.CreateQueueParams{Name: name, MaxRetries: 3, Actor: "test"})
	require.NoError(t, err)
}

// noRedirects is a client that reports redirects instead of following them.
func noRedirects(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// response is an answer, read.
type response struct {
	code     int
	body     string
	header   http.Header
	location string
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{code: resp.StatusCode, body: string(body), header: resp.Header, location: resp.Header.Get("Location")}
}

// bearer sends a request with an Authorization header (key "" sends none).
func (b *bundle) bearer(t *testing.T, key, method, path string, form url.Values) response {
	t.Helper()
	req := newRequest(t, method, b.url(path), form)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return do(t, noRedirects(nil), req)
}

func newRequest(t *testing.T, method, u string, form url.Values) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// browser is a signed-in session: a cookie jar and the session's CSRF token.
type browser struct {
	b      *bundle
	client *http.Client
	csrf   string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with key through the form and returns the session.
func (b *bundle) signIn(t *testing.T, key string) *browser {
	t.Helper()
	br := &browser{b: b, client: noRedirects(newJar(t))}
	resp := br.post(t, "login", url.Values{"key": {key}, "next": {b.url("jobs")}})
	require.Equal(t, http.StatusSeeOther, resp.code, "sign-in: %s", resp.body)
	page := br.get(t, "jobs")
	require.Equal(t, http.StatusOK, page.code, page.body)
	m := csrfField.FindStringSubmatch(page.body)
	require.NotNil(t, m, "the page carries a CSRF token")
	br.csrf = m[1]
	return br
}

func newJar(t *testing.T) http.CookieJar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return jar
}

func (br *browser) get(t *testing.T, path string) response {
	t.Helper()
	return do(t, br.client, newRequest(t, http.MethodGet, br.b.url(path), nil))
}

// post sends a form as the browser would from the console's own page.
func (br *browser) post(t *testing.T, path string, form url.Values, headers ...string) response {
	t.Helper()
	req := newRequest(t, http.MethodPost, br.b.url(path), form)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return do(t, br.client, req)
}

// form is a form with the session's CSRF token and the given fields ("k", "v", ...).
func (br *browser) form(kv ...string) url.Values {
	v := url.Values{"csrf": {br.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
