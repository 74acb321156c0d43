package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jqhq/jq/internal/config"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/worker"
)

// TestSchedule_TwoServersFireEverySecondOnce: two servers carry the same configured schedule
// "@every 1s"; after 3 s the leader stops, and the other takes over. Over the 7 s, every
// second from the first fire to the last was fired exactly once: no gap (the handover only
// makes times late, within the grace), no second fire of a time (the database records each
// time once, whichever server fires it). (The issue asks for 10 s; 7 s covers a handover with
// fires on both sides of it and keeps the suite fast.)
func TestSchedule_TwoServersFireEverySecondOnce(t *testing.T) {
	t.Parallel()
	servers := cluster(t, 2, func(c *config.Config) {
		c.Schedules = []config.ScheduleConfig{{Name: "tick", Cron: "@every 1s", Command: []string{"true"}}}
	})
	b := servers[0]
	time.Sleep(3 * time.Second)
	leader := -1
	for i, s := range servers {
		if s.srv.Leading() {
			leader = i
		}
	}
	require.NotEqual(t, -1, leader, "one of them leads")
	firedBefore := b.count(t, `SELECT count(*) FROM jq.schedule_fires WHERE schedule_name = 'tick'`)
	require.GreaterOrEqual(t, firedBefore, 1)
	servers[leader].stop()
	survivor := servers[1-leader]
	require.Eventually(t, survivor.srv.Leading, 5*time.Second, 20*time.Millisecond, "the other server takes over")
	time.Sleep(4 * time.Second)

	rows, err := survivor.srv.Store().Pool().Query(survivor.ctx, `SELECT fire_time, outcome, job_id IS NOT NULL FROM jq.schedule_fires
		WHERE schedule_name = 'tick' ORDER BY fire_time`)
	require.NoError(t, err)
	var times []time.Time
	for rows.Next() {
		var at time.Time
		var outcome string
		var job bool
		require.NoError(t, rows.Scan(&at, &outcome, &job))
		require.Equal(t, "submitted", outcome)
		require.True(t, job)
		times = append(times, at)
	}
	require.NoError(t, rows.Err())
	require.Greater(t, len(times), firedBefore, "fires went on after the handover")
	require.GreaterOrEqual(t, len(times), 5)
	for i := 1; i < len(times); i++ {
		require.Equal(t, time.Second, times[i].Sub(times[i-1]), "fire %d follows fire %d by exactly one period", i, i-1)
	}
	jobs := survivor.count(t, `SELECT count(*) FROM jq.jobs WHERE payload = '{"command": ["true"]}'`)
	require.Equal(t, len(times), jobs, "one job per fire time")
	t.Logf("%d fires, %d before the handover, from %s to %s", len(times), firedBefore, times[0].Format(time.TimeOnly),
		times[len(times)-1].Format(time.TimeOnly))
}

