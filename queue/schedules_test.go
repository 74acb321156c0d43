package queue_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/queue"
)

func (b *testBundle) schedule(t *testing.T, p queue.ScheduleParams) *queue.Schedule {
	t.Helper()
	if p.Queue == "" {
		p.Queue = "default"
	}
	if p.Payload == nil {
		p.Payload = json.RawMessage(`{"command": ["true"]}`)
	}
	s, err := b.store.CreateSchedule(b.ctx, p)
	require.NoError(t, err)
	return s
}

func (b *testBundle) fires(t *testing.T, name string) []queue.ScheduleFire {
	t.Helper()
	f, err := b.store.ScheduleFires(b.ctx, name, 1000)
	require.NoError(t, err)
	return f
}

func TestSchedules_Store(t *testing.T) {
	t.Parallel()

	t.Run("CreateReplaceAndConfigured", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.schedule(t, queue.ScheduleParams{Name: "nightly", Cron: "0 3 * * *", TimeZone: "Europe/Paris", Actor: "tester"})
		require.Equal(t, "Europe/Paris", s.TimeZone)
		require.Equal(t, queue.OverlapAllow, s.Overlap)
		require.Equal(t, queue.CatchUpNone, s.CatchUp)
		require.True(t, s.NextFireAt.IsZero(), "the leader computes it")
		_, err := b.store.CreateSchedule(b.ctx, queue.ScheduleParams{Name: "nightly", Cron: "@hourly", Queue: "default", Payload: json.RawMessage(`{}`)})
		require.ErrorIs(t, err, queue.ErrExists)
		r := b.schedule(t, queue.ScheduleParams{Name: "nightly", Cron: "@hourly", Replace: true})
		require.Equal(t, "@hourly", r.Cron)

		c := b.schedule(t, queue.ScheduleParams{Name: "configured", Cron: "@daily", FromConfig: true, Replace: true})
		require.True(t, c.FromConfig)
		_, err = b.store.CreateSchedule(b.ctx, queue.ScheduleParams{Name: "configured", Cron: "@hourly", Queue: "default",
			Payload: json.RawMessage(`{}`), Replace: true})
		require.ErrorIs(t, err, queue.ErrWrongState, "the API cannot redefine a schedule of the configuration")
		_, err = b.store.DeleteSchedule(b.ctx, "configured", "tester", false)
		require.ErrorIs(t, err, queue.ErrWrongState)
		_, err = b.store.DeleteSchedule(b.ctx, "configured", "tester", true)
		require.NoError(t, err)
		_, err = b.store.PauseSchedule(b.ctx, "configured", "tester")
		require.ErrorIs(t, err, queue.ErrNotFound)
	})

	t.Run("EachTimeFiresOnceWhoeverFiresIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.schedule(t, queue.ScheduleParams{Name: "tick", Cron: "@every 1s"})
		at := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
		results := make([]queue.FireResult, 8)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				r, err := b.store.FireSchedule(b.ctx, s.Name, s.UpdatedAt, at, at.Add(time.Second))
				if err != nil {
					t.Errorf("fire %d: %v", i, err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		submitted := 0
		for _, r := range results {
			require.Contains(t, []string{queue.FireSubmitted, queue.FireDuplicate}, r.Outcome)
			require.Equal(t, results[0].JobID, r.JobID, "duplicates name the job of the first")
			if r.Outcome == queue.FireSubmitted {
				submitted++
			}
		}
		require.Equal(t, 1, submitted)
		fires := b.fires(t, "tick")
		require.Len(t, fires, 1)
		require.Equal(t, at, fires[0].FireTime.UTC())
		got, err := b.store.GetSchedule(b.ctx, "tick")
		require.NoError(t, err)
		require.Equal(t, at.Add(time.Second), got.NextFireAt.UTC())
		require.Equal(t, results[0].JobID, got.LastJobID)

		// A fire computed from an older definition does nothing.
		r := b.schedule(t, queue.ScheduleParams{Name: "tick", Cron: "@every 2s", Replace: true})
		res, err := b.store.FireSchedule(b.ctx, "tick", s.UpdatedAt, at.Add(time.Second), at.Add(2*time.Second))
		require.NoError(t, err)
		require.Equal(t, queue.FireChanged, res.Outcome)
		require.True(t, r.NextFireAt.IsZero(), "a new expression is computed again")
	})

	t.Run("OverlapSkipPauseResumeTrigger", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.schedule(t, queue.ScheduleParams{Name: "slow", Cron: "@every 1s", Overlap: queue.OverlapSkip})
		at := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
		first, err := b.store.FireSchedule(b.ctx, "slow", s.UpdatedAt, at, at.Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, queue.FireSubmitted, first.Outcome)
		second, err := b.store.FireSchedule(b.ctx, "slow", s.UpdatedAt, at.Add(time.Second), at.Add(2*time.Second))
		require.NoError(t, err)
		require.Equal(t, queue.FireSkipped, second.Outcome, "the first job is still PENDING")
		_, err = b.store.Cancel(b.ctx, first.JobID, "test")
		require.NoError(t, err)
		third, err := b.store.FireSchedule(b.ctx, "slow", s.UpdatedAt, at.Add(2*time.Second), at.Add(3*time.Second))
		require.NoError(t, err)
		require.Equal(t, queue.FireSubmitted, third.Outcome)

		p, err := b.store.PauseSchedule(b.ctx, "slow", "tester")
		require.NoError(t, err)
		require.True(t, p.Paused)
		res, err := b.store.FireSchedule(b.ctx, "slow", s.UpdatedAt, at.Add(3*time.Second), at.Add(4*time.Second))
		require.NoError(t, err)
		require.Equal(t, queue.FirePaused, res.Outcome)
		job, err := b.store.TriggerSchedule(b.ctx, "slow", "tester")
		require.NoError(t, err)
		require.Equal(t, queue.StatusPending, b.status(t, job), "an operator's trigger fires a paused schedule too")
		r, err := b.store.ResumeSchedule(b.ctx, "slow", "tester")
		require.NoError(t, err)
		require.False(t, r.Paused)
		require.True(t, r.NextFireAt.IsZero(), "resumed from now: the paused times are not caught up")
		require.Equal(t, []string{queue.FireTriggered, queue.FireSubmitted, queue.FireSkipped, queue.FireSubmitted},
			outcomes(b.fires(t, "slow")))
	})

	t.Run("AQueueGoneFailsTheFire", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.pool.Exec(b.ctx, `SELECT jq.create_queue('brief')`)
		require.NoError(t, err)
		s := b.schedule(t, queue.ScheduleParams{Name: "orphan", Cron: "@hourly", Queue: "brief"})
		_, err = b.pool.Exec(b.ctx, `SELECT jq.delete_queue('brief')`)
		require.NoError(t, err)
		at := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
		res, err := b.store.FireSchedule(b.ctx, "orphan", s.UpdatedAt, at, at.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, queue.FireFailed, res.Outcome)
		got, err := b.store.GetSchedule(b.ctx, "orphan")
		require.NoError(t, err)
		require.Contains(t, got.LastError, "brief")
		require.Equal(t, at.Add(time.Hour), got.NextFireAt.UTC(), "it moves on all the same")
	})
}

