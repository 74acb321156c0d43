package main

import (
	"context"
	"fmt"
	"io"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// scheduleView is a schedule in --output json and yaml.
type scheduleView struct {
	Name       string  `json:"name"`
	Cron       string  `json:"cron"`
	TimeZone   string  `json:"time_zone"`
	Queue      string  `json:"queue"`
	Payload    any     `json:"payload"`
	Priority   int32   `json:"priority"`
	MaxRetries *int32  `json:"max_retries"` // null: the queue's
	Overlap    string  `json:"overlap"`
	CatchUp    string  `json:"catch_up"`
	Paused     bool    `json:"paused"`
	FromConfig bool    `json:"from_config"`
	NextFireAt *string `json:"next_fire_at"`
	LastFireAt *string `json:"last_fire_at"`
	LastJobID  string  `json:"last_job_id"`
	LastError  string  `json:"last_error"`
	Missed     int64   `json:"missed"`
	CreatedAt  *string `json:"created_at"`
	UpdatedAt  *string `json:"updated_at"`
	CreatedBy  string  `json:"created_by"`
}

func newScheduleView(s *jqv1.Schedule) scheduleView {
	return scheduleView{
		Name: s.GetName(), Cron: s.GetCron(), TimeZone: s.GetTimeZone(), Queue: s.GetQueueName(), Payload: payloadValue(s.GetPayload()),
		Priority: s.GetPriority(), MaxRetries: s.MaxRetries, Overlap: s.GetOverlap(), CatchUp: s.GetCatchUp(), Paused: s.GetPaused(),
		FromConfig: s.GetFromConfig(), NextFireAt: rfc3339(s.GetNextFireAt()), LastFireAt: rfc3339(s.GetLastFireAt()),
		LastJobID: s.GetLastJobId(), LastError: s.GetLastError(), Missed: s.GetMissed(), CreatedAt: rfc3339(s.GetCreatedAt()),
		UpdatedAt: rfc3339(s.GetUpdatedAt()), CreatedBy: s.GetCreatedBy(),
	}
}

// scheduleCreateCommand is `jq-ctl schedule create`.
type scheduleCreateCommand struct {
	app         *app
	cron        string
	timeZone    string
	queue       string
	priority    int
	maxRetries  *int32
	overlap     string
	catchUp     string
	replace     bool
	payload     string
	payloadFile string
}

const scheduleCreatePath = "schedule create"

func (c *scheduleCreateCommand) spec() spec {
	return spec{
		name:  "create",
		short: "create a periodic schedule: a job submitted at each time of a cron expression",
		usage: []string{
			"jq-ctl schedule create [flags] NAME --cron EXPR -- COMMAND [ARG...]",
			"jq-ctl schedule create [flags] NAME --cron EXPR --payload JSON",
		},
		long: `NAME is letters, digits and . _ : - (at most 128). --cron is 5 fields (minute hour
day-of-month month day-of-week), 6 with seconds first, or @yearly, @monthly, @weekly, @daily,
@hourly, @every 30s; its times are in --time-zone. The payload is as for job submit: a command
after -- (run by jq-worker), --payload or --payload-file.

The maintenance leader of the jq-servers fires the schedule, each time once, whichever server
leads. --overlap skip submits nothing while the schedule's previous job is unfinished.
--catch-up says what happens to times missed while no server ran (for longer than
scheduler.schedule_grace): none skips them, last fires the latest of them once. A schedule that
exists is exit 6, unless --replace. Schedules of jq-server's configuration cannot be changed here.`,
		examples: []string{
			"jq-ctl schedule create nightly-report --cron '0 3 * * *' --time-zone Europe/Paris -q reports -- make report",
			"jq-ctl schedule create heartbeat --cron '@every 30s' --overlap skip --payload '{\"kind\": \"ping\"}'",
			"jq-ctl schedule create sync --cron '*/5 * * * *' --catch-up last --replace -- ./sync",
		},
		flags: func(f *flagSet) {
			f.String(&c.cron, "cron", "EXPR", "", "when to fire (required): 5 fields, 6 with seconds first, or @hourly, @every 30s, ...")
			f.String(&c.timeZone, "time-zone", "TZ", "UTC", "IANA time zone of the times, e.g. Europe/Paris")
			f.String(&c.queue, "q,queue", "NAME", "default", "queue of the jobs")
			f.Int(&c.priority, "priority", "N", 0, "0 (lowest) to 9 (highest)")
			f.OptionalInt(&c.maxRetries, "max-retries", "N", "retries of each job (default: the queue's)")
			f.String(&c.overlap, "overlap", "POLICY", "allow", "allow, or skip: no new job while the previous one is unfinished")
			f.String(&c.catchUp, "catch-up", "POLICY", "none", "none, or last: fire the latest of the times missed while no server ran")
			f.Bool(&c.replace, "replace", "redefine the schedule if it exists")
			f.String(&c.payload, "payload", "JSON", "", "the payload, a JSON document")
			f.String(&c.payloadFile, "payload-file", "FILE", "", "read the payload from FILE; - reads stdin")
		},
	}
}

func (c *scheduleCreateCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef(scheduleCreatePath, "missing NAME")
	}
	if c.cron == "" {
		return usagef(scheduleCreatePath, "--cron is required")
	}
	if c.priority < 0 || c.priority > 9 {
		return failf(exitInvalid, "--priority %d is outside 0-9", c.priority)
	}
	payload, err := c.app.readPayload(scheduleCreatePath, c.payload, c.payloadFile, args[1:])
	if err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.CreateSchedule, &jqv1.CreateScheduleRequest{
		Name: args[0], Cron: c.cron, TimeZone: c.timeZone, QueueName: c.queue, Payload: payload, Priority: int32(c.priority),
		MaxRetries: c.maxRetries, Overlap: c.overlap, CatchUp: c.catchUp, Replace: c.replace,
	})
	if err != nil {
		return err
	}
	s := resp.GetSchedule()
	return c.app.emit(newScheduleView(s), func(w io.Writer) {
		fmt.Fprintf(w, "schedule %s created: %q (%s) to queue %s\n", s.GetName(), s.GetCron(), s.GetTimeZone(), s.GetQueueName())
	})
}

