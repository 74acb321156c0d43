package console

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/apikey"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// request is an authenticated request.
type request struct {
	*http.Request
	p *jqgrpc.Principal
	// sess is the caller's sign-in; nil for a request with an Authorization header.
	sess   *session
	sessID string
}

// handler serves an authenticated request; an error becomes an error page.
type handler func(w http.ResponseWriter, r *request) error

// maxFormBytes bounds a form (a bulk action on a page of job ids is a few kilobytes).
const maxFormBytes = 1 << 20

// anonymous is the caller in auth mode none, as for gRPC.
var anonymous = &jqgrpc.Principal{Name: "anonymous", Role: apikey.RoleAdmin}

// crossOrigin refuses state-changing requests a browser sends on behalf of another site
// (Sec-Fetch-Site, else Origin against Host), before the per-session token is even looked at.
var crossOrigin = http.NewCrossOriginProtection()

// page wraps h: it authenticates the caller, checks the CSRF token of a POST, then requires
// that the caller's role may call method (the gRPC method the page or action corresponds to;
// "" for pages every signed-in role may see, which check what they show themselves).
func (c *Console) page(method string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		r, err := c.authenticate(w, hr)
		if err != nil {
			c.fail(w, hr, nil, err)
			return
		}
		if r == nil {
			return // sent to the sign-in page
		}
		if hr.Method == http.MethodPost {
			hr.Body = http.MaxBytesReader(w, hr.Body, maxFormBytes)
			if err := c.checkCSRF(r); err != nil {
				c.logger.WarnContext(hr.Context(), "console request refused", "reason", err.Error(), "actor", r.p.Name, "path", hr.URL.Path)
				c.fail(w, hr, r, err)
				return
			}
		}
		if method != "" && !r.p.Allows(method) {
			c.fail(w, hr, r, roleRefused(r.p, method))
			return
		}
		if err := h(w, r); err != nil {
			c.fail(w, hr, r, err)
		}
	})
}

// roleRefused is the answer to a caller whose role may not call method, worded as gRPC's.
func roleRefused(p *jqgrpc.Principal, method string) error {
	return &httpError{code: http.StatusForbidden, msg: p.Name + " has role " + string(p.Role) + ", which may not call " + strings.TrimPrefix(method, "/jq.v1.")}
}

// authenticate finds the caller: auth mode none, an Authorization header, or a session
// cookie. It returns nil (and has answered) when it sent the caller to sign in.
func (c *Console) authenticate(w http.ResponseWriter, hr *http.Request) (*request, error) {
	ctx := hr.Context()
	if c.deps.Auth.Mode() == jqgrpc.AuthNone {
		id := cookieValue(hr)
		sess := c.sessions.get(id)
		if sess == nil {
			id, sess = c.sessions.create("")
			c.setCookie(w, hr, id)
		}
		return &request{Request: hr, p: anonymous, sess: sess, sessID: id}, nil
	}
	if h := hr.Header.Get("Authorization"); h != "" {
		key, err := jqgrpc.ParseBearer(h)
		if err != nil {
			return nil, &httpError{code: http.StatusUnauthorized, msg: err.Error()}
		}
		p, err := c.deps.Auth.AuthenticateKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return &request{Request: hr, p: p}, nil
	}
	id := cookieValue(hr)
	sess := c.sessions.get(id)
	if sess == nil {
		return nil, c.toSignIn(w, hr, "")
	}
	p, err := c.deps.Auth.AuthenticateKey(ctx, sess.key)
	if status.Code(err) == codes.Unauthenticated {
		// Revoked or expired since the sign-in: the session ends with the key.
		c.sessions.delete(id)
		c.clearCookie(w, hr)
		return nil, c.toSignIn(w, hr, "ended")
	}
	if err != nil {
		return nil, err
	}
	return &request{Request: hr, p: p, sess: sess, sessID: id}, nil
}

// toSignIn sends a caller without a session to the sign-in page (a GET, back here after) or
// answers 401 (anything else).
func (c *Console) toSignIn(w http.ResponseWriter, hr *http.Request, reason string) error {
	if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
		return &httpError{code: http.StatusUnauthorized, msg: "sign in first (or send Authorization: Bearer KEY)"}
	}
	// A link followed from another site (a chat message, an alert) arrives without the
	// SameSite=Strict cookie even when the browser holds one: reload once from this origin,
	// which sends it, before concluding that the caller is signed out.
	if site := hr.Header.Get("Sec-Fetch-Site"); (site == "cross-site" || site == "same-site") && reason == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`<!doctype html><meta http-equiv="refresh" content="0"><title>jq console</title>`))
		return nil
	}
	q := url.Values{"next": {hr.URL.RequestURI()}}
	if reason != "" {
		q.Set("reason", reason)
	}
	http.Redirect(w, hr, c.url("/login?"+q.Encode()), http.StatusSeeOther)
	return nil
}

