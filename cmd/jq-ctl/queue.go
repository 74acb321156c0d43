package main

import (
	"context"
	"fmt"
	"io"
	"time"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// queueView is a queue in --output json and yaml.
type queueView struct {
	Name       string  `json:"name"`
	MaxRetries int32   `json:"max_retries"`
	TTLSeconds int32   `json:"ttl_seconds"` // 0: no TTL
	CreatedAt  *string `json:"created_at"`
	UpdatedAt  *string `json:"updated_at"`
}

func newQueueView(q *jqv1.Queue) queueView {
	return queueView{
		Name: q.GetName(), MaxRetries: q.GetMaxRetries(), TTLSeconds: q.GetTtlSeconds(),
		CreatedAt: rfc3339(q.GetCreatedAt()), UpdatedAt: rfc3339(q.GetUpdatedAt()),
	}
}

func ttlText(seconds int32) string {
	if seconds == 0 {
		return "-"
	}
	return roundDuration(time.Duration(seconds) * time.Second)
}

// queueListCommand is `jq-ctl queue list`.
type queueListCommand struct{ app *app }

func (c *queueListCommand) spec() spec {
	return spec{
		name:     "list",
		short:    "list queues with their defaults",
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
		row(w, "NAME", "MAX RETRIES", "TTL", "CREATED")
		for _, q := range resp.GetQueues() {
			row(w, q.GetName(), q.GetMaxRetries(), ttlText(q.GetTtlSeconds()), ago(tsTime(q.GetCreatedAt()), now))
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
	Pending                 int64   `json:"pending"`
	Assigned                int64   `json:"assigned"`
	Running                 int64   `json:"running"`
	Done                    int64   `json:"done"`
	Failed                  int64   `json:"failed"`
	DeadLettered            int64   `json:"dead_lettered"`
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
			Queue: s.GetQueueName(), Pending: s.GetPending(), Assigned: s.GetAssigned(), Running: s.GetRunning(),
			Done: s.GetDone(), Failed: s.GetFailed(), DeadLettered: s.GetDeadLettered(),
			OldestPendingAgeSeconds: seconds(s.GetOldestPendingAge()),
			CompletedLastMinute:     s.GetCompletedLastMinute(), FailedLastMinute: s.GetFailedLastMinute(),
		})
	}
	return c.app.emit(views, func(w io.Writer) {
		row(w, "QUEUE", "PENDING", "ASSIGNED", "RUNNING", "DONE", "FAILED", "DEAD", "OLDEST PENDING", "DONE/MIN", "FAILED/MIN")
		for _, s := range stats {
			oldest := "-"
			if s.GetOldestPendingAge().AsDuration() > 0 {
				oldest = shortDuration(s.GetOldestPendingAge().AsDuration())
			}
			row(w, s.GetQueueName(), s.GetPending(), s.GetAssigned(), s.GetRunning(), s.GetDone(), s.GetFailed(),
				s.GetDeadLettered(), oldest, s.GetCompletedLastMinute(), s.GetFailedLastMinute())
		}
	})
}
