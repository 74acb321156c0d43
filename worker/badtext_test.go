package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/worker"
)

// TestWorker_AnyBytesInTheErrorEndTheJob: error text that is not valid UTF-8, or holds NUL
// bytes, cut in the middle of a character, still ends the attempt: the job does not stay
// RUNNING while its outcome fails to encode.
func TestWorker_AnyBytesInTheErrorEndTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bad := "bad \xff\xfe bytes \x00 and a split " + strings.Repeat("é", 40000) + "\xc3"
	b.run(t, worker.HandlerFunc(func(ctx context.Context, j worker.Job) ([]byte, error) {
		return nil, worker.Permanent(errors.New(bad))
	}), nil)
	id := b.submit(t, `{}`)
	j := b.waitStatus(t, id, queue.StatusDeadLettered, 15*time.Second)
	require.True(t, utf8.ValidString(j.ErrorMessage))
	require.NotContains(t, j.ErrorMessage, "\x00")
	require.Contains(t, j.ErrorMessage, "bad \uFFFD\uFFFD bytes")
}

// TestExec_StderrOfAnyBytes: a subprocess writing raw bytes to stderr fails cleanly too.
func TestExec_StderrOfAnyBytes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.run(t, worker.Exec{MaxOutputBytes: 1024}, nil)
	id := b.submit(t, `{"command": ["sh", "-c", "printf 'x\\377\\000y'; head -c 3000 /dev/zero | tr '\\000' '\\303' >&2; exit 3"]}`,
		func(p *queue.SubmitParams) { zero := 0; p.MaxRetries = &zero })
	j := b.waitStatus(t, id, queue.StatusDeadLettered, 15*time.Second)
	require.True(t, utf8.ValidString(j.ErrorMessage))
	require.Contains(t, j.ErrorMessage, "exit status 3")
}
