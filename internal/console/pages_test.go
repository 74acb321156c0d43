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
	"github.com/jqhq/jq/internal/config"
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

// TestSchedules: the schedules page lists each schedule with its timing and state; an admin
// pauses, resumes, fires (after a confirmation, landing on the new job) and deletes one, each
// audited; a reader sees the list without controls and is refused.
func TestSchedules(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.Schedules = []config.ScheduleConfig{{Name: "from-config", Cron: "@hourly", Payload: map[string]any{"kind": "tick"}}}
	})
	ctx := context.Background()
	store := b.srv.Store()
	b.createQueue(t, "parked")
	_, err := store.CreateSchedule(ctx, queue.ScheduleParams{Name: "nightly.report", Cron: "0 3 * * *", TimeZone: "Europe/Paris",
		Queue: "parked", Payload: json.RawMessage(`{"kind": "report"}`), Overlap: "skip", Actor: "test"})
	require.NoError(t, err)
	schedule := func(name string) *queue.Schedule {
		t.Helper()
		all, err := store.ListSchedules(ctx)
		require.NoError(t, err)
		for _, s := range all {
			if s.Name == name {
				return s
			}
		}
		return nil
	}
	require.Eventually(t, func() bool { s := schedule("from-config"); return s != nil && s.FromConfig },
		10*time.Second, 20*time.Millisecond, "the leader writes the configured schedule")
	admin := b.signIn(t, b.keys[apikey.RoleAdmin])

	page := admin.get(t, "schedules")
	require.Equal(t, http.StatusOK, page.code, page.body)
	for _, want := range []string{"nightly.report", "<code>0 3 * * *</code>", "Europe/Paris", "skip · none", `action="/schedules/nightly.report/pause"`,
		`action="/schedules/nightly.report/trigger"`, `action="/schedules/nightly.report/delete"`, "from-config <span class=\"dim\""} {
		require.Contains(t, page.body, want)
	}
	require.NotContains(t, page.body, `action="/schedules/from-config/delete"`, "a schedule of the configuration is changed there")

	require.Equal(t, http.StatusSeeOther, admin.post(t, "schedules/nightly.report/pause", admin.form()).code)
	require.True(t, schedule("nightly.report").Paused)
	page = admin.get(t, "schedules")
	require.Contains(t, page.body, "Schedule nightly.report paused")
	require.Contains(t, page.body, `action="/schedules/nightly.report/resume"`)
	require.Equal(t, http.StatusSeeOther, admin.post(t, "schedules/nightly.report/resume", admin.form()).code)
	require.False(t, schedule("nightly.report").Paused)

	resp := admin.post(t, "schedules/nightly.report/trigger", admin.form())
	require.Equal(t, http.StatusOK, resp.code)
	require.Contains(t, resp.body, "Fire schedule nightly.report now?")
	require.True(t, schedule("nightly.report").LastJobID == uuid.Nil, "nothing fired before the confirmation")
	resp = admin.post(t, "schedules/nightly.report/trigger", admin.form("confirm", "yes"))
	require.Equal(t, http.StatusSeeOther, resp.code, resp.body)
	fired := schedule("nightly.report").LastJobID
	require.NotEqual(t, uuid.Nil, fired)
	require.Equal(t, "/jobs/"+fired.String(), resp.location, "it lands on the new job")
	job := admin.get(t, "jobs/"+fired.String())
	require.Contains(t, job.body, "Schedule nightly.report fired")
	require.Contains(t, job.body, "report")

	resp = admin.post(t, "schedules/from-config/delete", admin.form("confirm", "yes"))
	require.Equal(t, http.StatusConflict, resp.code, "jq refuses, and the console says why")
	resp = admin.post(t, "schedules/nightly.report/delete", admin.form())
	require.Equal(t, http.StatusOK, resp.code)
	require.Contains(t, resp.body, "Delete schedule nightly.report?")
	require.NotNil(t, schedule("nightly.report"))
	require.Equal(t, http.StatusSeeOther, admin.post(t, "schedules/nightly.report/delete", admin.form("confirm", "yes")).code)
	require.Nil(t, schedule("nightly.report"))

	entries, err := store.ListAudit(ctx, queue.ListAuditParams{Limit: 20})
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range entries {
		got[e.Action+" "+e.Target] = e.Actor
	}
	for _, action := range []string{"schedule.pause", "schedule.resume", "schedule.trigger", "schedule.delete"} {
		require.True(t, strings.HasPrefix(got[action+" nightly.report"], "test-admin-"), "%s audited as the key, got %v", action, got)
	}

	reader := b.signIn(t, b.keys[apikey.RoleReader])
	page = reader.get(t, "schedules")
	require.Equal(t, http.StatusOK, page.code)
	require.Contains(t, page.body, "from-config")
	require.NotContains(t, page.body, "data-action=")
	for _, action := range []string{"pause", "resume", "trigger", "delete"} {
		require.Equal(t, http.StatusForbidden, reader.post(t, "schedules/from-config/"+action, reader.form("confirm", "yes")).code, action)
	}
}

