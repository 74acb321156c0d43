package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	jqgrpc "github.com/jqhq/jq/grpc"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// svc is the request's context carrying its caller, for the in-process services.
func (r *request) svc() context.Context { return jqgrpc.WithPrincipal(r.Context(), r.p) }

// home is the overview for the roles that may see the system's state, the jobs list for
// submitters, and a refusal for the worker role.
func (c *Console) home(w http.ResponseWriter, r *request) error {
	switch {
	case r.p.Allows(actions["overview"]):
		return c.overview(w, r)
	case r.p.Allows(actions["jobs"]):
		http.Redirect(w, r.Request, c.url("/jobs"), http.StatusSeeOther)
		return nil
	}
	return roleRefused(r.p, actions["jobs"])
}

// queueCounts is one row of a counts table.
type queueCounts struct {
	Name   string
	Counts []count
}

type overviewData struct {
	Statuses  []string
	Totals    []count
	Queues    []queueCounts
	CountNote string
	Charts    []template.HTML
	// Workers.
	Online, Draining     int
	SlotsUsed, SlotsFree int
	// Alert-worthy facts.
	DeadLastHour  int64
	FailedLastHr  int64
	Oldest        time.Time
	OldestQueue   string
	ScopedToQueue []string
}

func (c *Console) overview(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	cn, err := c.counts.get(ctx)
	if err != nil {
		return err
	}
	charts, err := c.chartsFor(ctx, r.p)
	if err != nil {
		return err
	}
	act, err := c.queueActivity(ctx)
	if err != nil {
		return err
	}
	d := &overviewData{Statuses: cn.Statuses, CountNote: countNote(cn), Charts: charts.charts(),
		DeadLastHour: charts.DeadLettered, FailedLastHr: charts.Failed, ScopedToQueue: scopeOf(r.p)}
	for _, s := range cn.Statuses {
		d.Totals = append(d.Totals, cn.total(r.p, s))
	}
	d.Queues = countRows(cn, r.p)
	for q, a := range act {
		if r.p.MayUse(q) && !a.OldestRunnable.IsZero() && (d.Oldest.IsZero() || a.OldestRunnable.Before(d.Oldest)) {
			d.Oldest, d.OldestQueue = a.OldestRunnable, q
		}
	}
	for _, st := range []jqv1.WorkerStatus{jqv1.WorkerStatus_WORKER_STATUS_ONLINE, jqv1.WorkerStatus_WORKER_STATUS_DRAINING} {
		resp, err := c.deps.Admin.ListWorkers(r.svc(), &jqv1.ListWorkersRequest{Status: st})
		if err != nil {
			return err
		}
		for _, wk := range resp.GetWorkers() {
			if st == jqv1.WorkerStatus_WORKER_STATUS_ONLINE {
				d.Online++
			} else {
				d.Draining++
			}
			d.SlotsUsed += int(wk.GetActiveJobCount())
			d.SlotsFree += max(int(wk.GetConcurrency()-wk.GetActiveJobCount()), 0)
		}
	}
	return c.show(w, r, "overview", &view{Title: "Overview", Nav: "overview", Live: true, Data: d})
}

// countRows are the counts of the queues p may see, by name.
func countRows(cn *counts, p *jqgrpc.Principal) []queueCounts {
	var rows []queueCounts
	for q := range cn.n {
		if !p.MayUse(q) {
			continue
		}
		row := queueCounts{Name: q}
		for _, s := range cn.Statuses {
			row.Counts = append(row.Counts, cn.get(q, s))
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b queueCounts) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// countNote says how exact the counts are, as the page must.
func countNote(cn *counts) string {
	at := cn.At.UTC().Format("15:04:05 UTC")
	if cn.SamplePct == 0 {
		return fmt.Sprintf("Counts are exact, as of %s (recomputed every %s at most).", at, cacheTTL)
	}
	return fmt.Sprintf("Counts marked ≈ are estimates: the jobs of a queue in one status are counted exactly up to %s; "+
		"above, they are estimated from a %.2g%% sample of jq.jobs (about %s rows). As of %s (recomputed every %s at most).",
		formatCount(int64(cn.Cap)), cn.SamplePct, formatCount(cn.TableRows), at, cacheTTL)
}

// queueActivity is every queue's recent activity, computed at most once per cacheTTL.
func (c *Console) queueActivity(ctx context.Context) (map[string]*queueActivity, error) {
	a, _, err := c.activity.get(ctx, "", c.db.activity)
	return a, err
}
