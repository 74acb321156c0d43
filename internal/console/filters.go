package console

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jqhq/jq/queue/queuename"
)

const (
	sortNewest      = "new"
	sortOldest      = "old"
	sortPriority    = "priority"     // highest first, newest first within a priority
	sortPriorityLow = "priority-low" // lowest first, oldest first within a priority
	sortStatus      = "status"       // lifecycle order (PENDING first), oldest first within a status
	sortStatusDesc  = "status-desc"  // the reverse

	defaultPageSize = 50
	maxPageSize     = 200
	maxSearchLen    = 500
	maxKeyLen       = 255

	// idClockSlack widens the upper bound of a created range on job ids. A job id holds the
	// clock time of its insert (uuid_v7), which is at or after created_at (the time its
	// transaction began); a job submitted in a transaction open longer than this could be
	// missed at the upper edge of a range.
	idClockSlack = time.Hour
	// idClockStepSlack widens the lower bound the same way for a clock stepped back between a
	// transaction's start and its insert (seen on virtual machines: an id a millisecond before
	// its created_at).
	idClockStepSlack = time.Second
)

// jobFilter is what the jobs page lists: its query parameters, checked.
type jobFilter struct {
	Statuses []string
	Queue    string
	// Priority is 0-9, or -1 for any.
	Priority int
	Key      string
	From, To time.Time
	// Search is a JSON object the payload must contain, or else text it must contain.
	Search string
	Sort   string
	// After and Before are the page's cursor: the last job of the previous page, or the first
	// of the next one. With a sort by a column, CursorKey is that job's value of it (its
	// priority or status when the page was made: a job's status changes, the cursor does not).
	After, Before uuid.UUID
	CursorKey     string
	Limit         int
}

// sortOrder is how a sort orders the list: by column (none: job id only), then job id, all in
// one direction, so that a cursor is a row comparison an index can walk.
type sortOrder struct {
	Column string // "", "priority" or "status"
	Desc   bool
}

var sorts = map[string]sortOrder{
	sortNewest:      {Desc: true},
	sortOldest:      {},
	sortPriority:    {Column: "priority", Desc: true},
	sortPriorityLow: {Column: "priority"},
	sortStatus:      {Column: "status"},
	sortStatusDesc:  {Column: "status", Desc: true},
}

// sortNames lists the sorts, for messages.
var sortNames = []string{sortNewest, sortOldest, sortPriority, sortPriorityLow, sortStatus, sortStatusDesc}

func (f *jobFilter) order() sortOrder { return sorts[f.Sort] }

// cursorValue is a job's cursor under the filter's sort: its id, after its priority or status
// and a "~" for a sort by those.
func (f *jobFilter) cursorValue(j *jobRow) string {
	switch f.order().Column {
	case "priority":
		return strconv.Itoa(j.Priority) + "~" + j.ID.String()
	case "status":
		return j.Status + "~" + j.ID.String()
	}
	return j.ID.String()
}

// timeLayouts are the forms a created bound may take: RFC 3339, or what a datetime-local
// input sends (taken as UTC, which the page says).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// parseJobFilter reads the jobs page's query. Every bad parameter is a 400 naming it;
// statuses must be ones of the database (known).
func parseJobFilter(q url.Values, known []string) (*jobFilter, error) {
	f := &jobFilter{Priority: -1, Sort: sortNewest, Limit: defaultPageSize}
	for _, v := range q["status"] {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.ToUpper(strings.TrimSpace(s))
			if s == "" {
				continue
			}
			if !slices.Contains(known, s) {
				return nil, badRequest("status %q is not a job status (%s)", s, strings.Join(known, ", "))
			}
			if !slices.Contains(f.Statuses, s) {
				f.Statuses = append(f.Statuses, s)
			}
		}
	}
	if f.Queue = strings.TrimSpace(q.Get("queue")); f.Queue != "" && !queuename.Valid(f.Queue) {
		return nil, badRequest("queue %q is not a queue name (%s)", f.Queue, queuename.Rule)
	}
	if v := q.Get("priority"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 9 {
			return nil, badRequest("priority %q is not a number from 0 to 9", v)
		}
		f.Priority = p
	}
	if f.Key = q.Get("key"); len(f.Key) > maxKeyLen {
		return nil, badRequest("key is %d bytes, over %d", len(f.Key), maxKeyLen)
	}
	var err error
	if f.From, err = parseTime("from", q.Get("from")); err != nil {
		return nil, err
	}
	if f.To, err = parseTime("to", q.Get("to")); err != nil {
		return nil, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, badRequest("from (%s) is not before to (%s)", q.Get("from"), q.Get("to"))
	}
	if f.Search = strings.TrimSpace(q.Get("q")); len(f.Search) > maxSearchLen {
		return nil, badRequest("search is %d bytes, over %d", len(f.Search), maxSearchLen)
	}
	if f.Sort = q.Get("sort"); f.Sort == "" {
		f.Sort = sortNewest
	} else if _, ok := sorts[f.Sort]; !ok {
		return nil, badRequest("sort %q is not one of %s", f.Sort, strings.Join(sortNames, ", "))
	}
	var afterKey, beforeKey string
	if f.After, afterKey, err = f.parseCursor("after", q.Get("after"), known); err != nil {
		return nil, err
	}
	if f.Before, beforeKey, err = f.parseCursor("before", q.Get("before"), known); err != nil {
		return nil, err
	}
	if f.After != uuid.Nil && f.Before != uuid.Nil {
		return nil, badRequest("after and before are exclusive")
	}
	f.CursorKey = afterKey + beforeKey
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return nil, badRequest("limit %q is not a number from 1 to %d", v, maxPageSize)
		}
		f.Limit = n
	}
	return f, nil
}

