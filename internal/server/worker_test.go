package server_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

func TestWorker_ReceivesJobsInPriorityOrderAndReports(t *testing.T) {
	t.Parallel()
	b := setup(t)
	low := b.submit(t, &jqv1.SubmitJobRequest{Priority: 1})
	high := b.submit(t, &jqv1.SubmitJobRequest{Priority: 9})
	mid := b.submit(t, &jqv1.SubmitJobRequest{Priority: 5})

	w := newTestWorker(t, b.conn, 3)
	var got []string
	for range 3 {
		a := w.next(5 * time.Second)
		require.Equal(t, int32(1), a.GetAttempt())
		require.Equal(t, a.GetAttempt(), a.GetJob().GetAttempt())
		got = append(got, a.GetJob().GetJobId())
		resp := w.mustReport(a, true)
		require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, resp.GetStatus())
	}
	require.Equal(t, []string{high, mid, low}, got)

	j := b.job(t, high)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, j.GetStatus())
	require.Equal(t, "ok:"+high, string(j.GetResult()))
	require.Equal(t, w.id.String(), j.GetWorkerId())

	logs, err := b.jobs.GetJobLogs(b.ctx, &jqv1.GetJobLogsRequest{JobId: high})
	require.NoError(t, err)
	var reasons []string
	for _, e := range logs.GetEvents() {
		reasons = append(reasons, e.GetReason())
	}
	require.Equal(t, []string{"SUBMITTED", "CLAIMED", "STARTED", "COMPLETED"}, reasons)
}

func TestWorker_NotifyWakesTheScheduler(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Scheduler.Interval = config.Duration(10 * time.Second) })
	w := newTestWorker(t, b.conn, 1)
	waitSchedulerIdle(t, b.srv) // the cycle the attach triggered has passed

	start := time.Now()
	b.submit(t, &jqv1.SubmitJobRequest{})
	w.next(2 * time.Second)
	elapsed := time.Since(start)
	require.Less(t, elapsed, time.Second, "with a 10 s poll, only NOTIFY can deliver this fast")
	t.Logf("submit to delivery: %v", elapsed)
}

// TestWorker_NotifyOffPollsOnly: with scheduler.notify off, a submit wakes nothing; the job
// waits for the poll (how jq-bench measures the fallback).
func TestWorker_NotifyOffPollsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.Scheduler.Interval = config.Duration(10 * time.Second)
		c.Scheduler.Notify = false
	})
	w := newTestWorker(t, b.conn, 1)
	waitSchedulerIdle(t, b.srv) // the cycle the attach triggered has passed
	b.submit(t, &jqv1.SubmitJobRequest{})
	w.none(time.Second)
}

func TestWorker_NeverHoldsMoreThanItsFreeSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 6 {
		b.submit(t, &jqv1.SubmitJobRequest{})
	}
	w := newTestWorker(t, b.conn, 2)
	first, second := w.next(5*time.Second), w.next(5*time.Second)
	w.none(500 * time.Millisecond)

	w.mustReport(first, true)
	third := w.next(2 * time.Second) // a freed slot is filled at once
	w.none(300 * time.Millisecond)
	w.mustReport(second, true)
	w.mustReport(third, true)
	w.next(2 * time.Second)
	w.next(2 * time.Second)
	w.none(300 * time.Millisecond)
}

func TestWorker_RetryPathEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.submit(t, &jqv1.SubmitJobRequest{MaxRetries: proto.Int32(2)})
	w := newTestWorker(t, b.conn, 1)

	for attempt := int32(1); attempt <= 3; attempt++ {
		a := w.next(5 * time.Second)
		require.Equal(t, id, a.GetJob().GetJobId())
		require.Equal(t, attempt, a.GetAttempt())
		resp, err := w.report(a, false, "exit status 3")
		require.NoError(t, err)
		if attempt < 3 {
			require.Equal(t, jqv1.JobStatus_JOB_STATUS_PENDING, resp.GetStatus())
			require.True(t, resp.GetRetryAt().AsTime().After(time.Now().Add(-time.Second)))
		} else {
			require.Equal(t, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, resp.GetStatus())
		}
	}
	w.none(500 * time.Millisecond)
	j := b.job(t, id)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, j.GetStatus())
	require.Equal(t, "exit status 3", j.GetErrorMessage())
	require.Equal(t, int32(2), j.GetRetryCount())

	// A manual retry runs it again.
	_, err := b.jobs.RetryJob(b.ctx, &jqv1.RetryJobRequest{JobId: id})
	require.NoError(t, err)
	a := w.next(5 * time.Second)
	require.Equal(t, int32(4), a.GetAttempt())
	w.mustReport(a, true)
}

