package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/jqhq/jq/queue/cronexpr"
	"github.com/jqhq/jq/queue/queuename"
)

// ScheduleConfig is one periodic schedule kept in jq-server's configuration (the schedules:
// list of the file; there are no environment variables for it). The maintenance leader writes
// these schedules when it starts leading, marked as the configuration's, and deletes the
// configuration's schedules that are no longer listed (docs/scheduling.md).
type ScheduleConfig struct {
	Name       string   `yaml:"name" help:"the schedule's name: letters, digits and . _ : - (required)"`
	Cron       string   `yaml:"cron" help:"5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily, @every 30s, ... (required)"`
	TimeZone   string   `yaml:"time_zone" help:"IANA time zone of the times (default UTC)"`
	Queue      string   `yaml:"queue" help:"queue of the jobs (default default)"`
	Command    []string `yaml:"command" help:"program and arguments of a subprocess job: the payload {\"command\": [...]}; or give payload"`
	Payload    any      `yaml:"payload" help:"the job's payload, any YAML/JSON value; or give command"`
	Priority   int      `yaml:"priority" help:"0 (default) to 9"`
	MaxRetries *int     `yaml:"max_retries" help:"retries of each job (default: the queue's)"`
	Overlap    string   `yaml:"overlap" help:"allow (default), or skip: no new job while the previous one is unfinished"`
	CatchUp    string   `yaml:"catch_up" help:"none (default) or last: fire the latest of the times missed while no server ran"`
}

// JSONPayload is the schedule's payload as JSON: Payload, or {"command": Command}.
func (s ScheduleConfig) JSONPayload() ([]byte, error) {
	if len(s.Command) > 0 {
		return json.Marshal(map[string]any{"command": s.Command})
	}
	return json.Marshal(s.Payload)
}

// QueueName is the schedule's queue, default when unset.
func (s ScheduleConfig) QueueName() string {
	if s.Queue == "" {
		return "default"
	}
	return s.Queue
}

func (c *Config) validateSchedules(v *validator) {
	seen := map[string]bool{}
	for i, s := range c.Schedules {
		path := fmt.Sprintf("schedules[%d]", i)
		if s.Name != "" {
			path = fmt.Sprintf("schedules[%s]", s.Name)
		}
		switch {
		case s.Name == "":
			v.add(path+".name", "required")
		case !queuename.Valid(s.Name):
			v.add(path+".name", "%q is invalid: use %s", s.Name, queuename.Rule)
		case seen[s.Name]:
			v.add(path+".name", "two schedules are named %s", s.Name)
		}
		seen[s.Name] = true
		if _, err := cronexpr.Parse(s.Cron, s.TimeZone); err != nil {
			v.add(path+".cron", "%v", err)
		}
		if !queuename.Valid(s.QueueName()) {
			v.add(path+".queue", "%q is invalid: use %s", s.Queue, queuename.Rule)
		}
		switch {
		case len(s.Command) > 0 && s.Payload != nil:
			v.add(path+".payload", "give command or payload, not both")
		case len(s.Command) == 0 && s.Payload == nil:
			v.add(path+".payload", "required (or command)")
		case len(s.Command) > 0 && s.Command[0] == "":
			v.add(path+".command", "the program name is empty")
		}
		if _, err := s.JSONPayload(); err != nil {
			v.add(path+".payload", "cannot be written as JSON: %v", err)
		}
		if s.Priority < 0 || s.Priority > 9 {
			v.add(path+".priority", "%d is outside 0-9", s.Priority)
		}
		if s.MaxRetries != nil && (*s.MaxRetries < 0 || *s.MaxRetries > 1000) {
			v.add(path+".max_retries", "%d is outside 0-1000", *s.MaxRetries)
		}
		if s.Overlap != "" && s.Overlap != "allow" && s.Overlap != "skip" {
			v.add(path+".overlap", "%q must be allow or skip", s.Overlap)
		}
		if s.CatchUp != "" && s.CatchUp != "none" && s.CatchUp != "last" {
			v.add(path+".catch_up", "%q must be none or last", s.CatchUp)
		}
	}
}

// schedulesMarkdown documents the keys of a schedules: entry, for docs/config.md.
func schedulesMarkdown() string {
	var b strings.Builder
	b.WriteString("\n## schedules\n\n")
	b.WriteString("Periodic schedules kept in jq-server's file (no environment variables): a YAML list, one entry per\n")
	b.WriteString("schedule. The maintenance leader writes them when it starts leading and deletes the configured\n")
	b.WriteString("schedules no longer listed; jq-ctl and the API cannot change or delete them ([scheduling.md](scheduling.md)).\n\n")
	b.WriteString("```yaml\nschedules:\n  - name: nightly-report\n    cron: \"0 3 * * *\"\n    time_zone: Europe/Paris\n")
	b.WriteString("    queue: reports\n    command: [\"make\", \"report\"]\n    overlap: skip\n    catch_up: last\n```\n\n")
	b.WriteString("| key | type | meaning |\n| --- | --- | --- |\n")
	t := reflect.TypeFor[ScheduleConfig]()
	for i := range t.NumField() {
		f := t.Field(i)
		kind := f.Type.Kind().String()
		switch {
		case f.Type.Kind() == reflect.Slice:
			kind = "list"
		case f.Type.Kind() == reflect.Interface:
			kind = "any"
		case f.Type.Kind() == reflect.Pointer:
			kind = f.Type.Elem().Kind().String()
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", yamlKey(f), kind, strings.ReplaceAll(f.Tag.Get("help"), "|", "\\|"))
	}
	return b.String()
}
