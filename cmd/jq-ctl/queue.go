package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jqhq/jq/internal/config"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// queueView is a queue in --output json and yaml.
type queueView struct {
	Name       string `json:"name"`
	MaxRetries int32  `json:"max_retries"`
	TTLSeconds int32  `json:"ttl_seconds"` // 0: no TTL
	Paused     bool   `json:"paused"`
	// Limits; 0 (and "" for the rate): none.
	MaxRunning       int32   `json:"max_running"`
	Rate             string  `json:"rate"`
	MaxRunningPerKey int32   `json:"max_running_per_key"`
	CreatedAt        *string `json:"created_at"`
	UpdatedAt        *string `json:"updated_at"`
}

func newQueueView(q *jqv1.Queue) queueView {
	v := queueView{
		Name: q.GetName(), MaxRetries: q.GetMaxRetries(), TTLSeconds: q.GetTtlSeconds(), Paused: q.GetPaused(),
		MaxRunning: q.GetMaxRunning(), MaxRunningPerKey: q.GetMaxRunningPerKey(),
		CreatedAt: rfc3339(q.GetCreatedAt()), UpdatedAt: rfc3339(q.GetUpdatedAt()),
	}
	if q.GetRateLimit() > 0 {
		v.Rate = rateText(q.GetRateLimit(), q.GetRatePeriod().AsDuration())
	}
	return v
}

// rateText is "100/1s".
func rateText(n int32, period time.Duration) string {
	return fmt.Sprintf("%d/%s", n, config.Compact(period))
}

// limitText is a limit for the table: "-" for none.
func limitText(n int32) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(int(n))
}

// parseRate reads --rate: "100/1s", "5000/1m", "10/s", or "none".
func parseRate(s string) (n int32, period time.Duration, err error) {
	if s == "none" || s == "0" {
		return 0, 0, nil
	}
	count, per, ok := strings.Cut(s, "/")
	bad := failf(exitInvalid, "--rate %q: want N/PERIOD such as 100/1s or 5000/1m, or none", s)
	if !ok {
		return 0, 0, bad
	}
	v, err := strconv.ParseInt(count, 10, 32)
	if err != nil || v < 1 {
		return 0, 0, bad
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // "10/s"
	}
	period, err = time.ParseDuration(per)
	if err != nil || period < time.Millisecond || period > 24*time.Hour {
		return 0, 0, failf(exitInvalid, "--rate %q: the period must be a duration from 1ms to 24h, such as 1s or 1m", s)
	}
	return int32(v), period, nil
}

func ttlText(seconds int32) string {
	if seconds == 0 {
		return "-"
	}
	return config.Compact(time.Duration(seconds) * time.Second)
}

// queueListCommand is `jq-ctl queue list`.
type queueListCommand struct{ app *app }

func (c *queueListCommand) spec() spec {
	return spec{
		name:     "list",
		short:    "list queues: defaults, paused or not, limits",
		examples: []string{"jq-ctl queue list", "jq-ctl queue list -o yaml"},
	}
}

func (c *queueListCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("queue list", args); err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.ListQueues, &jqv1.ListQueuesRequest{})
	if err != nil {
		return err
	}
	views := make([]queueView, 0, len(resp.GetQueues()))
	for _, q := range resp.GetQueues() {
		views = append(views, newQueueView(q))
	}
	return c.app.emit(views, func(w io.Writer) {
		now := c.app.now()
		row(w, "NAME", "STATE", "MAX RETRIES", "TTL", "MAX RUNNING", "RATE", "PER KEY", "CREATED")
		for i, q := range views {
			state, rate := "active", q.Rate
			if q.Paused {
				state = "PAUSED"
			}
			if rate == "" {
				rate = "-"
			}
			row(w, q.Name, state, q.MaxRetries, ttlText(q.TTLSeconds), limitText(q.MaxRunning), rate, limitText(q.MaxRunningPerKey),
				ago(tsTime(resp.GetQueues()[i].GetCreatedAt()), now))
		}
	})
}

