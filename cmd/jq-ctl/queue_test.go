package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("CreateAndList", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "queue", "create", "reports", "--max-retries", "5", "--ttl", "24h")
		r.requireCode(t, exitOK)
		require.Equal(t, "queue reports created (max retries 5, TTL 24h)\n", r.stdout)

		r = b.ctl(t, "queue", "create", "-o", "json", "plain")
		r.requireCode(t, exitOK)
		var q queueView
		r.decode(t, &q)
		require.Equal(t, "plain", q.Name)
		require.Equal(t, int32(3), q.MaxRetries)
		require.Equal(t, int32(0), q.TTLSeconds)
		require.NotNil(t, q.CreatedAt)

		r = b.ctl(t, "queue", "list")
		r.requireCode(t, exitOK)
		require.Regexp(t, `(?m)^NAME\s+STATE\s+MAX RETRIES\s+TTL\s+MAX RUNNING\s+RATE\s+PER KEY\s+CREATED$`, r.stdout)
		require.Regexp(t, `(?m)^reports\s+active\s+5\s+24h\s+-\s+-\s+-\s+`+recent+`$`, r.stdout)
		require.Regexp(t, `(?m)^default\s+\w+\s+3\s+-\s+`, r.stdout)

		r = b.ctl(t, "queue", "list", "-o", "json")
		r.requireCode(t, exitOK)
		var list []queueView
		r.decode(t, &list)
		names := map[string]queueView{}
		for _, q := range list {
			names[q.Name] = q
		}
		require.Equal(t, int32(86400), names["reports"].TTLSeconds)
		require.Contains(t, names, "default")

		r = b.ctl(t, "queue", "list", "-o", "yaml")
		r.requireCode(t, exitOK)
		var seq []map[string]any
		r.decodeYAML(t, &seq)
		require.GreaterOrEqual(t, len(seq), 3)
		require.Contains(t, seq[0], "ttl_seconds")
	})

	t.Run("CreateExisting", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "queue", "create", "default")
		r.requireCode(t, exitConflict)
		require.Contains(t, r.stderr, "default")
	})

	t.Run("CreateInvalidName", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "queue", "create", "has space")
		r.requireCode(t, exitInvalid)
		require.Contains(t, r.stderr, `name "has space" is invalid`)
	})

	t.Run("DeleteWithJobs", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "busy").requireCode(t, exitOK)
		b.submit(t, "-q", "busy", "--delay", "1h", "--", "true")
		r := b.ctl(t, "queue", "delete", "busy")
		r.requireCode(t, exitConflict)
		require.Contains(t, r.stderr, "busy")
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "gone").requireCode(t, exitOK)
		r := b.ctl(t, "queue", "delete", "gone")
		r.requireCode(t, exitOK)
		require.Equal(t, "queue gone deleted\n", r.stdout)

		r = b.ctl(t, "queue", "delete", "gone", "-o", "json")
		r.requireCode(t, exitNotFound)
		require.Empty(t, r.stdout)

		b.ctl(t, "queue", "create", "gone2").requireCode(t, exitOK)
		r = b.ctl(t, "queue", "delete", "gone2", "-o", "json")
		r.requireCode(t, exitOK)
		var v deletedView
		r.decode(t, &v)
		require.Equal(t, deletedView{Queue: "gone2", Deleted: true}, v)
	})

	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "counted").requireCode(t, exitOK)
		b.submit(t, "-q", "counted", "--", "true")
		b.submit(t, "-q", "counted", "--", "true")
		cancelled := b.submit(t, "-q", "counted", "--delay", "1h", "--", "true")
		b.ctl(t, "job", "cancel", cancelled).requireCode(t, exitOK)

		r := b.ctl(t, "queue", "stats", "counted")
		r.requireCode(t, exitOK)
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		require.Len(t, lines, 2)
		require.Regexp(t, `^QUEUE\s+PENDING\s+ASSIGNED\s+RUNNING\s+DONE\s+FAILED\s+DEAD\s+CANCELLED\s+OLDEST PENDING\s+DONE/MIN\s+FAILED/MIN$`, lines[0])
		require.Regexp(t, `^counted\s+2\s+0\s+0\s+0\s+0\s+0\s+1\s+(\d+s|-)\s+0\s+0$`, lines[1])

		r = b.ctl(t, "queue", "stats", "-o", "json")
		r.requireCode(t, exitOK)
		var stats []statsView
		r.decode(t, &stats)
		var found bool
		for _, s := range stats {
			if s.Queue == "counted" {
				found = true
				require.Equal(t, int64(2), s.Pending)
				require.Equal(t, int64(1), s.Cancelled)
				require.False(t, s.Paused)
			}
		}
		require.True(t, found, "every queue's stats: %+v", stats)

		r = b.ctl(t, "queue", "stats", "counted", "-o", "yaml")
		r.requireCode(t, exitOK)
		var seq []map[string]any
		r.decodeYAML(t, &seq)
		require.Len(t, seq, 1)
		require.Equal(t, 2, seq[0]["pending"])
		require.Contains(t, seq[0], "oldest_pending_age_seconds")
	})

	t.Run("StatsUnknownQueue", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "queue", "stats", "nope")
		r.requireCode(t, exitNotFound)
		require.Contains(t, r.stderr, "queue nope does not exist")
	})
}

