package grpc

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
