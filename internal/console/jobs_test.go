package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/queue"
)

// listed returns the job ids a jobs page lists, in order.
func listed(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`name="id" value="([0-9a-f-]{36})"|href="[^"]*/jobs/([0-9a-f-]{36})" title=`).FindAllStringSubmatch(body, -1) {
		id := m[1] + m[2]
		if len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
		}
	}
	return ids
}

func ids(us ...uuid.UUID) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}

// TestJobs_Filters: each filter of the jobs page narrows the list as it says, and the URL
// alone reproduces it (bookmarks).
func TestJobs_Filters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "mail")
	// A millisecond apart: job ids (and so the list's order) are time-ordered to the millisecond.
	tick := func(*queue.SubmitParams) { time.Sleep(2 * time.Millisecond) }
	a := b.submit(t, "default", `{"kind": "report", "region": "eu"}`, func(p *queue.SubmitParams) { p.Priority = 7 })
	c := b.submit(t, "mail", `{"kind": "send", "to": "ada@example.com"}`, func(p *queue.SubmitParams) { p.IdempotencyKey = "welcome-42" }, tick)
	d := b.submit(t, "default", `{"kind": "report", "region": "us"}`, tick)
	_, err := b.srv.Store().Cancel(context.Background(), d, "test")
	require.NoError(t, err)
	admin := b.keys[apikey.RoleAdmin]
	get := func(q string) []string {
		t.Helper()
		resp := b.bearer(t, admin, "GET", "jobs?"+q, nil)
		require.Equal(t, http.StatusOK, resp.code, resp.body)
		return listed(resp.body)
	}
	require.Equal(t, ids(d, c, a), get(""), "newest first")
	require.Equal(t, ids(a, c, d), get("sort=old"))
	require.Equal(t, ids(c, a), get("status=PENDING"))
	require.Equal(t, ids(d, a), get("status=pending&status=Cancelled&queue=default"), "statuses are case-blind and repeatable")
	require.Equal(t, ids(c), get("queue=mail"))
	require.Equal(t, ids(a), get("priority=7"))
	require.Equal(t, ids(c), get("key=welcome-42"))
	require.Equal(t, ids(d, a), get("q=report"), "text search")
	require.Equal(t, ids(c), get("q=ada%40example"), "text search")
	require.Equal(t, ids(a), get(`q=`+url.QueryEscape(`{"region":"eu"}`)), "JSON containment, whatever the spacing")
	require.Empty(t, get("q=100%25_"), "% and _ are literal")
	now := time.Now().UTC()
	require.Equal(t, ids(d, c, a), get("from="+now.Add(-time.Hour).Format(time.RFC3339)))
	require.Empty(t, get("from="+now.Add(time.Hour).Format("2006-01-02T15:04")))
	require.Empty(t, get("to="+now.Add(-time.Hour).Format("2006-01-02T15:04")))
	require.Equal(t, ids(d, c, a), get("to="+now.Add(time.Hour).Format("2006-01-02T15:04")))

	// The page keeps the filter in its form.
	resp := b.bearer(t, admin, "GET", "jobs?queue=mail&priority=3&q=send&sort=old", nil)
	for _, s := range []string{`name="queue" value="mail"`, `<option value="3" selected>`, `name="q" value="send"`, `<option value="old" selected>`} {
		require.Contains(t, resp.body, s)
	}
}

// TestJobs_Pages: cursor pages walk the whole list both ways without repeating or losing a job.
func TestJobs_Pages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var all []string
	for i := range 7 {
		all = append(all, b.submit(t, "default", fmt.Sprintf(`{"n": %d}`, i)).String())
	}
	// Newest first is job id order: time-ordered to the millisecond, and by the random rest of
	// the id within one.
	slices.Sort(all)
	slices.Reverse(all)
	admin := b.keys[apikey.RoleAdmin]
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`)
	prev := regexp.MustCompile(`href="([^"]+)" rel="prev"`)
	var seen []string
	path := "jobs?limit=3"
	var pages []string
	for {
		resp := b.bearer(t, admin, "GET", path, nil)
		require.Equal(t, http.StatusOK, resp.code)
		pages = append(pages, path)
		seen = append(seen, listed(resp.body)...)
		m := next.FindStringSubmatch(resp.body)
		if m == nil {
			break
		}
		path = strings.TrimPrefix(htmlUnescape(m[1]), "/")
		require.Less(t, len(pages), 5, "the pages end")
	}
	require.Equal(t, all, seen)
	require.Len(t, pages, 3)
	// And back from the last page.
	resp := b.bearer(t, admin, "GET", pages[2], nil)
	m := prev.FindStringSubmatch(resp.body)
	require.NotNil(t, m)
	back := b.bearer(t, admin, "GET", strings.TrimPrefix(htmlUnescape(m[1]), "/"), nil)
	require.Equal(t, all[3:6], listed(back.body))
	require.Contains(t, back.body, `rel="prev"`)
	require.Contains(t, back.body, `rel="next"`)
}