// queueCreateCommand is `jq-ctl queue create`.
type queueCreateCommand struct {
	app        *app
	maxRetries *int32
	ttl        time.Duration
}

func (c *queueCreateCommand) spec() spec {
	return spec{
		name:  "create",
		args:  "NAME",
		short: "create a queue",
		long: `NAME is letters, digits and . _ : - (at most 128, starting with a letter or digit).
A queue that exists already is exit 6.`,
		examples: []string{
			"jq-ctl queue create emails",
			"jq-ctl queue create reports --max-retries 5 --ttl 24h",
		},
		flags: func(f *flagSet) {
			f.OptionalInt(&c.maxRetries, "max-retries", "N", "default retries of its jobs (default 3)")
			f.Duration(&c.ttl, "ttl", "DURATION", 0, "dead-letter jobs pending longer than this, in whole seconds; 0: never", "0")
		},
	}
}

func (c *queueCreateCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("queue create", args, "NAME"); err != nil {
		return err
	}
	if c.ttl < 0 || c.ttl%time.Second != 0 || c.ttl > time.Duration(1<<31-1)*time.Second {
		return failf(exitInvalid, "--ttl %s: want a whole number of seconds, 0 or more", c.ttl)
	}
	req := &jqv1.CreateQueueRequest{Name: args[0], MaxRetries: c.maxRetries, TtlSeconds: int32(c.ttl / time.Second)}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.CreateQueue, req)
	if err != nil {
		return err
	}
	q := resp.GetQueue()
	return c.app.emit(newQueueView(q), func(w io.Writer) {
		fmt.Fprintf(w, "queue %s created (max retries %d, TTL %s)\n", q.GetName(), q.GetMaxRetries(), ttlText(q.GetTtlSeconds()))
	})
}

// queueDeleteCommand is `jq-ctl queue delete`.
type queueDeleteCommand struct{ app *app }

func (c *queueDeleteCommand) spec() spec {
	return spec{
		name:  "delete",
		args:  "NAME",
		short: "delete a queue and its finished jobs",
		long:  "A queue that still holds unfinished jobs (pending, assigned, running, failed) is not deleted: exit 6.",
		examples: []string{
			"jq-ctl queue delete emails",
		},
	}
}

// deletedView is queue delete's document.
type deletedView struct {
	Queue   string `json:"queue"`
	Deleted bool   `json:"deleted"`
}

func (c *queueDeleteCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("queue delete", args, "NAME"); err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := call(ctx, cl, cl.admin.DeleteQueue, &jqv1.DeleteQueueRequest{Name: args[0]}); err != nil {
		return err
	}
	return c.app.emit(deletedView{Queue: args[0], Deleted: true}, func(w io.Writer) {
		fmt.Fprintf(w, "queue %s deleted\n", args[0])
	})
}

// queueStatsCommand is `jq-ctl queue stats`.
type queueStatsCommand struct{ app *app }

func (c *queueStatsCommand) spec() spec {
	return spec{
		name:  "stats",
		args:  "[NAME]",
		short: "jobs per status, oldest pending job and last minute's throughput, per queue",
		examples: []string{
			"jq-ctl queue stats",
			"jq-ctl queue stats emails -o json",
		},
	}
}

// statsView is a queue's statistics in --output json and yaml.
type statsView struct {
	Queue                   string  `json:"queue"`
	Paused                  bool    `json:"paused"`
	Waiting                 int64   `json:"waiting"`
	Pending                 int64   `json:"pending"`
	Assigned                int64   `json:"assigned"`
	Running                 int64   `json:"running"`
	Done                    int64   `json:"done"`
	Failed                  int64   `json:"failed"`
	DeadLettered            int64   `json:"dead_lettered"`
	Cancelled               int64   `json:"cancelled"`
	OldestPendingAgeSeconds float64 `json:"oldest_pending_age_seconds"`
	CompletedLastMinute     int64   `json:"completed_last_minute"`
	FailedLastMinute        int64   `json:"failed_last_minute"`
}