// checkCSRF refuses a state-changing request of a session that a browser may have sent on
// another site's behalf: a cross-origin one, or one without the session's token. Requests
// with an Authorization header carry no ambient credential, so they need neither.
func (c *Console) checkCSRF(r *request) error {
	if r.sess == nil {
		return nil
	}
	if err := crossOrigin.Check(r.Request); err != nil {
		return &httpError{code: http.StatusForbidden, msg: "cross-origin request refused: " + err.Error()}
	}
	token := r.PostFormValue("csrf")
	if token == "" {
		token = r.Header.Get("X-CSRF-Token")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(r.sess.csrf)) != 1 {
		return &httpError{code: http.StatusForbidden, msg: "the form's CSRF token is missing or stale: reload the page and try again"}
	}
	return nil
}

// loginPage shows the sign-in form.
func (c *Console) loginPage(w http.ResponseWriter, hr *http.Request) {
	next := c.safeNext(hr.URL.Query().Get("next"))
	if c.deps.Auth.Mode() == jqgrpc.AuthNone || c.sessions.get(cookieValue(hr)) != nil {
		http.Redirect(w, hr, next, http.StatusSeeOther)
		return
	}
	v := &view{Title: "Sign in", Next: next}
	if hr.URL.Query().Get("reason") == "ended" {
		v.Error = "Your session ended: its API key was revoked or has expired. Sign in with a valid key."
	}
	c.render(w, hr, http.StatusOK, "login", v)
}

// login signs a caller in with an API key and starts a session.
func (c *Console) login(w http.ResponseWriter, hr *http.Request) {
	hr.Body = http.MaxBytesReader(w, hr.Body, maxFormBytes)
	if err := crossOrigin.Check(hr); err != nil {
		c.fail(w, hr, nil, &httpError{code: http.StatusForbidden, msg: "cross-origin sign-in refused: " + err.Error()})
		return
	}
	next := c.safeNext(hr.PostFormValue("next"))
	if c.deps.Auth.Mode() == jqgrpc.AuthNone {
		http.Redirect(w, hr, next, http.StatusSeeOther)
		return
	}
	key := strings.TrimSpace(hr.PostFormValue("key"))
	key = strings.TrimSpace(strings.TrimPrefix(key, "Bearer "))
	v := &view{Title: "Sign in", Next: next}
	if key == "" {
		v.Error = "Paste an API key (jqk_…)."
		c.render(w, hr, http.StatusBadRequest, "login", v)
		return
	}
	p, err := c.deps.Auth.AuthenticateKey(hr.Context(), key)
	if err != nil {
		code, msg := httpStatus(err)
		c.logger.WarnContext(hr.Context(), "console sign-in refused", "reason", msg, "peer", hr.RemoteAddr)
		v.Error = msg
		c.render(w, hr, code, "login", v)
		return
	}
	if !canBrowse(p) {
		v.Error = p.Name + " has role " + string(p.Role) + ", which has nothing to see in the console: sign in with an admin, submitter or reader key."
		c.render(w, hr, http.StatusForbidden, "login", v)
		return
	}
	if old := cookieValue(hr); old != "" {
		c.sessions.delete(old) // a new id at each sign-in: no session fixation
	}
	id, _ := c.sessions.create(key)
	c.setCookie(w, hr, id)
	c.logger.InfoContext(hr.Context(), "console sign-in", "actor", p.Name, "role", string(p.Role), "peer", hr.RemoteAddr)
	http.Redirect(w, hr, next, http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *request) error {
	if r.sess != nil {
		c.sessions.delete(r.sessID)
		c.clearCookie(w, r.Request)
	}
	to := c.url("/login")
	if c.deps.Auth.Mode() == jqgrpc.AuthNone {
		to = c.url("/")
	}
	http.Redirect(w, r.Request, to, http.StatusSeeOther)
	return nil
}

// canBrowse reports whether the caller may see any page: the worker role may not.
func canBrowse(p *jqgrpc.Principal) bool {
	return p.Allows(jqv1.JobService_ListJobs_FullMethodName) || p.Allows(jqv1.AdminService_ListQueues_FullMethodName)
}

// safeNext is where to go after signing in: a path of the console, never another site.
func (c *Console) safeNext(next string) string {
	home := c.url("/")
	u, err := url.Parse(next)
	if next == "" || err != nil || u.Scheme != "" || u.Host != "" || u.User != nil ||
		strings.HasPrefix(next, "//") || strings.Contains(next, `\`) ||
		!strings.HasPrefix(u.Path, home) || strings.HasPrefix(u.Path, c.url("/login")) {
		return home
	}
	return u.RequestURI()
}

func cookieValue(r *http.Request) string {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return ck.Value
}

// secure reports whether the browser reached the console over TLS, here or at a proxy.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) cookiePath() string {
	if c.prefix == "" {
		return "/"
	}
	return c.prefix
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: c.cookiePath(),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r),
	})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: c.cookiePath(), MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r),
	})
}

// logAction records an operator action with its actor (the services audit it too).
func (c *Console) logAction(r *request, action, target string, err error) {
	attrs := []any{slog.String("actor", r.p.Name), slog.String("action", action), slog.String("target", target)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		c.logger.WarnContext(r.Context(), "console action failed", attrs...)
		return
	}
	c.logger.InfoContext(r.Context(), "console action", attrs...)
}
