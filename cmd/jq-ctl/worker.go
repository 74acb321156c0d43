package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// workerView is a worker in --output json and yaml.
type workerView struct {
	WorkerID      string   `json:"worker_id"`
	Hostname      string   `json:"hostname"`
	Status        string   `json:"status"`
	Connected     bool     `json:"connected"`
	Concurrency   int32    `json:"concurrency"`
	ActiveJobs    int32    `json:"active_jobs"`
	Queues        []string `json:"queues"`
	LastHeartbeat *string  `json:"last_heartbeat"`
	RegisteredAt  *string  `json:"registered_at"`
	Owner         string   `json:"owner"`
}

func newWorkerView(w *jqv1.Worker) workerView {
	queues := w.GetQueues()
	if queues == nil {
		queues = []string{}
	}
	return workerView{
		WorkerID: w.GetWorkerId(), Hostname: w.GetHostname(), Status: workerStatusName(w.GetStatus()),
		Connected: w.GetConnected(), Concurrency: w.GetConcurrency(), ActiveJobs: w.GetActiveJobCount(), Queues: queues,
		LastHeartbeat: rfc3339(w.GetLastHeartbeat()), RegisteredAt: rfc3339(w.GetRegisteredAt()), Owner: w.GetOwner(),
	}
}

func parseWorkerID(s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", failf(exitInvalid, "worker id %q is not a UUID", s)
	}
	return id.String(), nil
}

// workerListCommand is `jq-ctl worker list`.
type workerListCommand struct {
	app    *app
	status string
}

func (c *workerListCommand) spec() spec {
	return spec{
		name:  "list",
		short: "list registered workers: status, connection, load, queues, last heartbeat",
		examples: []string{
			"jq-ctl worker list",
			"jq-ctl worker list --status draining -o json",
		},
		flags: func(f *flagSet) {
			f.String(&c.status, "status", "STATUS", "", "only workers in this status: online, offline, draining")
		},
	}
}

func (c *workerListCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("worker list", args); err != nil {
		return err
	}
	status := jqv1.WorkerStatus_WORKER_STATUS_UNSPECIFIED
	if c.status != "" {
		v, ok := jqv1.WorkerStatus_value["WORKER_STATUS_"+strings.ToUpper(strings.TrimSpace(c.status))]
		if !ok || v == 0 {
			return failf(exitInvalid, "--status %q is not one of online, offline, draining", c.status)
		}
		status = jqv1.WorkerStatus(v)
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	var workers []*jqv1.Worker
	for token := ""; ; {
		resp, err := call(ctx, cl, cl.admin.ListWorkers, &jqv1.ListWorkersRequest{Status: status, Limit: 500, PageToken: token})
		if err != nil {
			return err
		}
		workers = append(workers, resp.GetWorkers()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	views := make([]workerView, 0, len(workers))
	for _, w := range workers {
		views = append(views, newWorkerView(w))
	}
	return c.app.emit(views, func(w io.Writer) {
		now := c.app.now()
		row(w, "WORKER ID", "HOSTNAME", "STATUS", "CONNECTED", "JOBS", "QUEUES", "LAST HEARTBEAT", "REGISTERED")
		for _, wk := range workers {
			row(w, wk.GetWorkerId(), dash(wk.GetHostname()), workerStatusName(wk.GetStatus()), yesNo(wk.GetConnected()),
				fmt.Sprintf("%d/%d", wk.GetActiveJobCount(), wk.GetConcurrency()), dash(strings.Join(wk.GetQueues(), ",")),
				ago(tsTime(wk.GetLastHeartbeat()), now), ago(tsTime(wk.GetRegisteredAt()), now))
		}
	})
}

// workerDrainCommand is `jq-ctl worker drain`.
type workerDrainCommand struct{ app *app }

func (c *workerDrainCommand) spec() spec {
	return spec{
		name:  "drain",
		args:  "WORKER_ID",
		short: "mark a worker DRAINING: it finishes its running jobs and takes no new ones",
		long:  "The worker stays connected; it learns at once on its stream, or from its next heartbeat.",
		examples: []string{
			"jq-ctl worker drain 0191e3a0-7c1d-7000-8000-000000000002",
		},
	}
}

func (c *workerDrainCommand) Run(ctx context.Context, args []string) error {
	id, resp, err := callOnID(ctx, c.app, "worker drain", "WORKER_ID", args, parseWorkerID,
		func(ctx context.Context, cl *client, id string) (*jqv1.DrainWorkerResponse, error) {
			return call(ctx, cl, cl.admin.DrainWorker, &jqv1.DrainWorkerRequest{WorkerId: id})
		})
	if err != nil {
		return err
	}
	return c.app.emit(newWorkerView(resp.GetWorker()), func(w io.Writer) {
		fmt.Fprintf(w, "worker %s is %s\n", id, workerStatusName(resp.GetWorker().GetStatus()))
	})
}

// workerShutdownCommand is `jq-ctl worker shutdown`.
type workerShutdownCommand struct{ app *app }

func (c *workerShutdownCommand) spec() spec {
	return spec{
		name:  "shutdown",
		args:  "WORKER_ID",
		short: "drain a worker, then have it exit",
		examples: []string{
			"jq-ctl worker shutdown 0191e3a0-7c1d-7000-8000-000000000002",
		},
	}
}

func (c *workerShutdownCommand) Run(ctx context.Context, args []string) error {
	id, resp, err := callOnID(ctx, c.app, "worker shutdown", "WORKER_ID", args, parseWorkerID,
		func(ctx context.Context, cl *client, id string) (*jqv1.ShutdownWorkerResponse, error) {
			return call(ctx, cl, cl.admin.ShutdownWorker, &jqv1.ShutdownWorkerRequest{WorkerId: id})
		})
	if err != nil {
		return err
	}
	return c.app.emit(newWorkerView(resp.GetWorker()), func(w io.Writer) {
		fmt.Fprintf(w, "worker %s is %s and will exit once its running jobs finish\n", id, workerStatusName(resp.GetWorker().GetStatus()))
	})
}
