// Package cronexpr parses the cron expressions of jq's schedules and computes their times. It
// is the one place that says what a schedule's expression may be, for jq-server's leader,
// its API and its configuration alike.
package cronexpr

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Rule says what an expression may be, for error messages and help.
const Rule = "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a descriptor " +
	"(@yearly, @monthly, @weekly, @daily, @hourly, @every 30s)"

// parser takes five fields, or six with seconds first, and the descriptors.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed expression in its time zone.
type Schedule struct {
	expr  string
	sched cron.Schedule
	loc   *time.Location
}

// Parse parses expr, whose times are in timeZone (an IANA name such as Europe/Paris; empty is
// UTC). It refuses an expression that never fires.
func Parse(expr, timeZone string) (*Schedule, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("cron expression is empty: want " + Rule)
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("cron expression %q: give its time zone as the schedule's time_zone, not in the expression", expr)
	}
	if timeZone == "" {
		timeZone = "UTC"
	}
	loc, err := time.LoadLocation(timeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", timeZone, err)
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %w (want %s)", expr, err, Rule)
	}
	s := &Schedule{expr: expr, sched: sched, loc: loc}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("cron expression %q never fires", expr)
	}
	return s, nil
}

// String is the expression.
func (s *Schedule) String() string { return s.expr }

// Next is the first time of the schedule after t (in t's location), or the zero time if there
// is none within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	next := s.sched.Next(t.In(s.loc))
	if next.IsZero() {
		return next
	}
	return next.In(t.Location())
}
