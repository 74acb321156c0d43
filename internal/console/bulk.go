package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// maxBulk is the most jobs one bulk action acts on: each is its own call and transaction
// (about a millisecond), and a page must answer. More matching jobs take another confirmation.
const maxBulk = 1000

// bulkAction is retry or cancel, as the bulk form names it.
type bulkAction struct {
	verb, past string
	method     string
	statuses   []string
	call       func(c *Console, r *request, id string) error
}

var bulkActions = map[string]bulkAction{
	"retry": {verb: "Retry", past: "retried", method: jqv1.JobService_RetryJob_FullMethodName, statuses: retryable,
		call: func(c *Console, r *request, id string) error {
			_, err := c.deps.Jobs.RetryJob(r.svc(), &jqv1.RetryJobRequest{JobId: id})
			return err
		}},
	"cancel": {verb: "Cancel", past: "cancelled", method: jqv1.JobService_CancelJob_FullMethodName, statuses: cancellable,
		call: func(c *Console, r *request, id string) error {
			_, err := c.deps.Jobs.CancelJob(r.svc(), &jqv1.CancelJobRequest{JobId: id})
			return err
		}},
}

type bulkResult struct {
	Verb, Past string
	Done       int
	Refused    []bulkRefusal
	Back       string
	More       bool
}

type bulkRefusal struct {
	ID, Reason string
}

// bulk retries or cancels the selected jobs, or up to maxBulk of the jobs matching the list's
// filter, after a confirmation that says how many.
func (c *Console) bulk(w http.ResponseWriter, r *request) error {
	act, ok := bulkActions[r.PostFormValue("action")]
	if !ok {
		return badRequest("action %q is not retry or cancel", r.PostFormValue("action"))
	}
	if !r.p.Allows(act.method) {
		return roleRefused(r.p, act.method)
	}
	known, err := c.knownStatuses(r.Context())
	if err != nil {
		return err
	}
	f, err := parseJobFilter(r.PostForm, known)
	if err != nil {
		return err
	}
	back := c.url("/jobs") + "?" + f.values().Encode()
	fields := url.Values{"action": {r.PostFormValue("action")}, "target": {r.PostFormValue("target")}}
	var ids []string
	var n int
	var heading, message string
	switch r.PostFormValue("target") {
	case "selected":
		for _, v := range r.PostForm["id"] {
			id, err := uuid.Parse(v)
			if err != nil {
				return badRequest("%q is not a job id", v)
			}
			if !slices.Contains(ids, id.String()) {
				ids = append(ids, id.String())
			}
		}
		switch {
		case len(ids) == 0:
			return badRequest("no job selected: tick the jobs to %s first", strings.ToLower(act.verb))
		case len(ids) > maxBulk:
			return badRequest("%d jobs selected, over %d at once", len(ids), maxBulk)
		}
		fields["id"] = ids
		n = len(ids)
		heading = fmt.Sprintf("%s %d selected %s?", act.verb, n, plural(n, "job", "jobs"))
		message = fmt.Sprintf("Only the %s ones can be %s; the others are left as they are and listed after.",
			orList(act.statuses), act.past)
	case "matching":
		if f.Queue != "" && !r.p.MayUse(f.Queue) {
			return queueRefused(r, f.Queue)
		}
		statuses := eligible(act.statuses, f.Statuses)
		if n, err = c.db.countMatching(r.Context(), f, scopeOf(r.p), statuses, maxBulk); err != nil {
			return err
		}
		for k, v := range f.values() {
			fields[k] = v
		}
		if n == 0 {
			return &httpError{code: http.StatusConflict, msg: fmt.Sprintf("no job matching this filter is %s: nothing to %s",
				orList(act.statuses), strings.ToLower(act.verb))}
		}
		heading = fmt.Sprintf("%s %s matching %s?", act.verb, countWords(n), plural(n, "job", "jobs"))
		message = fmt.Sprintf("This %s the jobs matching the list's filter that are %s.", verbPresent(act.verb), orList(statuses))
		if n > maxBulk {
			message += fmt.Sprintf(" More than %s match: this acts on the first %s in the list's order; run it again for the rest.",
				formatCount(maxBulk), formatCount(maxBulk))
		}
	default:
		return badRequest("target %q is not selected or matching", r.PostFormValue("target"))
	}
	for _, k := range []string{"after", "before"} {
		delete(fields, k)
	}
	confirm := &confirmData{Heading: heading, Message: message, Fields: fields, Button: act.verb,
		Danger: act.verb == "Cancel", Back: back}
	if ok, err := c.confirmed(w, r, confirm); !ok || err != nil {
		return err
	}
	if r.PostFormValue("target") == "matching" {
		matched, err := c.db.matchingIDs(r.Context(), f, scopeOf(r.p), eligible(act.statuses, f.Statuses), maxBulk)
		if err != nil {
			return err
		}
		for _, id := range matched {
			ids = append(ids, id.String())
		}
	}
	res := &bulkResult{Verb: act.verb, Past: act.past, Back: back, More: n > maxBulk}
	for _, id := range ids {
		if err := r.Context().Err(); err != nil {
			break // the caller left: stop here, what was done is done (and audited)
		}
		if err := act.call(c, r, id); err != nil {
			_, msg := httpStatus(err)
			res.Refused = append(res.Refused, bulkRefusal{ID: id, Reason: msg})
			continue
		}
		res.Done++
	}
	c.logAction(r, "job."+strings.ToLower(act.verb)+".bulk", fmt.Sprintf("%d jobs", len(ids)), nil)
	return c.show(w, r, "bulk", &view{Title: fmt.Sprintf("%d %s %s", res.Done, plural(res.Done, "job", "jobs"), act.past), Nav: "jobs", Data: res})
}

// eligible are the action's statuses that the filter allows (all of them without a status
// filter).
func eligible(action, filter []string) []string {
	if len(filter) == 0 {
		return action
	}
	var out []string
	for _, s := range action {
		if slices.Contains(filter, s) {
			out = append(out, s)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// countWords is a count for a heading: "more than 1,000" past the bulk limit.
func countWords(n int) string {
	if n > maxBulk {
		return "more than " + formatCount(maxBulk)
	}
	if n == 1 {
		return "the 1"
	}
	return "the " + formatCount(int64(n))
}

func verbPresent(verb string) string {
	return strings.ToLower(verb) + "s"
}

// orList is "A, B or C".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