func htmlUnescape(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

// TestJobs_Scope: a key limited to queues sees and acts on their jobs only; a reader or a
// submitter never sees a worker id (half of a running job's fencing token), an admin does.
func TestJobs_Scope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	store := b.srv.Store()
	b.createQueue(t, "mine")
	b.createQueue(t, "theirs")
	mine := b.submit(t, "mine", `{}`)
	theirs := b.submit(t, "theirs", `{}`)
	scoped := b.srv.Key(t, apikey.RoleSubmitter, "mine")

	resp := b.bearer(t, scoped, "GET", "jobs", nil)
	require.Equal(t, http.StatusOK, resp.code, resp.body)
	require.Equal(t, ids(mine), listed(resp.body))
	resp = b.bearer(t, scoped, "GET", "jobs?queue=theirs", nil)
	require.Equal(t, http.StatusForbidden, resp.code)
	resp = b.bearer(t, scoped, "GET", "jobs/"+theirs.String(), nil)
	require.Equal(t, http.StatusForbidden, resp.code)
	resp = b.bearer(t, scoped, "POST", "jobs/"+theirs.String()+"/cancel", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusForbidden, resp.code)
	resp = b.bearer(t, scoped, "POST", "jobs/bulk", url.Values{"action": {"cancel"}, "target": {"matching"}, "confirm": {"yes"}})
	require.Equal(t, http.StatusOK, resp.code, resp.body)
	require.Contains(t, resp.body, "1 job cancelled")
	j, err := store.GetJob(ctx, theirs)
	require.NoError(t, err)
	require.Equal(t, queue.StatusPending, j.Status, "a bulk action stays within the key's queues")

	reader := b.srv.Key(t, apikey.RoleReader, "theirs")
	resp = b.bearer(t, reader, "GET", "", nil)
	require.Equal(t, http.StatusOK, resp.code)
	require.Contains(t, resp.body, "Your key sees queues theirs only")
	require.NotContains(t, resp.body, `?queue=mine"`, "the counts show the key's queues only")

	// A job held by a worker: its id shows to admins only.
	worker := uuid.New()
	_, err = store.RegisterWorker(ctx, queue.RegisterWorkerParams{ID: worker, Hostname: "h", Concurrency: 1, Queues: []string{"theirs"}, Incarnation: "i"})
	require.NoError(t, err)
	claimed, err := store.Claim(ctx, []string{"theirs"}, 1, worker)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	short := worker.String()[28:]
	for role, sees := range map[apikey.Role]bool{apikey.RoleAdmin: true, apikey.RoleReader: false, apikey.RoleSubmitter: false} {
		for _, p := range []string{"jobs", "jobs/" + theirs.String(), "workers"} {
			resp := b.bearer(t, b.keys[role], "GET", p, nil)
			if resp.code == http.StatusForbidden {
				continue // submitters may not list workers
			}
			require.Equal(t, http.StatusOK, resp.code, resp.body)
			if p == "workers" {
				require.Equal(t, sees, strings.Contains(resp.body, theirs.String()), "%s on /%s: running job shown", role, p)
				continue
			}
			require.Equal(t, sees, strings.Contains(resp.body, short), "%s on /%s: worker id shown", role, p)
		}
	}
}

