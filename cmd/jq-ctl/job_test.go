package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recent matches how a table shows a time a moment ago.
const recent = `(now|\d+s ago)`

func TestJobSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("CommandAfterDashDash", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "-q", "default", "--", "echo", "hi")
		j := b.job(t, id)
		require.Equal(t, map[string]any{"command": []any{"echo", "hi"}}, j.Payload)
		require.Equal(t, "PENDING", j.Status)
		require.Equal(t, "default", j.Queue)
	})

	t.Run("FlagsAfterTheCommandBelongToIt", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--", "grep", "-q", "x", "--", "file")
		require.Equal(t, map[string]any{"command": []any{"grep", "-q", "x", "--", "file"}}, b.job(t, id).Payload)
	})

	t.Run("EnvAndTimeout", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--env", "A=1", "--env", "B=x=y", "--timeout-seconds", "30", "--", "env")
		require.Equal(t, map[string]any{
			"command": []any{"env"}, "env": map[string]any{"A": "1", "B": "x=y"}, "timeout_seconds": json.Number("30"),
		}, decodeNumbers(t, b, id))
	})

	t.Run("PayloadFlagMergesEnv", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--payload", `{"command": ["true"], "env": {"A": "old", "C": "3"}, "n": 12345678901234567890}`, "--env", "A=new")
		require.Equal(t, map[string]any{
			"command": []any{"true"}, "env": map[string]any{"A": "new", "C": "3"}, "n": json.Number("12345678901234567890"),
		}, decodeNumbers(t, b, id))
	})

	t.Run("PayloadFromStdin", func(t *testing.T) {
		t.Parallel()
		r := b.ctlIn(t, `{"kind": "report", "month": 11}`, "job", "submit", "--payload-file", "-", "-o", "json")
		r.requireCode(t, exitOK)
		var v submitView
		r.decode(t, &v)
		require.False(t, v.Deduplicated)
		require.Equal(t, map[string]any{"kind": "report", "month": json.Number("11")}, decodeNumbers(t, b, v.JobID))
	})

	t.Run("PayloadFromFile", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "payload.json")
		require.NoError(t, os.WriteFile(path, []byte(`{"command": ["ls", "-l"]}`), 0o600))
		id := b.submit(t, "--payload-file", path)
		require.Equal(t, map[string]any{"command": []any{"ls", "-l"}}, b.job(t, id).Payload)
	})

	t.Run("PriorityRetriesKey", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--priority", "7", "--max-retries", "5", "--idempotency-key", "order-42", "--key", "tenant-9", "--", "true")
		j := b.job(t, id)
		require.Equal(t, int32(7), j.Priority)
		require.Equal(t, int32(5), j.MaxRetries)
		require.Equal(t, "order-42", j.IdempotencyKey)
		require.Equal(t, "tenant-9", j.ConcurrencyKey)
		require.Regexp(t, `(?m)^CONCURRENCY KEY\s+tenant-9$`, b.ctl(t, "job", "status", id).stdout)

		r := b.ctl(t, "job", "submit", "--idempotency-key", "order-42", "-o", "json", "--", "true")
		r.requireCode(t, exitOK)
		var v submitView
		r.decode(t, &v)
		require.Equal(t, submitView{JobID: id, Deduplicated: true}, v)
		require.Contains(t, r.stderr, "matched job "+id)
	})

	t.Run("DefaultMaxRetriesIsTheQueues", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, int32(3), b.job(t, b.submit(t, "--", "true")).MaxRetries)
	})

	t.Run("Delay", func(t *testing.T) {
		t.Parallel()
		before := time.Now()
		id := b.submit(t, "--delay", "1h", "--", "true")
		j := b.job(t, id)
		require.NotNil(t, j.NotBefore)
		nb, err := time.Parse(time.RFC3339Nano, *j.NotBefore)
		require.NoError(t, err)
		require.WithinDuration(t, before.Add(time.Hour), nb, 5*time.Second)

		r := b.ctl(t, "job", "status", id)
		r.requireCode(t, exitOK)
		require.Regexp(t, `NOT BEFORE\s+in (59m|1h)`, r.stdout)
	})

	t.Run("NotBefore", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--not-before", "2030-01-02T03:04:05Z", "--", "true")
		require.Equal(t, "2030-01-02T03:04:05Z", *b.job(t, id).NotBefore)
	})

	t.Run("YAML", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "-o", "yaml", "job", "submit", "--", "true")
		r.requireCode(t, exitOK)
		var v map[string]any
		r.decodeYAML(t, &v)
		require.Equal(t, false, v["deduplicated"])
		require.NotEmpty(t, v["job_id"])
	})

	t.Run("UnknownQueue", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "submit", "-q", "nope", "--", "true")
		r.requireCode(t, exitNotFound)
		require.Contains(t, r.stderr, "nope")
	})

	t.Run("InvalidQueueName", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "submit", "-q", "no spaces", "--", "true")
		r.requireCode(t, exitInvalid)
		require.Contains(t, r.stderr, `jq-ctl: queue_name "no spaces" is invalid`)
	})
}