func TestWorker_PermanentFailureDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	w := newTestWorker(t, b.conn, 1)
	a := w.next(5 * time.Second)
	resp, err := w.client.ReportResult(b.ctx, &jqv1.ReportResultRequest{
		WorkerId: w.id.String(), JobId: id, Attempt: a.GetAttempt(), ErrorMessage: "payload: command is missing", Permanent: true,
	})
	require.NoError(t, err)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, resp.GetStatus())
}

func TestWorker_StaleReportRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	w := newTestWorker(t, b.conn, 1)
	a := w.next(5 * time.Second)

	stale := proto.Clone(a).(*jqv1.JobAssignment)
	stale.Attempt = a.GetAttempt() + 1
	_, err := w.report(stale, true, "")
	requireCode(t, err, codes.FailedPrecondition)
	j := b.job(t, id)
	require.Contains(t, []jqv1.JobStatus{jqv1.JobStatus_JOB_STATUS_ASSIGNED, jqv1.JobStatus_JOB_STATUS_RUNNING}, j.GetStatus(),
		"a refused report changes nothing")
	require.Equal(t, a.GetAttempt(), j.GetAttempt())

	w.mustReport(a, true)
	_, err = w.report(a, true, "")
	requireCode(t, err, codes.FailedPrecondition) // a duplicate report
}

// TestWorker_ReportResults: a batch of outcomes is answered result by result, in order; a
// refused one changes nothing and does not fail the others.
func TestWorker_ReportResults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 3 {
		b.submit(t, &jqv1.SubmitJobRequest{MaxRetries: proto.Int32(1)})
	}
	w := newTestWorker(t, b.conn, 3)
	as := []*jqv1.JobAssignment{w.next(5 * time.Second), w.next(5 * time.Second), w.next(5 * time.Second)}
	result := func(a *jqv1.JobAssignment, success bool) *jqv1.ReportResultRequest {
		return &jqv1.ReportResultRequest{JobId: a.GetJob().GetJobId(), Attempt: a.GetAttempt(), Success: success,
			Result: []byte("ok"), ErrorMessage: "boom"}
	}
	stale := result(as[2], true)
	stale.Attempt++
	otherWorker := result(as[2], true)
	otherWorker.WorkerId = uuid.NewString()
	resp, err := w.client.ReportResults(b.ctx, &jqv1.ReportResultsRequest{WorkerId: w.id.String(), Results: []*jqv1.ReportResultRequest{
		result(as[0], true), result(as[1], false), stale, otherWorker, {JobId: "not-a-uuid", Attempt: 1},
	}})
	require.NoError(t, err)
	var got []codes.Code
	for _, o := range resp.GetOutcomes() {
		got = append(got, codes.Code(o.GetCode()))
	}
	require.Equal(t, []codes.Code{codes.OK, codes.OK, codes.FailedPrecondition, codes.InvalidArgument, codes.InvalidArgument}, got)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, resp.GetOutcomes()[0].GetResponse().GetStatus())
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_PENDING, resp.GetOutcomes()[1].GetResponse().GetStatus(), "retried")
	require.NotNil(t, resp.GetOutcomes()[1].GetResponse().GetRetryAt())
	require.Contains(t, resp.GetOutcomes()[3].GetMessage(), "not")
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, b.job(t, as[0].GetJob().GetJobId()).GetStatus())
	require.Equal(t, "ok", string(b.job(t, as[0].GetJob().GetJobId()).GetResult()))
	require.Contains(t, []jqv1.JobStatus{jqv1.JobStatus_JOB_STATUS_ASSIGNED, jqv1.JobStatus_JOB_STATUS_RUNNING},
		b.job(t, as[2].GetJob().GetJobId()).GetStatus(), "refused reports change nothing")

	// The third job's real report still goes through.
	resp, err = w.client.ReportResults(b.ctx, &jqv1.ReportResultsRequest{WorkerId: w.id.String(),
		Results: []*jqv1.ReportResultRequest{result(as[2], true)}})
	require.NoError(t, err)
	require.Equal(t, uint32(codes.OK), resp.GetOutcomes()[0].GetCode())

	_, err = w.client.ReportResults(b.ctx, &jqv1.ReportResultsRequest{WorkerId: "nope"})
	requireCode(t, err, codes.InvalidArgument)
	_, err = w.client.ReportResults(b.ctx, &jqv1.ReportResultsRequest{WorkerId: w.id.String(),
		Results: make([]*jqv1.ReportResultRequest, 1001)})
	requireCode(t, err, codes.InvalidArgument)
}