func TestQueueFlowControl(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("PauseResume", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "held").requireCode(t, exitOK)
		r := b.ctl(t, "queue", "pause", "held")
		r.requireCode(t, exitOK)
		require.Equal(t, "queue held paused\n", r.stdout)
		r = b.ctl(t, "queue", "pause", "held", "-o", "json")
		r.requireCode(t, exitOK)
		require.Equal(t, "{}\n", r.stdout, "already paused: nothing changed")

		r = b.ctl(t, "queue", "list")
		r.requireCode(t, exitOK)
		require.Regexp(t, `(?m)^held\s+PAUSED\s+3\s+`, r.stdout)
		r = b.ctl(t, "queue", "stats", "held", "-o", "json")
		r.requireCode(t, exitOK)
		var stats []statsView
		r.decode(t, &stats)
		require.True(t, stats[0].Paused)
		r = b.ctl(t, "queue", "stats", "held")
		require.Contains(t, r.stdout, "held (paused)")

		r = b.ctl(t, "queue", "resume", "held", "-o", "json")
		r.requireCode(t, exitOK)
		var v pausedView
		r.decode(t, &v)
		require.Equal(t, []string{"held"}, v.Resumed)
		r = b.ctl(t, "queue", "resume", "held")
		r.requireCode(t, exitOK)
		require.Equal(t, "no queue resumed: already so\n", r.stdout)
	})

	t.Run("PauseErrors", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "pause").requireCode(t, exitUsage)
		b.ctl(t, "queue", "pause", "--all", "default").requireCode(t, exitUsage)
		r := b.ctl(t, "queue", "pause", "nope")
		r.requireCode(t, exitNotFound)
		require.Contains(t, r.stderr, "queue nope does not exist")
		b.ctl(t, "queue", "resume", "bad name!").requireCode(t, exitInvalid)
	})

	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "limited").requireCode(t, exitOK)
		r := b.ctl(t, "queue", "update", "limited", "--max-running", "3", "--rate", "100/1s", "--max-running-per-key", "2")
		r.requireCode(t, exitOK)
		require.Equal(t, "queue limited: max running 3, rate 100/1s, max running per key 2\n", r.stdout)

		r = b.ctl(t, "queue", "update", "limited", "--rate", "5000/m", "-o", "json")
		r.requireCode(t, exitOK)
		var q queueView
		r.decode(t, &q)
		require.Equal(t, queueView{Name: "limited", MaxRetries: 3, MaxRunning: 3, Rate: "5000/1m", MaxRunningPerKey: 2,
			CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}, q, "flags not given keep their limits")

		r = b.ctl(t, "queue", "list")
		require.Regexp(t, `(?m)^limited\s+active\s+3\s+-\s+3\s+5000/1m\s+2\s+`, r.stdout)

		r = b.ctl(t, "queue", "update", "limited", "--rate", "none", "--max-running", "0", "--max-running-per-key", "0")
		r.requireCode(t, exitOK)
		require.Equal(t, "queue limited: max running -, rate none, max running per key -\n", r.stdout)
	})

	t.Run("UpdateErrors", func(t *testing.T) {
		t.Parallel()
		for args, code := range map[string]int{
			"default":                       exitUsage, // nothing to change
			"default --rate 10":             exitInvalid,
			"default --rate x/1s":           exitInvalid,
			"default --rate 10/forever":     exitInvalid,
			"default --rate 10/48h":         exitInvalid,
			"default --max-running -1":      exitInvalid,
			"default --max-running many":    exitUsage,
			"default --rate 20000/1s":       exitInvalid, // over the server's 10000
			"nope --max-running 1":          exitNotFound,
			"default extra --max-running 1": exitUsage,
		} {
			r := b.ctl(t, append([]string{"queue", "update"}, strings.Fields(args)...)...)
			r.requireCode(t, code)
			require.NotEmpty(t, r.stderr, args)
		}
	})

	t.Run("BulkCancel", func(t *testing.T) {
		t.Parallel()
		b.ctl(t, "queue", "create", "doomed").requireCode(t, exitOK)
		for range 3 {
			b.submit(t, "-q", "doomed", "--delay", "1h", "--", "true")
		}

		r := b.ctlIn(t, "n\n", "job", "cancel", "--queue", "doomed", "--status", "pending")
		require.Equal(t, exitFailure, r.code)
		// The question, then (after the answer the terminal echoes) the error.
		require.Equal(t, "cancel 3 PENDING jobs in queue doomed? [y/N] jq-ctl: not confirmed: nothing done\n", r.stderr)

		r = b.ctlIn(t, "yes\n", "job", "cancel", "--queue", "doomed")
		r.requireCode(t, exitOK)
		require.Equal(t, "3 unfinished jobs in queue doomed cancelled\n", r.stdout)

		r = b.ctl(t, "job", "cancel", "--queue", "doomed", "--yes", "-o", "json")
		r.requireCode(t, exitOK)
		var v cancelledView
		r.decode(t, &v)
		require.Equal(t, cancelledView{Queue: "doomed"}, v)

		r = b.ctl(t, "job", "list", "-q", "doomed", "--status", "cancelled", "-o", "json")
		var jobs []jobView
		r.decode(t, &jobs)
		require.Len(t, jobs, 3)
	})

	t.Run("BulkCancelErrors", func(t *testing.T) {
		t.Parallel()
		for args, code := range map[string]int{
			"--status pending": exitUsage, // which queue?
			"--all-queues":     exitUsage, // needs a status
			"--queue a --all-queues --status pending":              exitUsage,
			"--queue default --status done":                        exitInvalid,
			"--queue default --status bogus":                       exitInvalid,
			"--queue default --limit 0":                            exitInvalid,
			"--queue nope --yes":                                   exitNotFound,
			"0191e3a0-7c1d-7000-8000-000000000001 --queue default": exitUsage,
		} {
			r := b.ctl(t, append([]string{"job", "cancel"}, strings.Fields(args)...)...)
			r.requireCode(t, code)
			require.NotEmpty(t, r.stderr, args)
		}
	})
}