// decodeNumbers reads a job's payload keeping numbers as written.
func decodeNumbers(t *testing.T, b *bundle, id string) any {
	t.Helper()
	r := b.ctl(t, "job", "status", id, "-o", "json")
	r.requireCode(t, exitOK)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	var v struct {
		Payload any `json:"payload"`
	}
	require.NoError(t, dec.Decode(&v))
	return v.Payload
}

func TestJobSubmit_Wait(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("Done", func(t *testing.T) {
		w := newTestWorker(t, b)
		done := make(chan result, 1)
		go func() { done <- b.ctl(t, "job", "submit", "--wait", "--", "echo", "hi") }()
		a := w.next()
		require.JSONEq(t, `{"command": ["echo", "hi"]}`, string(a.GetJob().GetPayload()))
		w.report(a, true, "hi\n\x00raw", "")
		r := <-done
		r.requireCode(t, exitOK)
		require.Equal(t, "hi\n\x00raw", r.stdout, "the result, byte for byte")
		require.Empty(t, r.stderr)
	})

	t.Run("DoneJSON", func(t *testing.T) {
		w := newTestWorker(t, b)
		done := make(chan result, 1)
		go func() { done <- b.ctl(t, "job", "submit", "--wait", "-o", "json", "--", "date") }()
		w.report(w.next(), true, "Thu Nov 27\n", "")
		r := <-done
		r.requireCode(t, exitOK)
		var v jobView
		r.decode(t, &v)
		require.Equal(t, "DONE", v.Status)
		require.Equal(t, "Thu Nov 27\n", v.Result)
		require.Equal(t, "text", v.ResultEncoding)
		require.NotNil(t, v.CompletedAt)
	})

	t.Run("DeadLettered", func(t *testing.T) {
		w := newTestWorker(t, b)
		done := make(chan result, 1)
		go func() { done <- b.ctl(t, "job", "submit", "--wait", "--max-retries", "0", "--", "false") }()
		a := w.next()
		w.report(a, false, "", "exit status 1: disk full")
		r := <-done
		r.requireCode(t, exitDeadLettered)
		require.Empty(t, r.stdout)
		require.Equal(t, "jq-ctl: job "+a.GetJob().GetJobId()+" dead-lettered: exit status 1: disk full\n", r.stderr)
	})

	t.Run("WaitTimeout", func(t *testing.T) {
		t.Parallel()
		// No worker takes jobs from the default queue at this point of the test? Another
		// subtest's worker might, so submit to a queue nobody serves.
		b.ctl(t, "queue", "create", "unserved").requireCode(t, exitOK)
		r := b.ctl(t, "job", "submit", "-q", "unserved", "--wait", "--wait-timeout", "500ms", "--", "true")
		r.requireCode(t, exitWaitTimeout)
		require.Contains(t, r.stderr, "is still PENDING after --wait-timeout 500ms")
	})
}

func TestJobStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.submit(t, "--priority", "3", "--", "echo", "hi")

	t.Run("Table", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "status", id)
		r.requireCode(t, exitOK)
		for _, want := range []string{"JOB ID", id, "STATUS", "PENDING", "PRIORITY", "CREATED", "NOT BEFORE", `{"command":["echo","hi"]}`} {
			require.Contains(t, r.stdout, want)
		}
		require.Regexp(t, `(?m)^STARTED\s+-$`, r.stdout)
	})

	t.Run("JSON", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "-o", "json", "job", "status", id)
		r.requireCode(t, exitOK)
		var v map[string]any
		r.decode(t, &v)
		for _, key := range []string{"job_id", "queue", "status", "priority", "attempt", "retry_count", "max_retries", "worker_id",
			"idempotency_key", "payload", "result", "result_encoding", "error_message", "created_at", "updated_at", "not_before",
			"started_at", "completed_at"} {
			require.Contains(t, v, key)
		}
		require.Equal(t, id, v["job_id"])
		require.Equal(t, "PENDING", v["status"])
		require.Nil(t, v["started_at"])
		_, err := time.Parse(time.RFC3339Nano, v["created_at"].(string))
		require.NoError(t, err)
	})

	t.Run("YAML", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "status", "--output", "yaml", id)
		r.requireCode(t, exitOK)
		require.Contains(t, r.stdout, "status: PENDING\n")
		require.Contains(t, r.stdout, "payload:\n  command:\n    - echo\n    - hi\n")
		var m map[string]any
		r.decodeYAML(t, &m)
		require.Equal(t, id, m["job_id"])
		require.Equal(t, 3, m["priority"])
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		missing := "0191e3a0-0000-7000-8000-000000000000"
		r := b.ctl(t, "job", "status", missing)
		r.requireCode(t, exitNotFound)
		require.Equal(t, "jq-ctl: job "+missing+" not found\n", r.stderr)
	})
}

func TestJobCancelAndRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("CancelPendingThenRetry", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--delay", "1h", "--", "true")
		r := b.ctl(t, "job", "cancel", id)
		r.requireCode(t, exitOK)
		require.Equal(t, "job "+id+" cancelled (CANCELLED)\n", r.stdout)

		r = b.ctl(t, "job", "cancel", id)
		r.requireCode(t, exitConflict)

		r = b.ctl(t, "job", "retry", id, "-o", "json")
		r.requireCode(t, exitOK)
		var v jobView
		r.decode(t, &v)
		require.Equal(t, "PENDING", v.Status)
		require.Equal(t, int32(0), v.RetryCount)

		r = b.ctl(t, "job", "retry", id)
		r.requireCode(t, exitConflict) // a PENDING job cannot be retried
	})

	t.Run("CancelJSON", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--delay", "1h", "--", "true")
		r := b.ctl(t, "job", "cancel", id, "-o", "json")
		r.requireCode(t, exitOK)
		var v jobView
		r.decode(t, &v)
		require.Equal(t, id, v.JobID)
		require.Equal(t, "CANCELLED", v.Status)
	})

	t.Run("RetryTable", func(t *testing.T) {
		t.Parallel()
		id := b.submit(t, "--delay", "1h", "--", "true")
		b.ctl(t, "job", "cancel", id).requireCode(t, exitOK)
		r := b.ctl(t, "job", "retry", id)
		r.requireCode(t, exitOK)
		require.Equal(t, "job "+id+" is PENDING again\n", r.stdout)
	})

	t.Run("CancelDone", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "done-q").requireCode(t, exitOK)
		w := newTestWorker(t, b, "done-q")
		id := b.submit(t, "-q", "done-q", "--", "true")
		w.report(w.next(), true, "", "")
		require.Equal(t, "DONE", b.job(t, id).Status)
		r := b.ctl(t, "job", "cancel", id)
		r.requireCode(t, exitConflict)
		require.Contains(t, r.stderr, id)
	})

	t.Run("UnknownJob", func(t *testing.T) {
		t.Parallel()
		for _, cmd := range []string{"cancel", "retry", "logs"} {
			r := b.ctl(t, "job", cmd, "0191e3a0-0000-7000-8000-000000000001")
			r.requireCode(t, exitNotFound)
		}
	})
}

