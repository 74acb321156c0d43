package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