// TestBulk: bulk actions say how many jobs they touch before they do, act through the same
// calls as gRPC (audited with the caller's name) and report what was refused.
func TestBulk(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	store := b.srv.Store()
	admin := b.signIn(t, b.keys[apikey.RoleAdmin])
	b.createQueue(t, "parked")
	var pending []uuid.UUID
	for range 3 {
		pending = append(pending, b.submit(t, "parked", `{}`))
	}
	other := b.submit(t, "default", `{}`)

	resp := admin.post(t, "jobs/bulk", admin.form("action", "cancel", "target", "matching", "queue", "parked"))
	require.Equal(t, http.StatusOK, resp.code, resp.body)
	require.Contains(t, resp.body, "Cancel the 3 matching jobs?")
	require.Contains(t, resp.body, "PENDING, WAITING, ASSIGNED or RUNNING")
	resp = admin.post(t, "jobs/bulk", admin.form("action", "cancel", "target", "matching", "queue", "parked", "confirm", "yes"))
	require.Equal(t, http.StatusOK, resp.code, resp.body)
	require.Contains(t, resp.body, "3 jobs cancelled")
	for _, id := range pending {
		events, err := store.JobEvents(ctx, id)
		require.NoError(t, err)
		last := events[len(events)-1]
		require.Equal(t, "CANCELLED", last.Reason)
		require.True(t, strings.HasPrefix(last.Actor, "test-admin-"), "audited as the key: %q", last.Actor)
	}
	j, err := store.GetJob(ctx, other)
	require.NoError(t, err)
	require.Equal(t, queue.StatusPending, j.Status, "outside the filter: untouched")

	resp = admin.post(t, "jobs/bulk", admin.form("action", "cancel", "target", "matching", "queue", "parked"))
	require.Equal(t, http.StatusConflict, resp.code, "nothing left to cancel: %s", resp.body)

	// Selected: two dead-lettered jobs and a pending one; the pending one is refused.
	form := admin.form("action", "retry", "target", "selected", "id", pending[0].String(), "id", pending[1].String(), "id", other.String())
	resp = admin.post(t, "jobs/bulk", form)
	require.Equal(t, http.StatusOK, resp.code)
	require.Contains(t, resp.body, "Retry 3 selected jobs?")
	form.Set("confirm", "yes")
	resp = admin.post(t, "jobs/bulk", form)
	require.Equal(t, http.StatusOK, resp.code, resp.body)
	require.Contains(t, resp.body, "2 jobs retried")
	require.Contains(t, resp.body, "1 refused")
	require.Contains(t, resp.body, "only FAILED, DEAD_LETTERED or CANCELLED jobs can be retried")
	for _, id := range pending[:2] {
		j, err := store.GetJob(ctx, id)
		require.NoError(t, err)
		require.Equal(t, queue.StatusPending, j.Status)
	}
}

// TestActions_Audited: queue and worker actions go through the AdminService and land in the
// audit log under the caller's name; refusals of the SQL functions come back as clear 409s.
func TestActions_Audited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	store := b.srv.Store()
	admin := b.signIn(t, b.keys[apikey.RoleAdmin])
	b.createQueue(t, "old")
	b.createQueue(t, "busy")
	b.submit(t, "busy", `{}`)

	resp := admin.post(t, "queues/old/delete", admin.form())
	require.Equal(t, http.StatusOK, resp.code)
	require.Contains(t, resp.body, "Delete queue old?")
	resp = admin.post(t, "queues/old/delete", admin.form("confirm", "yes"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.Contains(t, admin.get(t, "queues").body, "Queue old deleted.", "the outcome shows on the next page")
	queues, err := store.ListQueues(ctx)
	require.NoError(t, err)
	require.False(t, slices.ContainsFunc(queues, func(q *queue.Queue) bool { return q.Name == "old" }), "queue old is gone")

	resp = admin.post(t, "queues/busy/delete", admin.form("confirm", "yes"))
	require.Equal(t, http.StatusConflict, resp.code)
	require.Contains(t, resp.body, "unfinished jobs")

	worker := uuid.New()
	_, err = store.RegisterWorker(ctx, queue.RegisterWorkerParams{ID: worker, Hostname: "h", Concurrency: 2, Queues: []string{"default"}, Incarnation: "i"})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, admin.post(t, "workers/"+worker.String()+"/drain", admin.form("confirm", "yes")).code)
	w, err := store.GetWorker(ctx, worker)
	require.NoError(t, err)
	require.Equal(t, queue.WorkerDraining, w.Status)
	require.Equal(t, http.StatusSeeOther, admin.post(t, "workers/"+worker.String()+"/shutdown", admin.form("confirm", "yes")).code)
	w, err = store.GetWorker(ctx, worker)
	require.NoError(t, err)
	require.True(t, w.ShutdownRequested)

	entries, err := store.ListAudit(ctx, queue.ListAuditParams{Limit: 10})
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range entries {
		got[e.Action+" "+e.Target] = e.Actor
	}
	for _, action := range []string{"queue.delete old", "worker.drain " + worker.String(), "worker.shutdown " + worker.String()} {
		require.True(t, strings.HasPrefix(got[action], "test-admin-"), "%s audited as the key, got %v", action, got)
	}
}