func parseTime(name, v string) (time.Time, error) {
	if v = strings.TrimSpace(v); v == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("%s %q is not a time (2006-01-02T15:04 in UTC, or RFC 3339)", name, v)
}

// parseCursor reads a cursor: a job id, or for a sort by a column, that job's value of it, a
// "~" and its id ("7~0190…", "RUNNING~0190…").
func (f *jobFilter) parseCursor(name, v string, known []string) (uuid.UUID, string, error) {
	if v == "" {
		return uuid.Nil, "", nil
	}
	col := f.order().Column
	key, idText, keyed := strings.Cut(v, "~")
	if !keyed {
		idText, key = v, ""
	}
	id, err := uuid.Parse(idText)
	if err != nil {
		return uuid.Nil, "", badRequest("%s %q is not a job id", name, v)
	}
	switch {
	case col == "" && keyed:
		return uuid.Nil, "", badRequest("%s %q is not a job id (sort %s pages by job id alone)", name, v, f.Sort)
	case col != "" && !keyed:
		return uuid.Nil, "", badRequest("%s %q lacks the job's %s (sort %s pages by %s~job id)", name, v, col, f.Sort, col)
	case col == "priority":
		if p, err := strconv.Atoi(key); err != nil || p < 0 || p > 9 {
			return uuid.Nil, "", badRequest("%s %q: priority %q is not a number from 0 to 9", name, v, key)
		}
	case col == "status":
		if !slices.Contains(known, key) {
			return uuid.Nil, "", badRequest("%s %q: status %q is not a job status", name, v, key)
		}
	}
	return id, key, nil
}

// conditions are the filter's SQL conditions on jq.jobs, within scope (nil: every queue);
// their parameters are appended to args.
func (f *jobFilter) conditions(scope []string, args *[]any) []string {
	var conds []string
	add := func(format string, v any) {
		*args = append(*args, v)
		conds = append(conds, fmt.Sprintf(format, len(*args)))
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN ("+statusList(f.Statuses)+")")
	}
	if f.Queue != "" {
		add("queue_name = $%d", f.Queue)
	}
	if scope != nil {
		add("queue_name = ANY($%d)", scope)
	}
	if f.Priority >= 0 {
		add("priority = $%d", f.Priority)
	}
	if f.Key != "" {
		add("idempotency_key = $%d", f.Key)
	}
	// Job ids are time-ordered (uuid_v7), so a created range is also a range of the primary
	// key, which the list walks: the bounds on job_id let it start and stop in the right place.
	if !f.From.IsZero() {
		add("created_at >= $%d", f.From)
		add("job_id >= $%d", uuidV7Floor(f.From.Add(-idClockStepSlack)))
	}
	if !f.To.IsZero() {
		add("created_at < $%d", f.To)
		add("job_id < $%d", uuidV7Floor(f.To.Add(idClockSlack)))
	}
	if f.Search != "" {
		if f.searchJSON() {
			add("payload @> $%d::jsonb", f.Search)
		} else {
			add(`payload::text ILIKE $%d`, "%"+escapeLike(f.Search)+"%")
		}
	}
	return conds
}

// searchJSON reports whether the search is a JSON object, matched by containment
// ({"kind": "report"} finds payloads with that key and value, whatever their spacing).
func (f *jobFilter) searchJSON() bool {
	return strings.HasPrefix(f.Search, "{") && json.Valid([]byte(f.Search))
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// uuidV7Floor is the smallest version-7 UUID of time t: every job id made at t or later is
// at least this.
func uuidV7Floor(t time.Time) uuid.UUID {
	var id uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(max(t.UnixMilli(), 0)))
	copy(id[:6], ms[2:])
	return id
}

// values is the filter as query parameters, without the cursor (links keep the filter).
func (f *jobFilter) values() url.Values {
	v := url.Values{}
	for _, s := range f.Statuses {
		v.Add("status", s)
	}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("queue", f.Queue)
	if f.Priority >= 0 {
		v.Set("priority", strconv.Itoa(f.Priority))
	}
	set("key", f.Key)
	if !f.From.IsZero() {
		v.Set("from", f.From.Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.Format(time.RFC3339))
	}
	set("q", f.Search)
	if f.Sort != sortNewest {
		v.Set("sort", f.Sort)
	}
	if f.Limit != defaultPageSize {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	return v
}

// filtered reports whether the filter narrows the list at all.
func (f *jobFilter) filtered() bool {
	return len(f.Statuses) > 0 || f.Queue != "" || f.Priority >= 0 || f.Key != "" || !f.From.IsZero() || !f.To.IsZero() || f.Search != ""
}
