package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// fakeReports answers ReportResults and ReportResult from scripts, for the edge cases of the
// batched reports; the real server's answers are tested in internal/server and end to end.
type fakeReports struct {
	jqv1.WorkerServiceClient
	mu            sync.Mutex
	unimplemented bool
	// answer gives the code of a result on a given call (1-based) of ReportResults.
	answer  func(call int, jobID string) codes.Code
	calls   int
	batches [][]string
	singles []string
}

func (f *fakeReports) ReportResults(_ context.Context, in *jqv1.ReportResultsRequest, _ ...grpc.CallOption) (*jqv1.ReportResultsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unimplemented {
		return nil, status.Error(codes.Unimplemented, "unknown method ReportResults")
	}
	f.calls++
	var ids []string
	resp := &jqv1.ReportResultsResponse{}
	for _, r := range in.GetResults() {
		ids = append(ids, r.GetJobId())
		code := f.answer(f.calls, r.GetJobId())
		o := &jqv1.ReportResultOutcome{Code: uint32(code)}
		if code == codes.OK {
			o.Response = &jqv1.ReportResultResponse{Status: jqv1.JobStatus_JOB_STATUS_DONE}
		} else {
			o.Message = code.String()
		}
		resp.Outcomes = append(resp.Outcomes, o)
	}
	f.batches = append(f.batches, ids)
	return resp, nil
}

func (f *fakeReports) ReportResult(_ context.Context, in *jqv1.ReportResultRequest, _ ...grpc.CallOption) (*jqv1.ReportResultResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.singles = append(f.singles, in.GetJobId())
	return &jqv1.ReportResultResponse{Status: jqv1.JobStatus_JOB_STATUS_DONE}, nil
}

func testReports(n, resultBytes int) []report {
	out := make([]report, n)
	for i := range out {
		out[i] = report{req: &jqv1.ReportResultRequest{JobId: fmt.Sprint("job-", i), Attempt: 1, Success: true,
			Result: make([]byte, resultBytes)}}
	}
	return out
}

func reportWorker(client jqv1.WorkerServiceClient) *Worker {
	return &Worker{
		id: uuid.New(), client: client, logger: slog.New(slog.DiscardHandler),
		cfg: Config{ReconnectMax: time.Millisecond}, results: make(chan report, 1024), held: newHeldJobs(),
	}
}

// TestDeliverBatch_RetriesOnlyWhatTheServerCouldNotTake: refused outcomes are dropped, an
// UNAVAILABLE one is sent again, alone.
func TestDeliverBatch_RetriesOnlyWhatTheServerCouldNotTake(t *testing.T) {
	t.Parallel()
	f := &fakeReports{answer: func(call int, id string) codes.Code {
		switch {
		case id == "job-1":
			return codes.FailedPrecondition
		case id == "job-2" && call == 1:
			return codes.Unavailable
		}
		return codes.OK
	}}
	reportWorker(f).deliverBatch(context.Background(), testReports(3, 0))
	require.Equal(t, [][]string{{"job-0", "job-1", "job-2"}, {"job-2"}}, f.batches)
}

// TestDeliverBatch_FallsBackToReportResult: a server without ReportResults gets one
// ReportResult per outcome.
func TestDeliverBatch_FallsBackToReportResult(t *testing.T) {
	t.Parallel()
	f := &fakeReports{unimplemented: true}
	reportWorker(f).deliverBatch(context.Background(), testReports(3, 0))
	require.Equal(t, []string{"job-0", "job-1", "job-2"}, f.singles)
}

// TestTakeBatch_Limits: a batch takes what is queued, up to the count and byte budgets; the
// outcome over the byte budget starts the next batch; nothing is lost when the channel closes.
func TestTakeBatch_Limits(t *testing.T) {
	t.Parallel()
	w := reportWorker(nil)
	for _, r := range testReports(maxReportBatch+3, 0) {
		w.results <- r
	}
	batch, next, open := w.takeBatch(nil)
	require.Len(t, batch, maxReportBatch)
	require.Nil(t, next)
	require.True(t, open)
	batch, _, _ = w.takeBatch(nil)
	require.Len(t, batch, 3, "then what is left, without waiting for more")

	big := reportBatchBytes / 3
	for _, r := range testReports(4, big) {
		w.results <- r
	}
	close(w.results)
	batch, next, open = w.takeBatch(nil)
	require.Len(t, batch, 2, "two fit in the byte budget")
	require.NotNil(t, next)
	require.True(t, open)
	batch, next, open = w.takeBatch(next)
	require.Len(t, batch, 2, "the carried one and the last")
	require.Nil(t, next)
	require.False(t, open, "the channel is closed and drained")
}

