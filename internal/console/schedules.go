package console

import (
	"net/http"
	"time"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue/queuename"
)

// scheduleRow is a schedule as the schedules page shows it.
type scheduleRow struct {
	Name, Cron, TimeZone, Queue string
	Priority                    int32
	Overlap, CatchUp            string
	Paused, FromConfig          bool
	NextFire, LastFire          time.Time
	LastJobID, LastError        string
	Missed                      int64
	CreatedBy                   string
}

func (c *Console) schedules(w http.ResponseWriter, r *request) error {
	resp, err := c.deps.Admin.ListSchedules(r.svc(), &jqv1.ListSchedulesRequest{})
	if err != nil {
		return err
	}
	var rows []scheduleRow
	for _, s := range resp.GetSchedules() {
		rows = append(rows, scheduleRow{
			Name: s.GetName(), Cron: s.GetCron(), TimeZone: s.GetTimeZone(), Queue: s.GetQueueName(), Priority: s.GetPriority(),
			Overlap: s.GetOverlap(), CatchUp: s.GetCatchUp(), Paused: s.GetPaused(), FromConfig: s.GetFromConfig(),
			NextFire: tsTime(s.GetNextFireAt()), LastFire: tsTime(s.GetLastFireAt()), LastJobID: s.GetLastJobId(),
			LastError: s.GetLastError(), Missed: s.GetMissed(), CreatedBy: s.GetCreatedBy(),
		})
	}
	return c.show(w, r, "schedules", &view{Title: "Schedules", Nav: "schedules", Live: true, Data: rows})
}

// parseScheduleName reads the {name} of the path (schedule names follow the queue-name rule).
func parseScheduleName(r *request) (string, error) {
	name := r.PathValue("name")
	if !queuename.Valid(name) {
		return "", badRequest("%q is not a schedule name (%s)", name, queuename.Rule)
	}
	return name, nil
}

func (c *Console) pauseSchedule(w http.ResponseWriter, r *request) error {
	name, err := parseScheduleName(r)
	if err != nil {
		return err
	}
	_, err = c.deps.Admin.PauseSchedule(r.svc(), &jqv1.PauseScheduleRequest{Name: name})
	c.logAction(r, "schedule.pause", name, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/schedules"), "Schedule "+name+" paused: it fires no more until resumed.")
}

func (c *Console) resumeSchedule(w http.ResponseWriter, r *request) error {
	name, err := parseScheduleName(r)
	if err != nil {
		return err
	}
	_, err = c.deps.Admin.ResumeSchedule(r.svc(), &jqv1.ResumeScheduleRequest{Name: name})
	c.logAction(r, "schedule.resume", name, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/schedules"), "Schedule "+name+" resumed from now (the times it missed while paused are not caught up).")
}

func (c *Console) triggerSchedule(w http.ResponseWriter, r *request) error {
	name, err := parseScheduleName(r)
	if err != nil {
		return err
	}
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Fire schedule " + name + " now?",
		Message: "Schedule " + name + " will submit its job now, out of turn. Its next times stay as they are.",
		Button:  "Fire now", Back: c.url("/schedules"),
	})
	if !ok || err != nil {
		return err
	}
	resp, err := c.deps.Admin.TriggerSchedule(r.svc(), &jqv1.TriggerScheduleRequest{Name: name})
	c.logAction(r, "schedule.trigger", name, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/jobs/"+resp.GetJobId()), "Schedule "+name+" fired: this is its job.")
}

func (c *Console) deleteSchedule(w http.ResponseWriter, r *request) error {
	name, err := parseScheduleName(r)
	if err != nil {
		return err
	}
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Delete schedule " + name + "?",
		Message: "Schedule " + name + " will be deleted and fire no more. The jobs it submitted stay.",
		Button:  "Delete the schedule", Danger: true, Back: c.url("/schedules"),
	})
	if !ok || err != nil {
		return err
	}
	_, err = c.deps.Admin.DeleteSchedule(r.svc(), &jqv1.DeleteScheduleRequest{Name: name})
	c.logAction(r, "schedule.delete", name, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/schedules"), "Schedule "+name+" deleted.")
}
