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
		require.Regexp(t, `(?m)^NAME\s+MAX RETRIES\s+TTL\s+CREATED$`, r.stdout)
		require.Regexp(t, `(?m)^reports\s+5\s+24h\s+`+recent+`$`, r.stdout)
		require.Regexp(t, `(?m)^default\s+3\s+-\s+`, r.stdout)

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
		require.Regexp(t, `^QUEUE\s+PENDING\s+ASSIGNED\s+RUNNING\s+DONE\s+FAILED\s+DEAD\s+OLDEST PENDING\s+DONE/MIN\s+FAILED/MIN$`, lines[0])
		require.Regexp(t, `^counted\s+2\s+0\s+0\s+0\s+0\s+1\s+(\d+s|-)\s+0\s+0$`, lines[1])

		r = b.ctl(t, "queue", "stats", "-o", "json")
		r.requireCode(t, exitOK)
		var stats []statsView
		r.decode(t, &stats)
		var found bool
		for _, s := range stats {
			if s.Queue == "counted" {
				found = true
				require.Equal(t, int64(2), s.Pending)
				require.Equal(t, int64(1), s.DeadLettered)
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
