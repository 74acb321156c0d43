package server_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// TestReport_ErrorTextOfAnyBytesIsStored: a failure report whose text PostgreSQL could not
// store as it is (a NUL, a character cut by the server's size cap) fails the attempt; the job
// does not stay RUNNING and the worker's slot is freed.
func TestReport_ErrorTextOfAnyBytesIsStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b.conn, 1)
	id := b.submit(t, &jqv1.SubmitJobRequest{MaxRetries: new(int32)})
	a := w.next(10 * time.Second)
	msg := "nul \x00 then " + strings.Repeat("é", 40000) // cut at 64 KiB in the middle of a character
	_, err := w.client.ReportResult(b.ctx, &jqv1.ReportResultRequest{WorkerId: w.id.String(), JobId: id, Attempt: a.GetAttempt(), ErrorMessage: msg})
	require.NoError(t, err)
	j := b.job(t, id)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, j.GetStatus())
	require.True(t, utf8.ValidString(j.GetErrorMessage()))
	require.LessOrEqual(t, len(j.GetErrorMessage()), 64<<10)

	next := b.submit(t, &jqv1.SubmitJobRequest{})
	require.Equal(t, next, w.next(10*time.Second).GetJob().GetJobId(), "the worker's slot was freed")
}

// TestReport_ResultOverTheLimitFailsTheJob: a result over grpc.max_result_bytes ends the job
// failed for good, saying why, instead of being refused (which would leave it RUNNING).
func TestReport_ResultOverTheLimitFailsTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.GRPC.MaxResultBytes = 2048 })
	w := newTestWorker(t, b.conn, 1)
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	a := w.next(10 * time.Second)
	resp, err := w.client.ReportResult(b.ctx, &jqv1.ReportResultRequest{WorkerId: w.id.String(), JobId: id,
		Attempt: a.GetAttempt(), Success: true, Result: make([]byte, 4096)})
	require.NoError(t, err)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED, resp.GetStatus())
	require.Contains(t, b.job(t, id).GetErrorMessage(), "grpc.max_result_bytes")
}

// TestHeartbeat_ReconcilesJobsTheWorkerDoesNotHold: a job the database gives a live worker,
// which its heartbeat does not list, is retried once the grace has passed; one it lists is
// left alone.
func TestHeartbeat_ReconcilesJobsTheWorkerDoesNotHold(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Scheduler.ReconcileGrace = config.Duration(time.Second) })
	w := newTestWorker(t, b.conn, 2)
	lost := b.submit(t, &jqv1.SubmitJobRequest{})
	kept := b.submit(t, &jqv1.SubmitJobRequest{})
	w.next(10 * time.Second)
	w.next(10 * time.Second)
	heartbeat := func() {
		_, err := w.client.Heartbeat(b.ctx, &jqv1.HeartbeatRequest{WorkerId: w.id.String(), ActiveJobCount: 1,
			HeldJobIds: []string{kept}, ReportsHeldJobs: true})
		require.NoError(t, err)
	}
	heartbeat()
	require.NotEqual(t, jqv1.JobStatus_JOB_STATUS_PENDING, b.job(t, lost).GetStatus(), "within the grace, nothing happens")

	// (Retried, the job may be claimed again for the worker at once: the retry count, not the
	// status, says it happened, and the heartbeats stop then, before the grace could pass again.)
	require.Eventually(t, func() bool {
		heartbeat()
		return b.mustJob(t, lost).RetryCount > 0
	}, 10*time.Second, 100*time.Millisecond, "the job the worker does not hold is retried")
	j, err := b.srv.Store().GetJob(b.ctx, uuid.MustParse(lost))
	require.NoError(t, err)
	require.Equal(t, 1, j.RetryCount)
	require.Contains(t, j.ErrorMessage, "does not hold")
	require.Contains(t, []string{"ASSIGNED", "RUNNING"}, string(b.mustJob(t, kept).Status), "the job it holds is untouched")

	// Its slot was freed: the retried job comes back to the worker.
	require.Equal(t, lost, w.next(10*time.Second).GetJob().GetJobId())
}

func (b *bundle) mustJob(t *testing.T, id string) *queue.Job {
	t.Helper()
	j, err := b.srv.Store().GetJob(context.Background(), uuid.MustParse(id))
	require.NoError(t, err)
	return j
}

// TestStream_BatchedAssignments: a worker whose stream accepts batches gets the jobs of a cycle
// in one JobAssignments message, each runs and completes like a single assignment; a worker
// that did not ask gets one message per job.
func TestStream_BatchedAssignments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := make(map[string]bool)
	for range 20 {
		ids[b.submit(t, &jqv1.SubmitJobRequest{})] = true
	}
	w := newTestWorkerBatching(t, b.conn, true, 20)
	for range 20 {
		a := w.next(10 * time.Second)
		require.True(t, ids[a.GetJob().GetJobId()], "job %s was not submitted here, or came twice", a.GetJob().GetJobId())
		delete(ids, a.GetJob().GetJobId())
		resp, err := w.report(a, true, "")
		require.NoError(t, err)
		require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, resp.GetStatus())
	}
	var messages []int
	for len(w.messages) > 0 {
		messages = append(messages, <-w.messages)
	}
	require.Equal(t, []int{20}, messages, "the jobs pending when the worker connected came in one message")

	w.close()
	single := newTestWorker(t, b.conn, 3)
	for range 3 {
		b.submit(t, &jqv1.SubmitJobRequest{})
	}
	for range 3 {
		single.next(10 * time.Second)
	}
	for range 3 {
		require.Equal(t, 1, <-single.messages)
	}
}
