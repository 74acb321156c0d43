package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/internal/config"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// TestLimits_PageSizes: every call that pages refuses a page over its limit with
// INVALID_ARGUMENT naming the limit, and accepts a page of exactly the limit.
func TestLimits_PageSizes(t *testing.T) {
	t.Parallel()
	const maxPage = 7
	b := setup(t, func(c *config.Config) { c.GRPC.MaxPageSize = maxPage })
	for range maxPage + 1 {
		b.submit(t, &jqv1.SubmitJobRequest{})
	}
	refused := func(t *testing.T, err error, limit string) {
		t.Helper()
		requireCode(t, err, codes.InvalidArgument)
		require.Contains(t, status.Convert(err).Message(), limit)
	}

	t.Run("ListJobs", func(t *testing.T) {
		_, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{Limit: maxPage + 1})
		refused(t, err, "over the largest page, 7 (grpc.max_page_size)")
		page, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{Limit: maxPage})
		require.NoError(t, err)
		require.Len(t, page.GetJobs(), maxPage)
		require.NotEmpty(t, page.GetNextPageToken(), "one job is left for the next page")
	})
	t.Run("ListWorkers", func(t *testing.T) {
		_, err := b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{Limit: maxPage + 1})
		refused(t, err, "over the largest page, 7 (grpc.max_page_size)")
		_, err = b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{Limit: maxPage})
		require.NoError(t, err)
	})
	t.Run("ListAuditEvents", func(t *testing.T) {
		// The audit page has its own fixed limit, 1000.
		_, err := b.admin.ListAuditEvents(b.ctx, &jqv1.ListAuditEventsRequest{Limit: 1001})
		refused(t, err, "outside 0-1000")
		_, err = b.admin.ListAuditEvents(b.ctx, &jqv1.ListAuditEventsRequest{Limit: 1000})
		require.NoError(t, err)
	})
	t.Run("CancelJobs", func(t *testing.T) {
		_, err := b.jobs.CancelJobs(b.ctx, &jqv1.CancelJobsRequest{DryRun: true, Limit: 10_001})
		refused(t, err, "outside 0-10000")
	})
	t.Run("ReportResults", func(t *testing.T) {
		results := make([]*jqv1.ReportResultRequest, 1001)
		for i := range results {
			results[i] = &jqv1.ReportResultRequest{}
		}
		_, err := b.worker.ReportResults(b.ctx, &jqv1.ReportResultsRequest{WorkerId: uuid.NewString(), Results: results})
		refused(t, err, "1001 results in one call; at most 1000")
	})
}

// TestLimits_MessageSize: a request over the server's receive limit (at least 4 MiB; see
// docs/security.md) is RESOURCE_EXHAUSTED naming the limit, a payload under it but over
// grpc.max_payload_bytes is INVALID_ARGUMENT naming that setting, and neither harms the
// connection or the jobs already submitted.
func TestLimits_MessageSize(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.GRPC.MaxPayloadBytes, c.GRPC.MaxResultBytes = 64<<10, 64<<10 })
	before := b.submit(t, &jqv1.SubmitJobRequest{})

	big := []byte(`{"x": "` + string(bytes.Repeat([]byte("a"), 5<<20)) + `"}`)
	_, err := b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: big})
	requireCode(t, err, codes.ResourceExhausted)
	require.Contains(t, status.Convert(err).Message(), "larger than max")
	require.Contains(t, status.Convert(err).Message(), "4194304", "the message names the limit")

	_, err = b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: big[:1<<20]})
	requireCode(t, err, codes.InvalidArgument)
	require.Contains(t, status.Convert(err).Message(), "over the limit of 65536 (grpc.max_payload_bytes)")

	after := b.submit(t, &jqv1.SubmitJobRequest{})
	require.ElementsMatch(t, []string{before, after}, b.list(t, "default"), "nothing was lost, nothing oversized stored")
}

// TestLimits_StreamsPerConnection: grpc.max_streams_per_conn is HTTP/2's
// SETTINGS_MAX_CONCURRENT_STREAMS. A grpc-go client (jq-ctl, jq-worker, client.Dial) holds a
// call over the limit on its own side until a stream of that connection ends: the call waits,
// it does not fail, unless its deadline passes first. Another connection is not affected.
func TestLimits_StreamsPerConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.GRPC.MaxStreams = 2 })
	conn := dial(t, b.srv) // a connection of its own, so that only this test's streams count
	health := healthpb.NewHealthClient(conn)
	admin := jqv1.NewAdminServiceClient(conn)

	watch := func() context.CancelFunc {
		ctx, cancel := context.WithCancel(b.ctx)
		s, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = s.Recv() // the stream is open on the server
		require.NoError(t, err)
		return cancel
	}
	first := watch()
	defer first()
	second := watch()
	defer second()

	ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
	_, err := admin.ListQueues(ctx, &jqv1.ListQueuesRequest{})
	cancel()
	requireCode(t, err, codes.DeadlineExceeded)

	_, err = b.admin.ListQueues(b.ctx, &jqv1.ListQueuesRequest{})
	require.NoError(t, err, "another connection has streams of its own")

	// A waiting call starts as soon as one stream ends.
	done := make(chan error, 1)
	go func() {
		_, err := admin.ListQueues(b.ctx, &jqv1.ListQueuesRequest{})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the third call ran while two streams were open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	first()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting call did not start after a stream ended")
	}
}
