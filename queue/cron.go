package queue

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"

	"github.com/jqhq/jq/queue/cronexpr"
)

// CronStore is what Cron needs from the database.
type CronStore interface {
	DueSchedules(ctx context.Context) ([]*Schedule, time.Time, error)
	NextScheduleFire(ctx context.Context) (time.Time, error)
	FireSchedule(ctx context.Context, name string, version, fireTime, next time.Time) (FireResult, error)
	AdvanceSchedule(ctx context.Context, name string, version, next time.Time, missed int) (bool, error)
	ScheduleFailed(ctx context.Context, name string, version time.Time, message string) error
	CreateSchedule(ctx context.Context, p ScheduleParams) (*Schedule, error)
	ListSchedules(ctx context.Context) ([]*Schedule, error)
	DeleteSchedule(ctx context.Context, name, actor string, force bool) (*Schedule, error)
}

// CronConfig tunes Cron.
type CronConfig struct {
	// Grace is how late a time may still fire (default 1 min). A time older than that when
	// the leader gets to it was missed (no server ran then): the schedule's catch-up policy
	// decides. It must exceed a leader change, so that a handover only makes times late.
	Grace time.Duration
	// Interval is the longest Cron sleeps between looks at the schedules (default 1 s): how
	// soon a new schedule, or a new leadership, is acted on.
	Interval time.Duration
	// Schedules are those of the configuration, applied whenever this instance becomes the
	// leader (marked from_config; configured ones no longer in it are deleted).
	Schedules []ScheduleParams
}

// configActor names the configuration as the actor of the changes it makes.
const configActor = "jq-server configuration"

// maxTimesPerCycle bounds the times one schedule's catch-up walks through at once.
const maxTimesPerCycle = 100_000

// Cron fires the periodic schedules while this instance is the maintenance leader. Each time
// of a schedule is recorded once in the database (jq.fire_schedule), so two instances that
// both believe they lead, or a leader and its successor, never fire it twice. A time up to
// Grace late fires; older ones were missed while no server ran, and the schedule's catch-up
// policy says whether the latest of them still fires.
type Cron struct {
	startstop.BaseStartStop

	store   CronStore
	leading func() time.Duration
	cfg     CronConfig
	logger  *slog.Logger
	fires   *prometheus.CounterVec // {outcome}; may be nil
	wake    chan struct{}

	mu     sync.Mutex
	parsed map[string]*cronexpr.Schedule // by time zone and expression
}

// NewCron returns the schedule firer; it acts only while leadingFor() is positive (see
// Leader.LeadingFor). fires (may be nil) counts fires by outcome.
func NewCron(store CronStore, leadingFor func() time.Duration, cfg CronConfig, logger *slog.Logger, fires *prometheus.CounterVec) *Cron {
	if cfg.Grace <= 0 {
		cfg.Grace = time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Cron{store: store, leading: leadingFor, cfg: cfg, logger: logger, fires: fires,
		wake: make(chan struct{}, 1), parsed: map[string]*cronexpr.Schedule{}}
}

// Wake makes Cron look at the schedules now (a schedule was created or resumed here).
func (c *Cron) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Start runs Cron until ctx ends or Stop is called.
func (c *Cron) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := c.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		applied := false
		var retryConfig time.Time
		for {
			wait := c.cfg.Interval
			if c.leading() > 0 {
				if !applied || (!retryConfig.IsZero() && time.Now().After(retryConfig)) {
					applied, retryConfig = true, time.Time{}
					if !c.ApplyConfig(ctx) {
						retryConfig = time.Now().Add(30 * time.Second)
					}
				}
				wait = min(c.RunOnce(ctx), c.cfg.Interval)
			} else {
				applied = false
			}
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-c.wake:
				timer.Stop()
			case <-timer.C:
			}
		}
	}()
	return nil
}

// ApplyConfig writes the configured schedules (from_config) and deletes the configured ones no
// longer in the configuration. It reports whether every one was applied.
func (c *Cron) ApplyConfig(ctx context.Context) bool {
	ok := true
	names := make([]string, 0, len(c.cfg.Schedules))
	for _, p := range c.cfg.Schedules {
		p.Replace, p.FromConfig, p.Actor = true, true, configActor
		names = append(names, p.Name)
		if _, err := c.store.CreateSchedule(ctx, p); err != nil {
			ok = false
			c.logger.ErrorContext(ctx, "could not apply a configured schedule; retrying in 30s", "schedule", p.Name, "error", err)
		}
	}
	all, err := c.store.ListSchedules(ctx)
	if err != nil {
		c.logger.WarnContext(ctx, "could not list the schedules to remove those gone from the configuration", "error", err)
		return false
	}
	for _, s := range all {
		if s.FromConfig && !slices.Contains(names, s.Name) {
			if _, err := c.store.DeleteSchedule(ctx, s.Name, configActor, true); err != nil {
				ok = false
				c.logger.WarnContext(ctx, "could not delete a schedule removed from the configuration", "schedule", s.Name, "error", err)
				continue
			}
			c.logger.InfoContext(ctx, "deleted a schedule removed from the configuration", "schedule", s.Name)
		}
	}
	return ok
}