func TestWorker_BrokenStreamRetriesJobsWithoutWaitingForHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Scheduler.HeartbeatTimeout = config.Duration(time.Hour) })
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	lost := newTestWorker(t, b.conn, 1)
	a := lost.next(5 * time.Second)
	require.Equal(t, id, a.GetJob().GetJobId())

	other := newTestWorker(t, b.conn, 1)
	start := time.Now()
	lost.close() // the process died: no goodbye, no more heartbeats

	again := other.next(5 * time.Second)
	elapsed := time.Since(start)
	require.Equal(t, id, again.GetJob().GetJobId())
	require.Equal(t, int32(2), again.GetAttempt())
	t.Logf("stream broke -> job running elsewhere in %v (grace %v, backoff %v)", elapsed, b.cfg.Scheduler.StreamGrace, b.cfg.Scheduler.RetryBaseDelay)
	require.Less(t, elapsed, 3*time.Second)

	_, err := lost.report(a, true, "")
	requireCode(t, err, codes.FailedPrecondition) // the lost attempt cannot finish it
	other.mustReport(again, true)
}

func TestWorker_ReconnectWithinGraceKeepsItsJobs(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	b := setupLogged(t, &logs)
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	w := newTestWorker(t, b.conn, 1)
	a := w.next(5 * time.Second)

	// The stream breaks; once the server has seen it break (the stream grace starts), the
	// worker registers again and reopens it, still running the job. (A reopen the server sees
	// before the break replaces the stream and starts no grace at all; the queue package's
	// TestLostWorkers_ReconnectedHereKeepsItsJobs covers a re-registration seen first.)
	w.close()
	require.Eventually(t, func() bool {
		list, err := b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{})
		return err == nil && len(list.GetWorkers()) == 1 && !list.GetWorkers()[0].GetConnected()
	}, 5*time.Second, 10*time.Millisecond, "the server sees the stream break")
	_, err := w.client.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: w.id.String(), Hostname: "test", Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	w.once = sync.Once{}
	w.open(0, []string{"default"})
	// The grace ends and the lost-worker check decides (it logs its outcome).
	var outcome string
	require.Eventually(t, func() bool {
		outcome = logged(&logs, "worker_id", w.id.String(), "stream grace ended", "worker lost")
		return outcome != ""
	}, 10*time.Second, 10*time.Millisecond, "the stream grace ends")
	t.Logf("lost-worker check: %s", outcome)

	// Still the same attempt, not retried: RUNNING, or ASSIGNED until its start is flushed
	// (scheduler.start_delay).
	j := b.job(t, id)
	require.Contains(t, []jqv1.JobStatus{jqv1.JobStatus_JOB_STATUS_ASSIGNED, jqv1.JobStatus_JOB_STATUS_RUNNING}, j.GetStatus())
	require.EqualValues(t, 1, j.GetAttempt())
	w.mustReport(a, true) // the attempt is still current
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, b.job(t, id).GetStatus())
}