// tooLarge refuses any report over limit bytes, as a server does over its message size.
type tooLarge struct {
	jqv1.WorkerServiceClient
	limit int
	mu    sync.Mutex
	got   []*jqv1.ReportResultRequest
}

func (c *tooLarge) ReportResults(_ context.Context, in *jqv1.ReportResultsRequest, _ ...grpc.CallOption) (*jqv1.ReportResultsResponse, error) {
	return nil, status.Error(codes.ResourceExhausted, "grpc: received message larger than max")
}

func (c *tooLarge) ReportResult(_ context.Context, in *jqv1.ReportResultRequest, _ ...grpc.CallOption) (*jqv1.ReportResultResponse, error) {
	if len(in.GetResult())+len(in.GetErrorMessage()) > c.limit {
		return nil, status.Error(codes.ResourceExhausted, "grpc: received message larger than max")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, in)
	return &jqv1.ReportResultResponse{Status: jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED}, nil
}

// TestDeliverBatch_TooLargeIsReportedFailed: an outcome over the server's message limit is
// not retried forever: the job is reported failed, permanently, saying why; the others of the
// batch still go through.
func TestDeliverBatch_TooLargeIsReportedFailed(t *testing.T) {
	t.Parallel()
	c := &tooLarge{limit: 64 << 10}
	batch := append(testReports(1, 1<<20), testReports(1, 10)...)
	batch[1].req.JobId = "small"
	reportWorker(c).deliverBatch(context.Background(), batch)
	require.Len(t, c.got, 2)
	big, small := c.got[0], c.got[1]
	require.Equal(t, "job-0", big.GetJobId())
	require.False(t, big.GetSuccess())
	require.True(t, big.GetPermanent())
	require.Empty(t, big.GetResult())
	require.Contains(t, big.GetErrorMessage(), "over jq-server's message size limit")
	require.Equal(t, "small", small.GetJobId())
	require.True(t, small.GetSuccess())
}

// recordingReports records every ReportResults request and answers from a script.
type recordingReports struct {
	jqv1.WorkerServiceClient
	mu     sync.Mutex
	answer func(call int, r *jqv1.ReportResultRequest) codes.Code
	calls  []*jqv1.ReportResultsRequest
}

func (f *recordingReports) ReportResults(_ context.Context, in *jqv1.ReportResultsRequest, _ ...grpc.CallOption) (*jqv1.ReportResultsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	resp := &jqv1.ReportResultsResponse{}
	for _, r := range in.GetResults() {
		code := f.answer(len(f.calls), r)
		resp.Outcomes = append(resp.Outcomes, &jqv1.ReportResultOutcome{Code: uint32(code), Message: code.String()})
	}
	return resp, nil
}

// TestDeliverBatch_MalformedIsReportedFailedNotRetriedForever: an outcome the server refuses as
// malformed, or keeps failing on, is replaced by a permanent failure of the job that says why,
// once; if that is refused too, it is dropped.
func TestDeliverBatch_MalformedIsReportedFailedNotRetriedForever(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]codes.Code{"InvalidArgument": codes.InvalidArgument, "Internal": codes.Internal} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := &recordingReports{answer: func(_ int, r *jqv1.ReportResultRequest) codes.Code {
				if r.GetPermanent() && r.GetJobId() == "job-0" {
					return codes.OK
				}
				if r.GetJobId() == "job-0" {
					return bad
				}
				return codes.OK
			}}
			w := reportWorker(f)
			done := make(chan struct{})
			go func() { w.deliverBatch(context.Background(), testReports(2, 10)); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the batch was retried for ever")
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			last := f.calls[len(f.calls)-1].GetResults()
			require.Len(t, last, 1)
			require.Equal(t, "job-0", last[0].GetJobId())
			require.True(t, last[0].GetPermanent(), "the job is failed for good")
			require.False(t, last[0].GetSuccess())
			require.Contains(t, last[0].GetErrorMessage(), "refused this job's report")
			require.LessOrEqual(t, len(f.calls), maxInternalErrors+1)
		})
	}
	t.Run("RefusedTwiceIsDropped", func(t *testing.T) {
		t.Parallel()
		f := &recordingReports{answer: func(int, *jqv1.ReportResultRequest) codes.Code { return codes.InvalidArgument }}
		w := reportWorker(f)
		w.deliverBatch(context.Background(), testReports(1, 10))
		require.Len(t, f.calls, 2, "the outcome, then its replacement; nothing after")
	})
}
