package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/buildinfo"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"login", "error", "overview", "jobs", "job", "queues", "workers", "confirm", "bulk",
	"schedules", "workflows", "workflow"}

// view is what every page's template gets.
type view struct {
	Title string
	// Nav is the navigation entry to highlight.
	Nav string
	// Live pages refresh their main section every few seconds (console.js) unless paused.
	Live  bool
	P     *jqgrpc.Principal
	CSRF  string
	Flash string
	Error string
	Code  int
	// Next is where the sign-in form leads.
	Next string
	Data any
}

// actions name what a template may offer, by the gRPC method whose rule decides.
var actions = map[string]string{
	"overview":     jqv1.AdminService_GetSystemStatus_FullMethodName,
	"jobs":         jqv1.JobService_ListJobs_FullMethodName,
	"queues":       jqv1.AdminService_ListQueues_FullMethodName,
	"workers":      jqv1.AdminService_ListWorkers_FullMethodName,
	"retry":        jqv1.JobService_RetryJob_FullMethodName,
	"cancel":       jqv1.JobService_CancelJob_FullMethodName,
	"deleteQueue":  jqv1.AdminService_DeleteQueue_FullMethodName,
	"pauseQueue":   jqv1.AdminService_PauseQueues_FullMethodName,
	"resumeQueue":  jqv1.AdminService_ResumeQueues_FullMethodName,
	"updateQueue":  jqv1.AdminService_UpdateQueue_FullMethodName,
	"schedules":    jqv1.AdminService_ListSchedules_FullMethodName,
	"pauseSched":   jqv1.AdminService_PauseSchedule_FullMethodName,
	"resumeSched":  jqv1.AdminService_ResumeSchedule_FullMethodName,
	"triggerSched": jqv1.AdminService_TriggerSchedule_FullMethodName,
	"deleteSched":  jqv1.AdminService_DeleteSchedule_FullMethodName,
	"workflows":    jqv1.JobService_GetWorkflow_FullMethodName,
	"drain":        jqv1.AdminService_DrainWorker_FullMethodName,
	"shutdown":     jqv1.AdminService_ShutdownWorker_FullMethodName,
}

// Can reports whether the caller may see or do action (a key of actions): templates show
// only what the server would allow.
func (v *view) Can(action string) bool {
	m, ok := actions[action]
	if !ok {
		panic("console: unknown action " + action) // a template typo; tests render every page
	}
	return v.P != nil && v.P.Allows(m)
}

// fill sets what every page of a signed-in caller shows.
func (c *Console) fill(v *view, r *request) {
	v.P = r.p
	if r.sess != nil {
		v.CSRF = r.sess.csrf
		v.Flash = c.sessions.takeFlash(r.sess)
	}
}

// show renders a page for a signed-in caller.
func (c *Console) show(w http.ResponseWriter, r *request, name string, v *view) error {
	c.fill(v, r)
	c.render(w, r.Request, http.StatusOK, name, v)
	return nil
}

type pages struct {
	t map[string]*template.Template
	// assets are the static files by name, with their content hash (for cache busting).
	assets map[string]asset
}

type asset struct {
	body []byte
	hash string
}

// parsePages parses every page with the layout, and reads the static files.
func parsePages(prefix string) (*pages, error) {
	p := &pages{t: map[string]*template.Template{}, assets: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		p.assets[path.Base(name)] = asset{body: body, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	funcs := templateFuncs(prefix, p.assets)
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

// render writes a page; it is rendered whole first, so that a template error is a clean 500.
func (c *Console) render(w http.ResponseWriter, hr *http.Request, code int, name string, v *view) {
	var buf bytes.Buffer
	if err := c.pages.t[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.logger.ErrorContext(hr.Context(), "console template failed", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if hr.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// serveStatic serves an embedded asset. Pages link them with ?v=<hash>, so they may be cached
// for good.
func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, ok := c.pages.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

func templateFuncs(prefix string, assets map[string]asset) template.FuncMap {
	return template.FuncMap{
		"url": func(p string) string { return prefix + p },
		"static": func(name string) string {
			return prefix + "/static/" + name + "?v=" + assets[name].hash
		},
		"version":     func() string { return buildinfo.Version },
		"ts":          formatTime,
		"ago":         ago,
		"dur":         formatDuration,
		"count":       countAny,
		"statusClass": statusClass,
		"lower":       strings.ToLower,
		"short":       func(id string) string { return shortID(id) },
		"join":        strings.Join,
		"has":         slices.Contains[[]string],
		"add":         func(a, b int) int { return a + b },
		"sub":         func(a, b time.Time) time.Duration { return a.Sub(b) },
		"seq": func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		},
		// dtlocal is a time as a datetime-local input's value (the page says UTC).
		"dtlocal": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02T15:04")
		},
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"int":      func(n int32) int { return int(n) },
		"pct":      formatPercent,
		"limits":   limitsText,
		"shortdur": shortDuration,
	}
}

// statusClass is the CSS class of a status badge. Statuses the console does not know yet get
// the generic badge: the list comes from the database, not from this code.
func statusClass(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return "status status-" + b.String()
}

// shortID is the last 8 characters of an id: job ids begin with their time (uuid_v7), so
// their ends tell jobs apart.
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + formatDuration(-d)
	}
	return formatDuration(d) + " ago"
}

// formatDuration is a duration in the two largest units that matter ("3m 20s", "2h 5m").
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// countAny is formatCount for templates, which hold ints of every width.
func countAny(v any) string {
	switch n := v.(type) {
	case int:
		return formatCount(int64(n))
	case int32:
		return formatCount(int64(n))
	case int64:
		return formatCount(n)
	}
	return fmt.Sprint(v)
}

// formatCount writes n with thousands separators.
func formatCount(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatPercent is a percentage with at most one decimal ("42.5", "100").
func formatPercent(p float64) string {
	return strconv.FormatFloat(math.Round(p*10)/10, 'f', -1, 64)
}