// RunOnce fires every due schedule and returns how long until the next one is due (at most
// Interval). Tests call it directly.
func (c *Cron) RunOnce(ctx context.Context) time.Duration {
	due, now, err := c.store.DueSchedules(ctx)
	read := time.Now()
	if err != nil {
		if ctx.Err() == nil {
			c.logger.WarnContext(ctx, "could not read the due schedules", "error", err)
		}
		return c.cfg.Interval
	}
	for _, s := range due {
		if ctx.Err() != nil {
			return c.cfg.Interval
		}
		c.fire(ctx, s, now)
	}
	next, err := c.store.NextScheduleFire(ctx)
	if err != nil || next.IsZero() {
		return c.cfg.Interval
	}
	// Measured against the database's clock, which decides what is due.
	return min(max(next.Sub(now)-time.Since(read), time.Millisecond), c.cfg.Interval)
}

// parse parses a schedule's expression, caching the result.
func (c *Cron) parse(s *Schedule) (*cronexpr.Schedule, error) {
	key := s.TimeZone + "\x00" + s.Cron
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.parsed[key]; ok {
		return p, nil
	}
	p, err := cronexpr.Parse(s.Cron, s.TimeZone)
	if err != nil {
		return nil, err
	}
	if len(c.parsed) > 10_000 {
		clear(c.parsed)
	}
	c.parsed[key] = p
	return p, nil
}

// fire fires one due schedule for its times up to now, as its catch-up policy says.
func (c *Cron) fire(ctx context.Context, s *Schedule, now time.Time) {
	log := c.logger.With("schedule", s.Name)
	spec, err := c.parse(s)
	if err != nil {
		if s.LastError != err.Error() {
			log.ErrorContext(ctx, "schedule cannot fire", "error", err)
			_ = c.store.ScheduleFailed(ctx, s.Name, s.UpdatedAt, err.Error())
		}
		return
	}
	next := s.NextFireAt
	if next.IsZero() {
		// New, redefined or resumed: its first time is the first after the change.
		next = spec.Next(s.UpdatedAt)
		if next.IsZero() {
			return
		}
		if _, err := c.store.AdvanceSchedule(ctx, s.Name, s.UpdatedAt, next, 0); err != nil {
			log.WarnContext(ctx, "could not set the schedule's first time", "error", err)
			return
		}
		if next.After(now) {
			return
		}
	}

	// The times due, late (within the grace) or missed (older).
	var late []time.Time
	var lastMissed time.Time
	missed := 0
	t := next
	for n := 0; !t.IsZero() && !t.After(now); n++ {
		if n == maxTimesPerCycle { // an old schedule: skip ahead, counting no more
			t = spec.Next(now.Add(-c.cfg.Grace))
			continue
		}
		if now.Sub(t) > c.cfg.Grace {
			missed, lastMissed = missed+1, t
		} else {
			late = append(late, t)
		}
		t = spec.Next(t)
	}
	after := t // the first time to come
	if after.IsZero() {
		after = now.AddDate(100, 0, 0) // none within five years: look again much later
	}
	if missed > 0 && s.CatchUp == CatchUpLast {
		late = append([]time.Time{lastMissed}, late...)
		missed--
	}
	if missed > 0 {
		to := after
		if len(late) > 0 {
			to = late[0]
		}
		if _, err := c.store.AdvanceSchedule(ctx, s.Name, s.UpdatedAt, to, missed); err != nil {
			log.WarnContext(ctx, "could not skip the schedule's missed times", "missed", missed, "error", err)
			return
		}
		log.WarnContext(ctx, "schedule missed times while no server ran; skipped them (catch-up "+s.CatchUp+")", "missed", missed)
		c.count(FireMissed, missed)
	}
	for i, at := range late {
		following := after
		if i+1 < len(late) {
			following = late[i+1]
		}
		res, err := c.store.FireSchedule(ctx, s.Name, s.UpdatedAt, at, following)
		if err != nil {
			log.WarnContext(ctx, "could not fire the schedule; the next cycle retries", "fire_time", at, "error", err)
			return
		}
		c.count(res.Outcome, 1)
		switch res.Outcome {
		case FireChanged, FirePaused:
			return // read again next cycle
		case FireFailed:
			log.ErrorContext(ctx, "schedule fired, and its job was refused", "fire_time", at)
		case FireSubmitted, FireSkipped:
			log.InfoContext(ctx, "schedule fired", "fire_time", at, "outcome", res.Outcome, "job_id", res.JobID, "late", now.Sub(at).String())
		}
	}
}

// FireMissed is the outcome label of the times skipped because no server ran then.
const FireMissed = "missed"

// FireOutcomes lists the outcome labels of jq_schedule_fires_total.
var FireOutcomes = []string{FireSubmitted, FireSkipped, FireFailed, FireDuplicate, FireMissed}

func (c *Cron) count(outcome string, n int) {
	if c.fires != nil && slices.Contains(FireOutcomes, outcome) {
		c.fires.WithLabelValues(outcome).Add(float64(n))
	}
}