func outcomes(fires []queue.ScheduleFire) []string {
	out := make([]string, len(fires))
	for i, f := range fires {
		out[i] = f.Outcome
	}
	return out
}

// TestCron_CatchUp: a schedule whose times went by while no server ran. Late times (within the
// grace) all fire; older ones are skipped (catch-up none) or the latest of them fires (last).
func TestCron_CatchUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		catchUp string
		fired   int // of the times older than the grace
	}{{queue.CatchUpNone, 0}, {queue.CatchUpLast, 1}} {
		t.Run(tc.catchUp, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			s := b.schedule(t, queue.ScheduleParams{Name: "minutely", Cron: "@every 1m", CatchUp: tc.catchUp})
			// Its next time was an hour ago: 60 times are due, 2 of them within the grace.
			var now time.Time
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT now()`).Scan(&now))
			next := now.Add(-time.Hour).Truncate(time.Second)
			moved, err := b.store.AdvanceSchedule(b.ctx, "minutely", s.UpdatedAt, next, 0)
			require.NoError(t, err)
			require.True(t, moved)

			fires := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fires"}, []string{"outcome"})
			cron := queue.NewCron(b.store, func() time.Duration { return time.Hour }, queue.CronConfig{Grace: 150 * time.Second},
				logging.Discard(), fires)
			cron.RunOnce(b.ctx)
			late := 0
			for _, f := range b.fires(t, "minutely") {
				require.Equal(t, queue.FireSubmitted, f.Outcome)
				if time.Since(f.FireTime) <= 150*time.Second+10*time.Second {
					late++
				}
			}
			got := len(b.fires(t, "minutely"))
			require.Equal(t, got-tc.fired, late, "every time within the grace fired")
			require.GreaterOrEqual(t, late, 2)
			sc, err := b.store.GetSchedule(b.ctx, "minutely")
			require.NoError(t, err)
			require.Equal(t, int64(61-got), sc.Missed, "the others (of 61 times) are counted as missed")
			require.True(t, sc.NextFireAt.After(now), "next is to come")
			require.InDelta(t, float64(sc.Missed), testutil.ToFloat64(fires.WithLabelValues(queue.FireMissed)), 0)

			cron.RunOnce(b.ctx)
			require.Len(t, b.fires(t, "minutely"), got, "nothing fires twice")
		})
	}
}

// TestCron_ConfigSchedules: the leader writes the configured schedules, leaves unchanged ones
// alone (their next time too), and deletes those no longer configured.
func TestCron_ConfigSchedules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conf := []queue.ScheduleParams{
		{Name: "a", Cron: "@hourly", Queue: "default", Payload: json.RawMessage(`{}`)},
		{Name: "b", Cron: "@daily", Queue: "default", Payload: json.RawMessage(`{}`), Overlap: queue.OverlapSkip},
	}
	leading := func() time.Duration { return time.Hour }
	cron := queue.NewCron(b.store, leading, queue.CronConfig{Schedules: conf}, logging.Discard(), nil)
	require.True(t, cron.ApplyConfig(b.ctx))
	cron.RunOnce(b.ctx) // computes their first times
	a, err := b.store.GetSchedule(b.ctx, "a")
	require.NoError(t, err)
	require.True(t, a.FromConfig)
	require.False(t, a.NextFireAt.IsZero())

	require.True(t, queue.NewCron(b.store, leading, queue.CronConfig{Schedules: conf[:1]}, logging.Discard(), nil).ApplyConfig(b.ctx))
	again, err := b.store.GetSchedule(b.ctx, "a")
	require.NoError(t, err)
	require.Equal(t, a.NextFireAt, again.NextFireAt, "applying it again changes nothing")
	require.Equal(t, a.UpdatedAt, again.UpdatedAt)
	_, err = b.store.GetSchedule(b.ctx, "b")
	require.ErrorIs(t, err, queue.ErrNotFound, "no longer configured: deleted")

	bad := queue.NewCron(b.store, leading, queue.CronConfig{Schedules: []queue.ScheduleParams{
		{Name: "c", Cron: "@hourly", Queue: "nope", Payload: json.RawMessage(`{}`)}}}, logging.Discard(), nil)
	require.False(t, bad.ApplyConfig(context.Background()), "a schedule on a missing queue is reported")
}
