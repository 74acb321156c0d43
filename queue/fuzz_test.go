package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

// FuzzSubmit throws arbitrary input at the submit path: every input must either insert exactly
// the job it describes, or be refused with ErrInvalid or ErrNotFound and insert nothing; never
// another error. The seeds in testdata/fuzz/FuzzSubmit run with every `go test`.
func FuzzSubmit(f *testing.F) {
	f.Add("default", []byte(`{"command": ["echo", "hi"]}`), 0, -1, "")
	f.Add("default", []byte(`{}`), 9, 0, "key-1")
	f.Add("", []byte(`{}`), 0, -1, "")
	f.Add("default", []byte(`not json`), 0, -1, "")
	f.Add("default", []byte(`{"a": "\u0000"}`), 0, -1, "")
	f.Add("default", []byte(`[]`), 10, -1, "")
	f.Add("nope", []byte(`1`), -3, 2000, "k")
	f.Add("default", []byte(`"x"`), 5, 3, "nul\x00key")
	f.Add("default\x00", []byte(`null`), 1, 1, "")

	pool := testdb.Pool(f)
	store := queue.NewStore(pool)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, queueName string, payload []byte, priority, maxRetries int, key string) {
		p := queue.SubmitParams{Queue: queueName, Payload: payload, Priority: priority, IdempotencyKey: key}
		if maxRetries >= 0 {
			p.MaxRetries = &maxRetries
		}
		var before int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs`).Scan(&before))

		res, err := store.Submit(ctx, p)

		valid := queueName == "default" && priority >= 0 && priority <= 9 && json.Valid(payload) &&
			(maxRetries < 0 || maxRetries <= 1000)
		if err != nil {
			if !errors.Is(err, queue.ErrInvalid) && !errors.Is(err, queue.ErrNotFound) {
				t.Fatalf("submit %+v: unexpected error kind: %v", p, err)
			}
			var after int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs`).Scan(&after))
			require.Equal(t, before, after, "a refused submit inserted a job")
			if valid && utf8.ValidString(key) && utf8.Valid(payload) {
				// PostgreSQL refuses NUL in text and \u0000 in jsonb; anything else valid must pass.
				var pgErr *queue.Error
				require.ErrorAs(t, err, &pgErr)
				require.Regexp(t, `(?i)unicode|0x00|null character|invalid byte sequence`, err.Error(), "valid input refused: %+v", p)
			}
			return
		}
		require.True(t, valid, "invalid input accepted: %+v", p)
		job, err := store.GetJob(ctx, res.ID)
		require.NoError(t, err)
		require.Equal(t, queueName, job.Queue)
		if !res.Inserted {
			// An earlier input used the same key: the first job wins, whatever this one says.
			require.NotEmpty(t, key, "deduplicated without a key")
			require.Equal(t, key, job.IdempotencyKey)
			return
		}
		require.Equal(t, priority, job.Priority)
		if maxRetries >= 0 {
			require.Equal(t, maxRetries, job.MaxRetries)
		}
		require.JSONEq(t, string(payload), string(job.Payload))
	})
}
