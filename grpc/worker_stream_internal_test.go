package grpc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// TestWorkerStream_EndWhileLeaving: a scheduler that finds a deregistering worker OFFLINE
// asks its stream to end as for a lost worker; the worker, which is leaving, gets a clean end.
func TestWorkerStream_EndWhileLeaving(t *testing.T) {
	t.Parallel()
	newStream := func() *workerStream {
		return &workerStream{goodbye: make(chan struct{}), kicked: make(chan error, 1)}
	}

	lost := newStream()
	lost.End(queue.EndReregister, "declared lost")
	require.Equal(t, codes.FailedPrecondition, status.Code(<-lost.kicked))

	leaving := newStream()
	leaving.leaving.Store(true)
	leaving.End(queue.EndReregister, "declared lost")
	require.Empty(t, leaving.kicked)
	select {
	case <-leaving.goodbye:
	default:
		t.Fatal("the stream did not end cleanly")
	}

	superseded := newStream()
	superseded.leaving.Store(true)
	superseded.End(queue.EndSuperseded, "another process took the id")
	require.Equal(t, codes.Aborted, status.Code(<-superseded.kicked), "superseded stays superseded")
}

// recordingStream is the server side of a StreamJobs call that records what is sent; Send
// fails once failAfter messages went out (failAfter < 0: never).
type recordingStream struct {
	grpc.ServerStream
	msgs      []*jqv1.StreamJobsResponse
	failAfter int
}

func (s *recordingStream) Send(m *jqv1.StreamJobsResponse) error {
	if s.failAfter >= 0 && len(s.msgs) >= s.failAfter {
		return errors.New("stream broke")
	}
	s.msgs = append(s.msgs, m)
	return nil
}

// TestWorkerStream_SendBatches: a worker that accepts batches gets a cycle's jobs in as few
// messages as the payload bound allows, in order; any other gets one message per job; a
// broken stream says how many jobs went out before it broke.
func TestWorkerStream_SendBatches(t *testing.T) {
	t.Parallel()
	ttls := &queueTTLs{list: func(context.Context) ([]*queue.Queue, error) {
		return []*queue.Queue{{Name: "q", TTL: time.Minute}}, nil
	}, maxAge: time.Hour}
	jobs := func(sizes ...int) []*queue.Job {
		out := make([]*queue.Job, len(sizes))
		for i, n := range sizes {
			out[i] = &queue.Job{ID: uuid.New(), Queue: "q", Payload: []byte(strings.Repeat("x", n)), Attempt: i + 1}
		}
		return out
	}
	// What each message carries, as indexes into the jobs sent.
	carried := func(t *testing.T, sent []*queue.Job, msgs []*jqv1.StreamJobsResponse) [][]int {
		t.Helper()
		index := make(map[string]int, len(sent))
		for i, j := range sent {
			index[j.ID.String()] = i
		}
		var out [][]int
		for _, m := range msgs {
			as := m.GetAssignments().GetAssignments()
			if a := m.GetAssignment(); a != nil {
				as = []*jqv1.JobAssignment{a}
			}
			var got []int
			for _, a := range as {
				i := index[a.GetJob().GetJobId()]
				require.Equal(t, int32(sent[i].Attempt), a.GetAttempt())
				require.Equal(t, time.Minute, a.GetQueueTtl().AsDuration())
				got = append(got, i)
			}
			out = append(out, got)
		}
		return out
	}

	small := jobs(10, 10, 10, 10, 10)
	single := &recordingStream{failAfter: -1}
	n, err := (&workerStream{stream: single, ttls: ttls}).Send(context.Background(), small)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.Equal(t, [][]int{{0}, {1}, {2}, {3}, {4}}, carried(t, small, single.msgs))
	for _, m := range single.msgs {
		require.NotNil(t, m.GetAssignment(), "a worker that did not ask for batches gets no JobAssignments")
	}

	batched := &recordingStream{failAfter: -1}
	n, err = (&workerStream{stream: batched, ttls: ttls, batches: true}).Send(context.Background(), small)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.Equal(t, [][]int{{0, 1, 2, 3, 4}}, carried(t, small, batched.msgs))

	// 100 KiB payloads: two fit in a message, a third does not; one above the bound goes alone.
	big := jobs(100<<10, 100<<10, 100<<10, 300<<10, 10, 10)
	bounded := &recordingStream{failAfter: -1}
	n, err = (&workerStream{stream: bounded, ttls: ttls, batches: true}).Send(context.Background(), big)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	require.Equal(t, [][]int{{0, 1}, {2}, {3}, {4, 5}}, carried(t, big, bounded.msgs))

	broken := &recordingStream{failAfter: 2}
	n, err = (&workerStream{stream: broken, ttls: ttls, batches: true}).Send(context.Background(), big)
	require.Error(t, err)
	require.Equal(t, 3, n, "the messages that went out held jobs 0-2")

	closed := &workerStream{stream: &recordingStream{failAfter: -1}, ttls: ttls, batches: true, closed: true}
	n, err = closed.Send(context.Background(), small)
	require.ErrorIs(t, err, errStreamClosed)
	require.Zero(t, n)
}
