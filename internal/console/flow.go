package console

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jqhq/jq/internal/config"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Flow control of queues (docs/flow-control.md): pause, resume and limits, through the
// AdminService like every action, so they are validated and audited there.

func (c *Console) pauseQueue(w http.ResponseWriter, r *request) error {
	name, err := parseQueueName(r)
	if err != nil {
		return err
	}
	resp, err := c.deps.Admin.PauseQueues(r.svc(), &jqv1.PauseQueuesRequest{Names: []string{name}})
	c.logAction(r, "queue.pause", name, err)
	if err != nil {
		return err
	}
	msg := "Queue " + name + " paused: it takes submits, none of its jobs starts; running jobs finish."
	if len(resp.GetPaused()) == 0 {
		msg = "Queue " + name + " was already paused."
	}
	return c.done(w, r, c.url("/queues"), msg)
}

func (c *Console) resumeQueue(w http.ResponseWriter, r *request) error {
	name, err := parseQueueName(r)
	if err != nil {
		return err
	}
	resp, err := c.deps.Admin.ResumeQueues(r.svc(), &jqv1.ResumeQueuesRequest{Names: []string{name}})
	c.logAction(r, "queue.resume", name, err)
	if err != nil {
		return err
	}
	msg := "Queue " + name + " resumed."
	if len(resp.GetResumed()) == 0 {
		msg = "Queue " + name + " was not paused."
	}
	return c.done(w, r, c.url("/queues"), msg)
}

func (c *Console) pauseAll(w http.ResponseWriter, r *request) error {
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Pause every queue?",
		Message: "No job of any queue will start until the queues are resumed. Submits are still taken, and running jobs finish.",
		Button:  "Pause every queue", Danger: true, Back: c.url("/queues"),
	})
	if !ok || err != nil {
		return err
	}
	resp, err := c.deps.Admin.PauseQueues(r.svc(), &jqv1.PauseQueuesRequest{})
	c.logAction(r, "queue.pause", "*", err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/queues"), fmt.Sprintf("%d %s paused.", len(resp.GetPaused()), plural(len(resp.GetPaused()), "queue", "queues")))
}

func (c *Console) resumeAll(w http.ResponseWriter, r *request) error {
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Resume every paused queue?",
		Message: "The jobs of every paused queue may start again at once.",
		Button:  "Resume every queue", Back: c.url("/queues"),
	})
	if !ok || err != nil {
		return err
	}
	resp, err := c.deps.Admin.ResumeQueues(r.svc(), &jqv1.ResumeQueuesRequest{})
	c.logAction(r, "queue.resume", "*", err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/queues"), fmt.Sprintf("%d %s resumed.", len(resp.GetResumed()), plural(len(resp.GetResumed()), "queue", "queues")))
}

// updateQueue changes a queue's limits from the limits form. An empty field leaves its limit
// as it is; 0 removes it.
func (c *Console) updateQueue(w http.ResponseWriter, r *request) error {
	name, err := parseQueueName(r)
	if err != nil {
		return err
	}
	req, err := parseLimits(r, name)
	if err != nil {
		return err
	}
	resp, err := c.deps.Admin.UpdateQueue(r.svc(), req)
	c.logAction(r, "queue.limits", name, err)
	if err != nil {
		return err
	}
	q := resp.GetQueue()
	return c.done(w, r, c.url("/queues"), "Queue "+name+" limits: "+
		limitsText(q.GetMaxRunning(), q.GetRateLimit(), q.GetRatePeriod().AsDuration(), q.GetMaxRunningPerKey())+".")
}

// parseLimits reads the limits form: whole numbers from 0 (no limit), and a rate period that
// is a Go duration ("1s", "1m") with a rate limit.
func parseLimits(r *request, name string) (*jqv1.UpdateQueueRequest, error) {
	req := &jqv1.UpdateQueueRequest{Name: name}
	field := func(key string) (*int32, error) {
		v := strings.TrimSpace(r.PostFormValue(key))
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, badRequest("%s %q is not a whole number from 0 (0: no limit) to %d", key, v, math.MaxInt32)
		}
		m := int32(n)
		return &m, nil
	}
	var err error
	if req.MaxRunning, err = field("max_running"); err != nil {
		return nil, err
	}
	if req.MaxRunningPerKey, err = field("max_running_per_key"); err != nil {
		return nil, err
	}
	if req.RateLimit, err = field("rate_limit"); err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(r.PostFormValue("rate_period")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, badRequest("rate_period %q is not a positive duration such as 1s, 30s or 1m", v)
		}
		if req.RateLimit == nil {
			return nil, badRequest("rate_period needs a rate_limit (0 removes the rate limit)")
		}
		req.RatePeriod = durationpb.New(d)
	}
	if req.RateLimit != nil && *req.RateLimit > 0 && req.RatePeriod == nil {
		return nil, badRequest("rate_limit %d needs a rate_period (e.g. 1s for %d per second)", *req.RateLimit, *req.RateLimit)
	}
	if req.MaxRunning == nil && req.MaxRunningPerKey == nil && req.RateLimit == nil {
		return nil, badRequest("nothing to change: set max_running, rate_limit or max_running_per_key")
	}
	return req, nil
}

// limitsText says a queue's limits in words.
func limitsText(maxRunning, rate int32, period time.Duration, perKey int32) string {
	var parts []string
	if maxRunning > 0 {
		parts = append(parts, fmt.Sprintf("at most %d running", maxRunning))
	}
	if rate > 0 {
		parts = append(parts, fmt.Sprintf("at most %d starts per %s", rate, shortDuration(period)))
	}
	if perKey > 0 {
		parts = append(parts, fmt.Sprintf("at most %d running per key", perKey))
	}
	if len(parts) == 0 {
		return "no limit"
	}
	return strings.Join(parts, ", ")
}

// shortDuration is a Go duration without its zero units ("1m", not "1m0s"), as the form takes it.
func shortDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return config.Compact(d)
}