// TestWorkflows: the workflows list counts each workflow's jobs by state, newest first with a
// cursor; a workflow's page shows its nodes by stage with their dependencies and jobs; a key
// limited to other queues sees neither.
func TestWorkflows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	store := b.srv.Store()
	b.createQueue(t, "parked")
	b.createQueue(t, "other")
	submit := func(name, q string) (uuid.UUID, []queue.WorkflowJobRef) {
		t.Helper()
		id, refs, err := store.SubmitWorkflow(ctx, name, []queue.WorkflowNode{
			{Name: "extract", Queue: q, Payload: json.RawMessage(`{}`)},
			{Name: "transform", Queue: q, Payload: json.RawMessage(`{}`), DependsOn: []string{"extract"}},
			{Name: "audit", Queue: q, Payload: json.RawMessage(`{}`), DependsOn: []string{"extract"}},
			{Name: "load", Queue: q, Payload: json.RawMessage(`{}`), DependsOn: []string{"transform", "audit"}},
		}, "test")
		require.NoError(t, err)
		return id, refs
	}
	older, _ := submit("etl-older", "parked")
	wf, refs := submit("etl <nightly>", "parked")
	_, err := store.Cancel(ctx, refs[0].JobID, "test") // extract cancelled: its dependents are cancelled too
	require.NoError(t, err)
	elsewhere, _ := submit("etl-elsewhere", "other")

	reader := b.keys[apikey.RoleReader]
	list := b.bearer(t, reader, "GET", "workflows", nil)
	require.Equal(t, http.StatusOK, list.code, list.body)
	iNew, iOld := strings.Index(list.body, wf.String()), strings.Index(list.body, older.String())
	require.True(t, iNew > 0 && iOld > iNew, "newest first")
	require.Contains(t, list.body, "etl &lt;nightly&gt;")
	page := b.bearer(t, reader, "GET", "workflows?before="+wf.String(), nil)
	require.Contains(t, page.body, older.String())
	require.NotContains(t, page.body, `/workflows/`+wf.String()+`"`, "the cursor pages on")
	resp := b.bearer(t, reader, "GET", "workflows?id=+"+wf.String()+"+", nil)
	require.Equal(t, http.StatusSeeOther, resp.code)
	require.Equal(t, "/workflows/"+wf.String(), resp.location)

	page = b.bearer(t, reader, "GET", "workflows/"+wf.String(), nil)
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, "Workflow etl &lt;nightly&gt;")
	for _, want := range []string{
		`<tr data-node="extract">` + "\n" + `      <td class="num">0</td>`,
		`<tr data-node="load">` + "\n" + `      <td class="num">2</td>`,
		"<td>transform, audit</td>", // load depends on both
		`<a href="/jobs/` + refs[3].JobID.String() + `">`,
	} {
		require.Contains(t, page.body, want)
	}
	j, err := store.GetJob(ctx, refs[3].JobID)
	require.NoError(t, err)
	require.Contains(t, page.body, `<span class="status status-`+strings.ToLower(strings.ReplaceAll(string(j.Status), "_", "-"))+`">`)

	// A key limited to queue other sees only its workflow, and not this one.
	scoped := b.srv.Key(t, apikey.RoleReader, "other")
	list = b.bearer(t, scoped, "GET", "workflows", nil)
	require.Equal(t, http.StatusOK, list.code, list.body)
	require.Contains(t, list.body, elsewhere.String())
	require.NotContains(t, list.body, wf.String())
	require.Equal(t, http.StatusForbidden, b.bearer(t, scoped, "GET", "workflows/"+wf.String(), nil).code)

	for path, want := range map[string]int{
		"workflows/not-a-uuid":          http.StatusBadRequest,
		"workflows?before=x":            http.StatusBadRequest,
		"workflows?id=nope":             http.StatusBadRequest,
		"workflows/" + uuid.NewString(): http.StatusNotFound,
	} {
		require.Equal(t, want, b.bearer(t, reader, "GET", path, nil).code, path)
	}
}