// scheduleListCommand is `jq-ctl schedule list`.
type scheduleListCommand struct{ app *app }

func (c *scheduleListCommand) spec() spec {
	return spec{
		name:     "list",
		short:    "list schedules: expression, queue, state, next and last fire",
		examples: []string{"jq-ctl schedule list", "jq-ctl schedule list -o json"},
	}
}

func (c *scheduleListCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("schedule list", args); err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.ListSchedules, &jqv1.ListSchedulesRequest{})
	if err != nil {
		return err
	}
	views := make([]scheduleView, 0, len(resp.GetSchedules()))
	for _, s := range resp.GetSchedules() {
		views = append(views, newScheduleView(s))
	}
	return c.app.emit(views, func(w io.Writer) {
		now := c.app.now()
		row(w, "NAME", "CRON", "TIME ZONE", "QUEUE", "STATE", "NEXT", "LAST", "LAST JOB", "ERROR")
		for i, s := range resp.GetSchedules() {
			state := "active"
			if s.GetPaused() {
				state = "PAUSED"
			}
			if s.GetFromConfig() {
				state += " (config)"
			}
			row(w, s.GetName(), s.GetCron(), s.GetTimeZone(), s.GetQueueName(), state, ago(tsTime(s.GetNextFireAt()), now),
				ago(tsTime(s.GetLastFireAt()), now), dash(views[i].LastJobID), summary([]byte(s.GetLastError()), 80))
		}
	})
}

// scheduleActionCommand is `jq-ctl schedule delete|pause|resume|trigger NAME`.
type scheduleActionCommand struct {
	app    *app
	action string
}

var scheduleActions = map[string]struct{ short, long, example string }{
	"delete": {"delete a schedule", "A schedule of jq-server's configuration is deleted there, not here: exit 6.",
		"jq-ctl schedule delete nightly-report"},
	"pause": {"stop a schedule firing until it is resumed", "", "jq-ctl schedule pause nightly-report"},
	"resume": {"resume a paused schedule from now", "The times that passed while it was paused are not caught up.",
		"jq-ctl schedule resume nightly-report"},
	"trigger": {"fire a schedule now, out of turn, and print its job's id",
		"Its next time is unchanged; a paused schedule fires too, whatever its overlap policy.",
		"jq-ctl schedule trigger nightly-report"},
}

func (c *scheduleActionCommand) spec() spec {
	a := scheduleActions[c.action]
	return spec{name: c.action, args: "NAME", short: a.short, long: a.long, examples: []string{a.example}}
}

func (c *scheduleActionCommand) Run(ctx context.Context, args []string) error {
	path := "schedule " + c.action
	if err := wantArgs(path, args, "NAME"); err != nil {
		return err
	}
	name := args[0]
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	var sched *jqv1.Schedule
	switch c.action {
	case "delete":
		if _, err := call(ctx, cl, cl.admin.DeleteSchedule, &jqv1.DeleteScheduleRequest{Name: name}); err != nil {
			return err
		}
		return c.app.emit(map[string]any{"schedule": name, "deleted": true}, func(w io.Writer) {
			fmt.Fprintf(w, "schedule %s deleted\n", name)
		})
	case "trigger":
		resp, err := call(ctx, cl, cl.admin.TriggerSchedule, &jqv1.TriggerScheduleRequest{Name: name})
		if err != nil {
			return err
		}
		return c.app.emit(map[string]any{"schedule": name, "job_id": resp.GetJobId()}, func(w io.Writer) {
			fmt.Fprintln(w, resp.GetJobId())
		})
	case "pause":
		resp, err := call(ctx, cl, cl.admin.PauseSchedule, &jqv1.PauseScheduleRequest{Name: name})
		if err != nil {
			return err
		}
		sched = resp.GetSchedule()
	default:
		resp, err := call(ctx, cl, cl.admin.ResumeSchedule, &jqv1.ResumeScheduleRequest{Name: name})
		if err != nil {
			return err
		}
		sched = resp.GetSchedule()
	}
	return c.app.emit(newScheduleView(sched), func(w io.Writer) {
		if sched.GetPaused() {
			fmt.Fprintf(w, "schedule %s paused\n", name)
			return
		}
		fmt.Fprintf(w, "schedule %s active\n", name)
	})
}