// TestJobs_Sort: the list sorts by priority and by status, both ways, and its cursor pages
// walk every job once, forward and back, in that order (the cursor holds the sort key).
func TestJobs_Sort(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	type job struct {
		id       string
		priority int
		status   string
	}
	var jobs []job
	for i, p := range []int{3, 7, 3, 9, 0, 7, 3, 5} {
		id := b.submit(t, "default", fmt.Sprintf(`{"n": %d}`, i), func(sp *queue.SubmitParams) { sp.Priority = p })
		status := "PENDING"
		if i%3 == 1 {
			_, err := b.srv.Store().Cancel(ctx, id, "test")
			require.NoError(t, err)
			status = "CANCELLED"
		}
		jobs = append(jobs, job{id.String(), p, status})
	}
	statusRank := map[string]int{"PENDING": 0, "CANCELLED": 1} // their order in jq.job_status
	admin := b.keys[apikey.RoleAdmin]
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`)
	prev := regexp.MustCompile(`href="([^"]+)" rel="prev"`)
	walk := func(sort string) (seen []string, pages []string) {
		t.Helper()
		path := "jobs?limit=3&sort=" + sort
		for {
			resp := b.bearer(t, admin, "GET", path, nil)
			require.Equal(t, http.StatusOK, resp.code, resp.body)
			pages = append(pages, path)
			seen = append(seen, listed(resp.body)...)
			m := next.FindStringSubmatch(resp.body)
			if m == nil {
				return seen, pages
			}
			path = strings.TrimPrefix(htmlUnescape(m[1]), "/")
			require.Less(t, len(pages), 5, "the pages end")
		}
	}
	for sort, less := range map[string]func(a, b job) int{
		"priority":     func(a, b job) int { return cmpOr(b.priority-a.priority, strings.Compare(b.id, a.id)) },
		"priority-low": func(a, b job) int { return cmpOr(a.priority-b.priority, strings.Compare(a.id, b.id)) },
		"status": func(a, b job) int {
			return cmpOr(statusRank[a.status]-statusRank[b.status], strings.Compare(a.id, b.id))
		},
		"status-desc": func(a, b job) int {
			return cmpOr(statusRank[b.status]-statusRank[a.status], strings.Compare(b.id, a.id))
		},
	} {
		t.Run(sort, func(t *testing.T) {
			want := slices.Clone(jobs)
			slices.SortFunc(want, less)
			var wantIDs []string
			for _, j := range want {
				wantIDs = append(wantIDs, j.id)
			}
			seen, pages := walk(sort)
			require.Equal(t, wantIDs, seen, "every job once, in order")
			require.Len(t, pages, 3)
			require.Contains(t, pages[1], "~", "the cursor holds the sort key")
			resp := b.bearer(t, admin, "GET", pages[2], nil)
			m := prev.FindStringSubmatch(resp.body)
			require.NotNil(t, m)
			back := b.bearer(t, admin, "GET", strings.TrimPrefix(htmlUnescape(m[1]), "/"), nil)
			require.Equal(t, wantIDs[3:6], listed(back.body), "and back")
		})
	}
	t.Run("Headers", func(t *testing.T) {
		page := b.bearer(t, admin, "GET", "jobs?sort=priority&queue=default", nil)
		require.Contains(t, page.body, `aria-sort="descending"><a href="/jobs?queue=default&amp;sort=priority-low" data-sort="priority">`,
			"the sorted column's header reverses it, keeping the filter")
		require.Contains(t, page.body, `<a href="/jobs?queue=default&amp;sort=status" data-sort="status">`)
	})
	t.Run("BadCursor", func(t *testing.T) {
		id := jobs[0].id
		for q, want := range map[string]string{
			"sort=priority&after=" + id:           "lacks the job",
			"sort=new&after=7~" + id:              "not a job id",
			"sort=priority&after=11~" + id:        "priority",
			"sort=status&before=NOPE~" + id:       "status",
			"sort=status&after=PENDING~not-an-id": "not a job id",
		} {
			resp := b.bearer(t, admin, "GET", "jobs?"+q, nil)
			require.Equal(t, http.StatusBadRequest, resp.code, q)
			require.Contains(t, resp.body, want, q)
		}
	})
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