func (c *queueStatsCommand) Run(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return usagef("queue stats", "unexpected argument %q", args[1])
	}
	req := &jqv1.GetQueueStatsRequest{}
	if len(args) == 1 {
		req.QueueName = args[0]
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.GetQueueStats, req)
	if err != nil {
		return err
	}
	stats := resp.GetStats()
	views := make([]statsView, 0, len(stats))
	for _, s := range stats {
		views = append(views, statsView{
			Queue: s.GetQueueName(), Paused: s.GetPaused(), Waiting: s.GetWaiting(),
			Pending: s.GetPending(), Assigned: s.GetAssigned(), Running: s.GetRunning(),
			Done: s.GetDone(), Failed: s.GetFailed(), DeadLettered: s.GetDeadLettered(), Cancelled: s.GetCancelled(),
			OldestPendingAgeSeconds: seconds(s.GetOldestPendingAge()),
			CompletedLastMinute:     s.GetCompletedLastMinute(), FailedLastMinute: s.GetFailedLastMinute(),
		})
	}
	return c.app.emit(views, func(w io.Writer) {
		row(w, "QUEUE", "PENDING", "ASSIGNED", "RUNNING", "DONE", "FAILED", "DEAD", "CANCELLED", "OLDEST PENDING", "DONE/MIN", "FAILED/MIN")
		for _, s := range stats {
			oldest := "-"
			if s.GetOldestPendingAge().AsDuration() > 0 {
				oldest = shortDuration(s.GetOldestPendingAge().AsDuration())
			}
			name := s.GetQueueName()
			if s.GetPaused() {
				name += " (paused)"
			}
			row(w, name, s.GetPending(), s.GetAssigned(), s.GetRunning(), s.GetDone(), s.GetFailed(),
				s.GetDeadLettered(), s.GetCancelled(), oldest, s.GetCompletedLastMinute(), s.GetFailedLastMinute())
		}
	})
}

// queuePauseCommand is `jq-ctl queue pause`, and with resume set `jq-ctl queue resume`.
type queuePauseCommand struct {
	app    *app
	resume bool
	all    bool
}

func (c *queuePauseCommand) spec() spec {
	if c.resume {
		return spec{
			name:  "resume",
			args:  "NAME... | --all",
			short: "resume paused queues: their jobs are claimed again at once",
			long:  "Resuming a queue that is not paused changes nothing. A queue that does not exist is exit 3.",
			examples: []string{
				"jq-ctl queue resume emails",
				"jq-ctl queue resume --all",
			},
			flags: func(f *flagSet) { f.Bool(&c.all, "all", "resume every paused queue") },
		}
	}
	return spec{
		name:  "pause",
		args:  "NAME... | --all",
		short: "pause queues: they take submits, but none of their jobs is claimed",
		long: `Pausing is cluster-wide and survives restarts of jq-server and PostgreSQL. Running jobs
finish; pending ones wait until queue resume. Pausing a paused queue changes nothing. A queue
that does not exist is exit 3.`,
		examples: []string{
			"jq-ctl queue pause emails",
			"jq-ctl queue pause --all",
		},
		flags: func(f *flagSet) { f.Bool(&c.all, "all", "pause every queue") },
	}
}

// pausedView is the document of queue pause and resume: the queues whose state changed.
type pausedView struct {
	Paused  []string `json:"paused,omitempty"`
	Resumed []string `json:"resumed,omitempty"`
}

