package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/queue"
)

// running submits a job on q (a queue no worker serves), claims and starts it for a fresh
// worker, and returns the report that fences its attempt.
func (b *bundle) running(t *testing.T, q, payload string) queue.Report {
	t.Helper()
	ctx := context.Background()
	store := b.srv.Store()
	id := b.submit(t, q, payload)
	w, err := store.RegisterWorker(ctx, queue.RegisterWorkerParams{ID: uuid.New(), Hostname: "h", Concurrency: 1, Queues: []string{q}, Incarnation: "i"})
	require.NoError(t, err)
	jobs, err := store.Claim(ctx, []string{q}, 1, w.ID)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, id, jobs[0].ID)
	_, err = store.Start(ctx, []uuid.UUID{id}, w.ID)
	require.NoError(t, err)
	j, err := store.GetJob(ctx, id)
	require.NoError(t, err)
	return queue.Report{JobID: id, WorkerID: w.ID, Attempt: j.Attempt}
}

// TestJob_Progress: the job page shows what the running attempt reported of its progress
// (percent, message, when), and says so when it reported none.
func TestJob_Progress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "work")
	reader := b.keys[apikey.RoleReader]

	rep := b.running(t, "work", `{"kind": "copy"}`)
	page := b.bearer(t, reader, "GET", "jobs/"+rep.JobID.String(), nil)
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, "none reported")
	require.NotContains(t, page.body, "<progress")

	_, err := b.srv.Store().ReportProgress(context.Background(), rep, 42.46, "copying <files> 3/7")
	require.NoError(t, err)
	page = b.bearer(t, reader, "GET", "jobs/"+rep.JobID.String(), nil)
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, `<progress max="100" value="42.5"`)
	require.Contains(t, page.body, "<strong>42.5 %</strong>")
	require.Contains(t, page.body, "copying &lt;files&gt; 3/7", "the message, escaped")
	require.Contains(t, page.body, "reported <time datetime=")
	require.NotContains(t, page.body, "none reported")
}

// TestJob_WorkflowAndDependencies: a job of a workflow links to it, and lists the jobs it
// depends on; a job of none shows neither.
func TestJob_WorkflowAndDependencies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "parked")
	wf, refs, err := b.srv.Store().SubmitWorkflow(context.Background(), "nightly-etl", []queue.WorkflowNode{
		{Name: "extract", Queue: "parked", Payload: json.RawMessage(`{"step": 1}`)},
		{Name: "load", Queue: "parked", Payload: json.RawMessage(`{"step": 2}`), DependsOn: []string{"extract"}},
	}, "test")
	require.NoError(t, err)
	require.Len(t, refs, 2)
	reader := b.keys[apikey.RoleReader]

	page := b.bearer(t, reader, "GET", "jobs/"+refs[1].JobID.String(), nil)
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, `href="/workflows/`+wf.String()+`" id="workflow-link"`)
	require.Contains(t, page.body, "node <code>load</code>")
	require.Contains(t, page.body, `<a href="/jobs/`+refs[0].JobID.String()+`">`, "it links the job it depends on")

	plain := b.submit(t, "parked", `{}`)
	page = b.bearer(t, reader, "GET", "jobs/"+plain.String(), nil)
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.NotContains(t, page.body, "workflow-link")
	require.False(t, strings.Contains(page.body, "Depends on"))
}