// TestSchedule_API: create, list, trigger, pause, resume, delete through the API; bad
// expressions and time zones are INVALID_ARGUMENT naming what is wrong.
func TestSchedule_API(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.admin.CreateSchedule(b.ctx, &jqv1.CreateScheduleRequest{Name: "bad", Cron: "61 * * * *", QueueName: "default", Payload: []byte(`{}`)})
	requireCode(t, err, codes.InvalidArgument)
	require.ErrorContains(t, err, "61")
	_, err = b.admin.CreateSchedule(b.ctx, &jqv1.CreateScheduleRequest{Name: "bad", Cron: "@hourly", TimeZone: "Mars/Olympus", QueueName: "default",
		Payload: []byte(`{}`)})
	requireCode(t, err, codes.InvalidArgument)
	require.ErrorContains(t, err, "Mars/Olympus")
	_, err = b.admin.CreateSchedule(b.ctx, &jqv1.CreateScheduleRequest{Name: "bad", Cron: "@hourly", QueueName: "nope", Payload: []byte(`{}`)})
	requireCode(t, err, codes.NotFound)

	created, err := b.admin.CreateSchedule(b.ctx, &jqv1.CreateScheduleRequest{Name: "soon", Cron: "*/2 * * * * *", QueueName: "default",
		Payload: []byte(`{"command": ["true"]}`), Overlap: "skip"})
	require.NoError(t, err)
	require.Equal(t, "UTC", created.GetSchedule().GetTimeZone())
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM jq.schedule_fires WHERE schedule_name = 'soon'`) >= 1
	}, 10*time.Second, 50*time.Millisecond, "the leader fires it (every 2 s)")
	_, err = b.admin.CreateSchedule(b.ctx, &jqv1.CreateScheduleRequest{Name: "soon", Cron: "@hourly", QueueName: "default", Payload: []byte(`{}`)})
	requireCode(t, err, codes.AlreadyExists)

	trig, err := b.admin.TriggerSchedule(b.ctx, &jqv1.TriggerScheduleRequest{Name: "soon"})
	require.NoError(t, err)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_PENDING, b.job(t, trig.GetJobId()).GetStatus())
	paused, err := b.admin.PauseSchedule(b.ctx, &jqv1.PauseScheduleRequest{Name: "soon"})
	require.NoError(t, err)
	require.True(t, paused.GetSchedule().GetPaused())
	list, err := b.admin.ListSchedules(b.ctx, &jqv1.ListSchedulesRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetSchedules(), 1)
	require.Equal(t, "skip", list.GetSchedules()[0].GetOverlap())
	require.NotEmpty(t, list.GetSchedules()[0].GetLastJobId())
	_, err = b.admin.DeleteSchedule(b.ctx, &jqv1.DeleteScheduleRequest{Name: "soon"})
	require.NoError(t, err)
	_, err = b.admin.ResumeSchedule(b.ctx, &jqv1.ResumeScheduleRequest{Name: "soon"})
	requireCode(t, err, codes.NotFound)
}

// TestUnique_SixteenConcurrentSubmits: 16 concurrent SubmitJob calls with one unique key make
// one job; the 15 others answer with its id, deduplicated.
func TestUnique_SixteenConcurrentSubmits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 16
	resps := make([]*jqv1.SubmitJobResponse, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"n": 1}`),
				UniqueKey: "invoice-7", UniqueStatuses: []jqv1.JobStatus{jqv1.JobStatus_JOB_STATUS_PENDING, jqv1.JobStatus_JOB_STATUS_RUNNING},
				UniqueWindow: durationpb.New(time.Hour)})
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
			resps[i] = resp
		})
	}
	close(start)
	wg.Wait()
	fresh := 0
	for _, r := range resps {
		require.NotNil(t, r)
		require.Equal(t, resps[0].GetJobId(), r.GetJobId(), "every answer names the one job")
		if !r.GetDeduplicated() {
			fresh++
		}
	}
	require.Equal(t, 1, fresh, "one inserted, 15 deduplicated")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM jq.jobs WHERE unique_key = 'invoice-7'`))
	require.Equal(t, "invoice-7", b.job(t, resps[0].GetJobId()).GetUniqueKey())

	_, err := b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), UniqueWindow: durationpb.New(time.Hour)})
	requireCode(t, err, codes.InvalidArgument)
}

// order records in which order a workflow's jobs ran, by their payload's "node".
type order struct {
	mu   sync.Mutex
	runs []string
}

func (o *order) handler(fail string) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, j worker.Job) ([]byte, error) {
		node := strings.TrimSuffix(strings.TrimPrefix(string(j.Payload), `{"node": "`), `"}`)
		time.Sleep(20 * time.Millisecond)
		o.mu.Lock()
		o.runs = append(o.runs, node)
		o.mu.Unlock()
		if node == fail {
			return nil, worker.Permanent(errors.New("node " + node + " fails"))
		}
		return nil, nil
	})
}

func (o *order) ran() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.runs...)
}

func diamondNodes() []*jqv1.WorkflowNode {
	node := func(name string, deps ...string) *jqv1.WorkflowNode {
		return &jqv1.WorkflowNode{Name: name, Payload: []byte(`{"node": "` + name + `"}`), DependsOn: deps}
	}
	return []*jqv1.WorkflowNode{node("a"), node("b", "a"), node("c", "a"), node("d", "b", "c")}
}

// TestWorkflow_Diamond: A -> (B, C) -> D runs with real workers in dependency order; with B
// dead-lettered, D ends CANCELLED naming B; a cycle is refused, named.
func TestWorkflow_Diamond(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runs := &order{}
	runWorker(t, b.srv, b.srv.GRPCAddr().String(), 4, []string{"default"}, runs.handler("b2"))

	sub, err := b.jobs.SubmitWorkflow(b.ctx, &jqv1.SubmitWorkflowRequest{Name: "diamond", Nodes: diamondNodes()})
	require.NoError(t, err)
	require.Len(t, sub.GetJobs(), 4)
	waitWorkflow := func(id string, done func(map[string]*jqv1.Job) bool) map[string]*jqv1.Job {
		var jobs map[string]*jqv1.Job
		require.Eventually(t, func() bool {
			w, err := b.jobs.GetWorkflow(b.ctx, &jqv1.GetWorkflowRequest{WorkflowId: id})
			require.NoError(t, err)
			jobs = map[string]*jqv1.Job{}
			for _, j := range w.GetJobs() {
				jobs[j.GetNode()] = j.GetJob()
			}
			return done(jobs)
		}, 15*time.Second, 20*time.Millisecond)
		return jobs
	}
	jobs := waitWorkflow(sub.GetWorkflowId(), func(j map[string]*jqv1.Job) bool {
		return j["d"].GetStatus() == jqv1.JobStatus_JOB_STATUS_DONE
	})
	ran := runs.ran()
	require.Len(t, ran, 4)
	require.Equal(t, "a", ran[0])
	require.Equal(t, "d", ran[3], "D ran last, after B and C")
	require.False(t, jobs["d"].GetStartedAt().AsTime().Before(jobs["b"].GetCompletedAt().AsTime()), "D started after B was DONE")
	require.False(t, jobs["d"].GetStartedAt().AsTime().Before(jobs["c"].GetCompletedAt().AsTime()), "and after C")

	// The same shape, B failing for good.
	nodes := diamondNodes()
	for _, n := range nodes {
		n.Name += "2"
		n.Payload = []byte(`{"node": "` + n.Name + `"}`)
		for i := range n.DependsOn {
			n.DependsOn[i] += "2"
		}
	}
	sub, err = b.jobs.SubmitWorkflow(b.ctx, &jqv1.SubmitWorkflowRequest{Name: "diamond, B fails", Nodes: nodes})
	require.NoError(t, err)
	jobs = waitWorkflow(sub.GetWorkflowId(), func(j map[string]*jqv1.Job) bool {
		return j["d2"].GetStatus() == jqv1.JobStatus_JOB_STATUS_CANCELLED && j["c2"].GetStatus() == jqv1.JobStatus_JOB_STATUS_DONE
	})
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, jobs["b2"].GetStatus())
	require.Contains(t, jobs["d2"].GetErrorMessage(), "b2")
	require.Contains(t, jobs["d2"].GetErrorMessage(), jobs["b2"].GetJobId(), "D's error names B")
	require.NotContains(t, runs.ran(), "d2", "D never ran")

	_, err = b.jobs.SubmitWorkflow(b.ctx, &jqv1.SubmitWorkflowRequest{Name: "loop", Nodes: []*jqv1.WorkflowNode{
		{Name: "x", Payload: []byte(`{}`), DependsOn: []string{"z"}},
		{Name: "y", Payload: []byte(`{}`), DependsOn: []string{"x"}},
		{Name: "z", Payload: []byte(`{}`), DependsOn: []string{"y"}},
	}})
	requireCode(t, err, codes.InvalidArgument)
	require.ErrorContains(t, err, "cycle: x → z → y → x")
	require.Zero(t, b.count(t, `SELECT count(*) FROM jq.workflows WHERE name = 'loop'`), "nothing of it was submitted")

	// A single job may wait for another too.
	parent := b.submit(t, &jqv1.SubmitJobRequest{Payload: []byte(`{"node": "p"}`)})
	child, err := b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"node": "q"}`), DependsOn: []string{parent}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.job(t, child.GetJobId()).GetStatus() == jqv1.JobStatus_JOB_STATUS_DONE },
		10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{parent}, b.job(t, child.GetJobId()).GetDependsOn())
}