func (c *queuePauseCommand) Run(ctx context.Context, args []string) error {
	path := "queue pause"
	if c.resume {
		path = "queue resume"
	}
	switch {
	case c.all && len(args) > 0:
		return usagef(path, "give queue names or --all, not both")
	case !c.all && len(args) == 0:
		return usagef(path, "missing NAME (or --all)")
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	var changed []string
	var view pausedView
	verb := "paused"
	if c.resume {
		resp, err := call(ctx, cl, cl.admin.ResumeQueues, &jqv1.ResumeQueuesRequest{Names: args})
		if err != nil {
			return err
		}
		changed, view.Resumed, verb = resp.GetResumed(), resp.GetResumed(), "resumed"
	} else {
		resp, err := call(ctx, cl, cl.admin.PauseQueues, &jqv1.PauseQueuesRequest{Names: args})
		if err != nil {
			return err
		}
		changed, view.Paused = resp.GetPaused(), resp.GetPaused()
	}
	return c.app.emit(view, func(w io.Writer) {
		if len(changed) == 0 {
			fmt.Fprintf(w, "no queue %s: already so\n", verb)
			return
		}
		for _, q := range changed {
			fmt.Fprintf(w, "queue %s %s\n", q, verb)
		}
	})
}

// queueUpdateCommand is `jq-ctl queue update`.
type queueUpdateCommand struct {
	app              *app
	maxRunning       *int32
	rate             string
	maxRunningPerKey *int32
}

func (c *queueUpdateCommand) spec() spec {
	return spec{
		name:  "update",
		args:  "NAME",
		short: "set or remove a queue's limits: max running, rate, max running per key",
		long: `The limits hold across every jq-server: a claim takes the queue's row lock and counts
what runs, so two servers cannot together exceed them. A flag not given leaves its limit as it
is; 0 (or --rate none) removes it. A limited queue never holds back other queues.

  --max-running N          at most N jobs of the queue ASSIGNED or RUNNING at once
  --rate N/PERIOD          at most N jobs started per rolling PERIOD (100/1s, 5000/1m)
  --max-running-per-key N  at most N running jobs per concurrency key (job submit --key);
                           the queue's keys are also claimed in turn, so one key's backlog
                           cannot starve the others`,
		examples: []string{
			"jq-ctl queue update emails --max-running 20 --rate 100/1s",
			"jq-ctl queue update exports --max-running-per-key 2",
			"jq-ctl queue update emails --rate none --max-running 0",
		},
		flags: func(f *flagSet) {
			f.OptionalInt(&c.maxRunning, "max-running", "N", "at most N jobs assigned or running at once; 0 removes the limit")
			f.String(&c.rate, "rate", "N/PERIOD", "", "at most N starts per PERIOD, e.g. 100/1s or 5000/1m; none removes the limit")
			f.OptionalInt(&c.maxRunningPerKey, "max-running-per-key", "N", "at most N running jobs per concurrency key; 0 removes the limit")
		},
	}
}

func (c *queueUpdateCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("queue update", args, "NAME"); err != nil {
		return err
	}
	req := &jqv1.UpdateQueueRequest{Name: args[0], MaxRunning: c.maxRunning, MaxRunningPerKey: c.maxRunningPerKey}
	if c.maxRunning == nil && c.maxRunningPerKey == nil && c.rate == "" {
		return usagef("queue update", "nothing to change: give --max-running, --rate or --max-running-per-key")
	}
	for flag, v := range map[string]*int32{"--max-running": c.maxRunning, "--max-running-per-key": c.maxRunningPerKey} {
		if v != nil && *v < 0 {
			return failf(exitInvalid, "%s %d is negative (0 removes the limit)", flag, *v)
		}
	}
	if c.rate != "" {
		n, period, err := parseRate(c.rate)
		if err != nil {
			return err
		}
		req.RateLimit = &n
		if n > 0 {
			req.RatePeriod = durationpb.New(period)
		}
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.UpdateQueue, req)
	if err != nil {
		return err
	}
	v := newQueueView(resp.GetQueue())
	return c.app.emit(v, func(w io.Writer) {
		rate := v.Rate
		if rate == "" {
			rate = "none"
		}
		fmt.Fprintf(w, "queue %s: max running %s, rate %s, max running per key %s\n", v.Name,
			limitText(v.MaxRunning), rate, limitText(v.MaxRunningPerKey))
	})
}