// TestQueues_FlowControl: an admin pauses and resumes a queue, all queues at once (after a
// confirmation), and edits its limits; the queues page shows the state, each action is audited
// under the key's name, and a reader sees no control and is refused.
func TestQueues_FlowControl(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	store := b.srv.Store()
	b.createQueue(t, "work")
	admin := b.signIn(t, b.keys[apikey.RoleAdmin])
	getQueue := func(name string) *queue.Queue {
		t.Helper()
		qs, err := store.ListQueues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == name {
				return q
			}
		}
		t.Fatalf("no queue %s", name)
		return nil
	}

	page := admin.get(t, "queues")
	require.Contains(t, page.body, `action="/queues/work/pause"`)
	require.NotContains(t, page.body, `data-paused`)
	resp := admin.post(t, "queues/work/pause", admin.form())
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.True(t, getQueue("work").Paused)
	page = admin.get(t, "queues")
	require.Contains(t, page.body, "Queue work paused")
	require.Contains(t, page.body, `data-queue="work"><span class="paused-badge" data-paused>paused</span>`)
	require.Contains(t, page.body, `action="/queues/work/resume"`)
	require.Contains(t, page.body, `id="resume-all"`)
	resp = admin.post(t, "queues/work/pause", admin.form())
	require.Equal(t, http.StatusSeeOther, resp.code)
	require.Contains(t, admin.get(t, "queues").body, "Queue work was already paused.")
	resp = admin.post(t, "queues/work/resume", admin.form())
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.False(t, getQueue("work").Paused)

	// Limits: set all three, then remove one with 0 and leave the others as they are.
	resp = admin.post(t, "queues/work/limits", admin.form("max_running", "5", "rate_limit", "10", "rate_period", "1m", "max_running_per_key", "2"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	q := getQueue("work")
	require.Equal(t, []any{5, 10, time.Minute, 2}, []any{q.MaxRunning, q.RateLimit, q.RatePeriod, q.MaxRunningPerKey})
	page = admin.get(t, "queues")
	require.Contains(t, page.body, "at most 5 running, at most 10 starts per 1m, at most 2 running per key")
	require.Contains(t, page.body, `name="rate_period" value="1m"`, "the form shows the current limits")
	resp = admin.post(t, "queues/work/limits", admin.form("max_running", "0"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	q = getQueue("work")
	require.Equal(t, []any{0, 10, time.Minute, 2}, []any{q.MaxRunning, q.RateLimit, q.RatePeriod, q.MaxRunningPerKey})

	// Every queue at once: a confirmation first.
	resp = admin.post(t, "queues/pause-all", admin.form())
	require.Equal(t, http.StatusOK, resp.code)
	require.Contains(t, resp.body, "Pause every queue?")
	require.False(t, getQueue("default").Paused, "nothing before the confirmation")
	resp = admin.post(t, "queues/pause-all", admin.form("confirm", "yes"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.True(t, getQueue("default").Paused)
	require.True(t, getQueue("work").Paused)
	require.Contains(t, admin.get(t, "queues").body, "2 queues paused.")
	resp = admin.post(t, "queues/resume-all", admin.form("confirm", "yes"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	require.False(t, getQueue("default").Paused)
	require.False(t, getQueue("work").Paused)

	entries, err := store.ListAudit(ctx, queue.ListAuditParams{Limit: 20})
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range entries {
		got[e.Action+" "+e.Target] = e.Actor
	}
	for _, action := range []string{"queue.pause work", "queue.resume work", "queue.limits work", "queue.pause default", "queue.resume default"} {
		require.True(t, strings.HasPrefix(got[action], "test-admin-"), "%s audited as the key, got %v", action, got)
	}

	// A reader sees the state but no control, and is refused by the server.
	reader := b.signIn(t, b.keys[apikey.RoleReader])
	page = reader.get(t, "queues")
	require.Equal(t, http.StatusOK, page.code)
	require.Contains(t, page.body, "at most 10 starts per 1m")
	for _, control := range []string{`data-action=`, "Limits…", "pause-all"} {
		require.NotContains(t, page.body, control)
	}
	for _, path := range []string{"queues/work/pause", "queues/work/resume", "queues/pause-all", "queues/resume-all"} {
		require.Equal(t, http.StatusForbidden, reader.post(t, path, reader.form("confirm", "yes")).code, path)
	}
	require.Equal(t, http.StatusForbidden, reader.post(t, "queues/work/limits", reader.form("max_running", "1")).code)
	require.Equal(t, 10, getQueue("work").RateLimit, "the reader changed nothing")
}
