package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// listTimeout bounds the jobs list: a payload search over millions of jobs with few matches
// may read them all, and a page must answer.
const listTimeout = 5 * time.Second

// knownStatuses are the job statuses of the database, read at most once a minute.
func (c *Console) knownStatuses(ctx context.Context) ([]string, error) {
	s, _, err := c.statuses.get(ctx, "", c.db.statuses)
	return s, err
}

type jobsData struct {
	Filter   *jobFilter
	Statuses []string
	// Queues for the queue filter (only for callers who may list queues).
	Queues []string
	Jobs   []jobRow
	// Links of the pages around this one ("" when there is none).
	First, Prev, Next string
	// Query is the filter as a query string, for the bulk form.
	Query url.Values
	// Notice explains an empty page that is not really empty (a search stopped).
	Notice string
	// Fencing: the caller may see worker ids.
	Fencing bool
	Bulk    bool
	Max     int
	// SortBy are the column headers' links: each sorts by its column, or reverses the sort
	// when it is already by that column; AriaSort says how each column is sorted now.
	SortBy   map[string]string
	AriaSort map[string]string
}

// sortColumns are the sortable columns of the list: their sort, and the reverse one.
var sortColumns = map[string][2]string{
	"created":  {sortNewest, sortOldest},
	"priority": {sortPriority, sortPriorityLow},
	"status":   {sortStatus, sortStatusDesc},
}

// sortLinks sets the column headers' links, which keep the filter and start from the first page.
func (c *Console) sortLinks(d *jobsData, f *jobFilter) {
	d.SortBy, d.AriaSort = map[string]string{}, map[string]string{}
	for col, pair := range sortColumns {
		to := pair[0]
		switch f.Sort {
		case pair[0]:
			to = pair[1]
		case pair[1]:
			to = pair[0]
		}
		v := f.values()
		v.Del("sort")
		if to != sortNewest {
			v.Set("sort", to)
		}
		d.SortBy[col] = c.url("/jobs") + "?" + v.Encode()
		d.AriaSort[col] = "none"
		if f.Sort == pair[0] || f.Sort == pair[1] {
			d.AriaSort[col] = "ascending"
			if sorts[f.Sort].Desc {
				d.AriaSort[col] = "descending"
			}
		}
	}
}

func (c *Console) jobs(w http.ResponseWriter, r *request) error {
	known, err := c.knownStatuses(r.Context())
	if err != nil {
		return err
	}
	f, err := parseJobFilter(r.URL.Query(), known)
	if err != nil {
		return err
	}
	if f.Queue != "" && !r.p.MayUse(f.Queue) {
		return queueRefused(r, f.Queue)
	}
	d := &jobsData{Filter: f, Statuses: known, Query: f.values(), Fencing: r.p.SeesFencing(), Max: maxBulk,
		Bulk: r.p.Allows(actions["retry"]) || r.p.Allows(actions["cancel"])}
	if r.p.Allows(actions["queues"]) {
		if resp, err := c.deps.Admin.ListQueues(r.svc(), &jqv1.ListQueuesRequest{}); err == nil {
			for _, q := range resp.GetQueues() {
				d.Queues = append(d.Queues, q.GetName())
			}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), listTimeout)
	defer cancel()
	jobs, more, err := c.db.listJobs(ctx, f, scopeOf(r.p), f.Limit)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		d.Notice = "The list stopped after " + listTimeout.String() + " without filling a page: narrow it with a queue, a status or a created range " +
			"(a payload search reads every job it passes)."
	case err != nil:
		return err
	}
	if !d.Fencing {
		for i := range jobs {
			jobs[i].WorkerID, jobs[i].Attempt = uuid.Nil, 0
		}
	}
	d.Jobs = jobs
	c.pageLinks(d, f, jobs, more)
	c.sortLinks(d, f)
	return c.show(w, r, "jobs", &view{Title: "Jobs", Nav: "jobs", Live: true, Data: d})
}

// pageLinks sets the links to the first, previous and next pages of the list.
func (c *Console) pageLinks(d *jobsData, f *jobFilter, jobs []jobRow, more bool) {
	link := func(k string, j *jobRow) string {
		v := f.values()
		if k != "" {
			v.Set(k, f.cursorValue(j))
		}
		return c.url("/jobs") + "?" + v.Encode()
	}
	paged := f.After != uuid.Nil || f.Before != uuid.Nil
	if paged {
		d.First = link("", nil)
	}
	if len(jobs) == 0 {
		return
	}
	backward := f.Before != uuid.Nil
	if (backward && more) || (!backward && f.After != uuid.Nil) {
		d.Prev = link("before", &jobs[0])
	}
	if (!backward && more) || backward {
		d.Next = link("after", &jobs[len(jobs)-1])
	}
}

// queueRefused is the answer to a caller outside its key's queues, worded as gRPC's.
func queueRefused(r *request, queue string) error {
	return &httpError{code: http.StatusForbidden, msg: r.p.Name + " (role " + string(r.p.Role) + ") may not use queue " + queue}
}

// parseJobID reads the {id} of the path.
func parseJobID(r *request) (string, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return "", badRequest("%q is not a job id", r.PathValue("id"))
	}
	return id.String(), nil
}