// TestProgress_CoalescedAndCapped: a worker reporting progress in a tight loop gets no error;
// the server writes at once, then at most once a second, the latest report winning; a message
// over 1 KiB is cut; a Go handler's worker.Progress reaches the job.
func TestProgress_CoalescedAndCapped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b.conn, 1)
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	a := w.next(10 * time.Second)
	require.Equal(t, id, a.GetJob().GetJobId())
	coalesced := 0
	for i := range 50 {
		resp, err := w.client.ReportProgress(b.ctx, &jqv1.ReportProgressRequest{WorkerId: w.id.String(), JobId: id, Attempt: a.GetAttempt(),
			Progress: float64(i + 1), Message: strings.Repeat("é", 600)})
		require.NoError(t, err, "report %d", i)
		if resp.GetCoalesced() {
			coalesced++
		}
	}
	require.GreaterOrEqual(t, coalesced, 48, "the reports after the first within the second are coalesced")
	first := b.job(t, id)
	require.NotNil(t, first.Progress)
	require.Less(t, first.GetProgress(), 50.0, "not all of them were written at once")
	require.LessOrEqual(t, len(first.GetProgressMessage()), 1024, "the message is capped at 1 KiB")
	require.Eventually(t, func() bool { return b.job(t, id).GetProgress() == 50 }, 3*time.Second, 50*time.Millisecond,
		"the latest is written once the second is over")

	_, err := w.client.ReportProgress(b.ctx, &jqv1.ReportProgressRequest{WorkerId: w.id.String(), JobId: id, Attempt: a.GetAttempt(), Progress: 101})
	requireCode(t, err, codes.InvalidArgument)
	w.mustReport(a, true)
	time.Sleep(1100 * time.Millisecond) // past the job's second: this report is written at once, and refused
	_, err = w.client.ReportProgress(b.ctx, &jqv1.ReportProgressRequest{WorkerId: w.id.String(), JobId: id, Attempt: a.GetAttempt(), Progress: 1})
	requireCode(t, err, codes.FailedPrecondition)
	require.Equal(t, 50.0, b.job(t, id).GetProgress(), "a finished job keeps its last progress")

	// From a Go handler.
	reported := make(chan struct{})
	release := make(chan struct{})
	handler := worker.HandlerFunc(func(ctx context.Context, _ worker.Job) ([]byte, error) {
		if err := worker.Progress(ctx, 30, "a third"); err != nil {
			return nil, err
		}
		close(reported)
		<-release
		return nil, nil
	})
	q := "progress"
	b.createQueue(t, q)
	runWorker(t, b.srv, b.srv.GRPCAddr().String(), 1, []string{q}, handler)
	gid := b.submit(t, &jqv1.SubmitJobRequest{QueueName: q})
	<-reported
	require.Eventually(t, func() bool {
		j := b.job(t, gid)
		return j.Progress != nil && j.GetProgress() == 30 && j.GetProgressMessage() == "a third"
	}, 5*time.Second, 20*time.Millisecond)
	close(release)
}