func TestJobList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.ctl(t, "queue", "create", "emails").requireCode(t, exitOK)
	var ids []string
	for range 3 {
		ids = append(ids, b.submit(t, "-q", "emails", "--", "true"))
	}
	other := b.submit(t, "--delay", "1h", "--", "true")
	b.ctl(t, "job", "cancel", other).requireCode(t, exitOK)

	t.Run("Table", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "list")
		r.requireCode(t, exitOK)
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		require.Len(t, lines, 5)
		require.Regexp(t, `^JOB ID\s+QUEUE\s+STATUS\s+PRIORITY\s+ATTEMPT\s+CREATED\s+UPDATED\s+WORKER$`, lines[0])
		require.Regexp(t, `^`+other+`\s+default\s+CANCELLED\s+0\s+0\s+`+recent+`\s+`+recent+`\s+-$`, lines[1], "newest first, aligned")
		require.Equal(t, strings.Index(lines[0], "QUEUE"), strings.Index(lines[1], "default"), "columns aligned")
	})

	t.Run("JSONFiltered", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "list", "-q", "emails", "--status", "pending", "-o", "json")
		r.requireCode(t, exitOK)
		var v []jobView
		r.decode(t, &v)
		require.Len(t, v, 3)
		require.Equal(t, ids[2], v[0].JobID)
		for _, j := range v {
			require.Equal(t, "emails", j.Queue)
		}
		r = b.ctl(t, "job", "list", "--status", "Cancelled", "-o", "json")
		r.requireCode(t, exitOK)
		r.decode(t, &v)
		require.Len(t, v, 1)
		require.Equal(t, other, v[0].JobID)
	})

	t.Run("EmptyIsAnArray", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "list", "--status", "running", "-o", "json")
		r.requireCode(t, exitOK)
		require.Equal(t, "[]\n", r.stdout)
		r = b.ctl(t, "job", "list", "--status", "running", "-o", "yaml")
		r.requireCode(t, exitOK)
		require.Equal(t, "[]\n", r.stdout)
	})

	t.Run("YAMLIsASequence", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "list", "-q", "emails", "-o", "yaml")
		r.requireCode(t, exitOK)
		var v []map[string]any
		r.decodeYAML(t, &v)
		require.Len(t, v, 3)
		require.Equal(t, "emails", v[0]["queue"])
	})

	t.Run("Pages", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "list", "--limit", "2", "-o", "json")
		r.requireCode(t, exitOK)
		var first []jobView
		r.decode(t, &first)
		require.Len(t, first, 2)
		_, token, ok := strings.Cut(r.stderr, "--page-token ")
		require.True(t, ok, "stderr: %s", r.stderr)
		token, _, _ = strings.Cut(token, " ")

		r = b.ctl(t, "job", "list", "--limit", "10", "--page-token", token, "-o", "json")
		r.requireCode(t, exitOK)
		var rest []jobView
		r.decode(t, &rest)
		require.Len(t, rest, 2)
		require.Empty(t, r.stderr, "no more pages")

		r = b.ctl(t, "job", "list", "--all", "-o", "json")
		r.requireCode(t, exitOK)
		var all []jobView
		r.decode(t, &all)
		require.Len(t, all, 4)
		require.Equal(t, append(first, rest...), all)
	})

	t.Run("UnknownQueue", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "job", "list", "-q", "bad name")
		r.requireCode(t, exitInvalid)
	})
}

func TestJobLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.submit(t, "--delay", "1h", "--", "true")
	b.ctl(t, "job", "cancel", id).requireCode(t, exitOK)

	r := b.ctl(t, "job", "logs", id)
	r.requireCode(t, exitOK)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^WHEN\s+FROM\s+TO\s+REASON\s+ATTEMPT\s+WORKER\s+BY\s+ERROR$`, lines[0])
	require.Regexp(t, `^`+recent+`\s+-\s+PENDING\s+SUBMITTED\s+0\s+-\s+-\s+-$`, lines[1])
	require.Regexp(t, `^`+recent+`\s+PENDING\s+CANCELLED\s+CANCELLED\s+0\s+-\s+test-admin-\d+\s`, lines[2], "the cancel names its actor, the admin key")

	r = b.ctl(t, "job", "logs", id, "-o", "json")
	r.requireCode(t, exitOK)
	var events []map[string]any
	r.decode(t, &events)
	require.Len(t, events, 2)
	require.Nil(t, events[0]["from_status"])
	require.Equal(t, "PENDING", events[0]["to_status"])
	require.Equal(t, "SUBMITTED", events[0]["reason"])
	require.Equal(t, "PENDING", events[1]["from_status"])
	require.Equal(t, "CANCELLED", events[1]["reason"])
	for _, key := range []string{"id", "job_id", "attempt", "worker_id", "error_message", "occurred_at"} {
		require.Contains(t, events[1], key)
	}

	r = b.ctl(t, "job", "logs", id, "-o", "yaml")
	r.requireCode(t, exitOK)
	var seq []map[string]any
	r.decodeYAML(t, &seq)
	require.Len(t, seq, 2)
}