func TestWorker_DrainIsSentInBand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b.conn, 2)
	_, err := b.admin.DrainWorker(b.ctx, &jqv1.DrainWorkerRequest{WorkerId: w.id.String()})
	require.NoError(t, err)
	select {
	case d := <-w.drains:
		require.False(t, d.GetShutdown())
	case <-time.After(5 * time.Second):
		t.Fatal("no drain notice")
	}
	b.submit(t, &jqv1.SubmitJobRequest{})
	w.none(500 * time.Millisecond)

	_, err = b.admin.ShutdownWorker(b.ctx, &jqv1.ShutdownWorkerRequest{WorkerId: w.id.String()})
	require.NoError(t, err)
	select {
	case d := <-w.drains:
		require.True(t, d.GetShutdown())
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown notice")
	}
	hb, err := w.client.Heartbeat(b.ctx, &jqv1.HeartbeatRequest{WorkerId: w.id.String()})
	require.NoError(t, err)
	require.Equal(t, jqv1.WorkerStatus_WORKER_STATUS_DRAINING, hb.GetStatus())
	require.True(t, hb.GetShutdown())
}

func TestWorker_DeregisterEndsTheStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b.conn, 1)
	_, err := w.client.Deregister(b.ctx, &jqv1.DeregisterRequest{WorkerId: w.id.String()})
	require.NoError(t, err)
	select {
	case err := <-w.ended:
		require.ErrorIs(t, err, io.EOF, "the server ends the stream cleanly")
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
	_, err = w.client.Heartbeat(b.ctx, &jqv1.HeartbeatRequest{WorkerId: w.id.String()})
	requireCode(t, err, codes.FailedPrecondition)
}

// TestWorker_JobsCarriedToAnotherServerFreeTheirSlots: a worker whose server went away
// connects to another one with every slot busy (free_slots 0, the job it runs listed in
// running); when the jobs it carried over finish, their slots are free on the new server,
// which sends it work again. (The e2e server restart test stalled on this: the new server
// never learned that the carried jobs ended.)
func TestWorker_JobsCarriedToAnotherServerFreeTheirSlots(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	first, stopFirst := startServer(t, testConfig(dbURL))
	second, _ := startServer(t, testConfig(dbURL))
	a := &bundle{ctx: context.Background(), jobs: jqv1.NewJobServiceClient(dial(t, first))}
	carried := a.submit(t, &jqv1.SubmitJobRequest{})
	w := newTestWorker(t, dial(t, first), 1)
	job := w.next(5 * time.Second)
	require.Equal(t, carried, job.GetJob().GetJobId())
	stopFirst() // the worker keeps running the job

	conn := second.Dial(t, first.AdminKey) // the credential that registered the worker
	moved := &testWorker{t: t, id: w.id, client: jqv1.NewWorkerServiceClient(conn),
		assigns: make(chan *jqv1.JobAssignment, 10), drains: make(chan *jqv1.DrainNotice, 10), ended: make(chan error, 1)}
	_, err := moved.client.RegisterWorker(a.ctx, &jqv1.RegisterWorkerRequest{WorkerId: w.id.String(), Hostname: "test", Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	moved.running = []*jqv1.RunningAttempt{{JobId: job.GetJob().GetJobId(), Attempt: job.GetAttempt()}}
	moved.open(0, []string{"default"}) // its one slot holds the carried job
	t.Cleanup(moved.close)
	b := &bundle{ctx: context.Background(), jobs: jqv1.NewJobServiceClient(conn)}
	next := b.submit(t, &jqv1.SubmitJobRequest{})
	moved.none(300 * time.Millisecond) // deliberate: no slot is free yet

	moved.mustReport(job, true)
	require.Equal(t, next, moved.next(5*time.Second).GetJob().GetJobId(), "the carried job's slot is free again")
	moved.none(300 * time.Millisecond) // deliberate: and only that one
}
