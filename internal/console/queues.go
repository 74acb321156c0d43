package console

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue/queuename"
)

type queueRow struct {
	Name       string
	MaxRetries int32
	TTL        time.Duration
	Counts     []count
	// Unfinished counts the jobs waiting or held (PENDING, ASSIGNED, RUNNING).
	Pending, Running         count
	DoneLastMinute, DoneHour int64
	OldestRunnable           time.Time
	// Flow control (docs/flow-control.md): 0 is no limit.
	Paused                       bool
	MaxRunning, MaxRunningPerKey int32
	RateLimit                    int32
	RatePeriod                   time.Duration
}

type queuesData struct {
	Statuses  []string
	Queues    []queueRow
	CountNote string
	// AnyPaused and AnyRunning decide which of resume-all and pause-all make sense.
	AnyPaused, AnyRunning bool
}

func (c *Console) queues(w http.ResponseWriter, r *request) error {
	resp, err := c.deps.Admin.ListQueues(r.svc(), &jqv1.ListQueuesRequest{})
	if err != nil {
		return err
	}
	cn, err := c.counts.get(r.Context())
	if err != nil {
		return err
	}
	act, err := c.queueActivity(r.Context())
	if err != nil {
		return err
	}
	d := &queuesData{Statuses: cn.Statuses, CountNote: countNote(cn)}
	for _, q := range resp.GetQueues() {
		row := queueRow{Name: q.GetName(), MaxRetries: q.GetMaxRetries(), TTL: time.Duration(q.GetTtlSeconds()) * time.Second,
			Pending: cn.get(q.GetName(), "PENDING"), Running: cn.get(q.GetName(), "RUNNING"),
			Paused: q.GetPaused(), MaxRunning: q.GetMaxRunning(), MaxRunningPerKey: q.GetMaxRunningPerKey(),
			RateLimit: q.GetRateLimit(), RatePeriod: q.GetRatePeriod().AsDuration()}
		if row.Paused {
			d.AnyPaused = true
		} else {
			d.AnyRunning = true
		}
		for _, s := range cn.Statuses {
			row.Counts = append(row.Counts, cn.get(q.GetName(), s))
		}
		if a := act[q.GetName()]; a != nil {
			row.DoneLastMinute, row.DoneHour, row.OldestRunnable = a.DoneLastMinute, a.DoneLastHour, a.OldestRunnable
		}
		d.Queues = append(d.Queues, row)
	}
	return c.show(w, r, "queues", &view{Title: "Queues", Nav: "queues", Live: true, Data: d})
}

type workerRow struct {
	ID, Host, Status, Owner string
	Queues                  []string
	Used, Slots             int32
	Connected               bool
	Heartbeat, Registered   time.Time
	Running                 []string
}

type workersData struct {
	Workers []workerRow
	Offline bool
	Fencing bool
}

func (c *Console) workers(w http.ResponseWriter, r *request) error {
	offline := false
	switch v := r.URL.Query().Get("offline"); v {
	case "", "0":
	case "1":
		offline = true
	default:
		return badRequest("offline %q is not 0 or 1", v)
	}
	resp, err := c.deps.Admin.ListWorkers(r.svc(), &jqv1.ListWorkersRequest{})
	if err != nil {
		return err
	}
	d := &workersData{Offline: offline, Fencing: r.p.SeesFencing()}
	var ids []uuid.UUID
	for _, wk := range resp.GetWorkers() {
		if wk.GetStatus() == jqv1.WorkerStatus_WORKER_STATUS_OFFLINE && !offline {
			continue
		}
		d.Workers = append(d.Workers, workerRow{
			ID: wk.GetWorkerId(), Host: wk.GetHostname(), Owner: wk.GetOwner(), Queues: wk.GetQueues(),
			Status: trimEnum(wk.GetStatus().String(), "WORKER_STATUS_"), Used: wk.GetActiveJobCount(), Slots: wk.GetConcurrency(),
			Connected: wk.GetConnected(), Heartbeat: tsTime(wk.GetLastHeartbeat()), Registered: tsTime(wk.GetRegisteredAt()),
		})
		if id, err := uuid.Parse(wk.GetWorkerId()); err == nil {
			ids = append(ids, id)
		}
	}
	// Which job a worker runs is half of that attempt's fencing token: admins only, as the API.
	if d.Fencing {
		running, err := c.db.runningJobs(r.Context(), ids)
		if err != nil {
			return err
		}
		for i := range d.Workers {
			id, _ := uuid.Parse(d.Workers[i].ID)
			for _, j := range running[id] {
				d.Workers[i].Running = append(d.Workers[i].Running, j.String())
			}
		}
	}
	return c.show(w, r, "workers", &view{Title: "Workers", Nav: "workers", Live: true, Data: d})
}

func trimEnum(s, prefix string) string {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}

// parseQueueName reads the {name} of the path.
func parseQueueName(r *request) (string, error) {
	name := r.PathValue("name")
	if !queuename.Valid(name) {
		return "", badRequest("%q is not a queue name (%s)", name, queuename.Rule)
	}
	return name, nil
}

// parseWorkerID reads the {id} of the path.
func parseWorkerID(r *request) (string, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return "", badRequest("%q is not a worker id", r.PathValue("id"))
	}
	return id.String(), nil
}
