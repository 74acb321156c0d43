package console

import (
	"net/http"
	"net/url"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// confirmData is a confirmation page: the form to post again with confirm=yes.
type confirmData struct {
	Heading string
	Message string
	Detail  string
	// Action is the URL the form posts to; Fields are its hidden fields besides csrf and confirm.
	Action string
	Fields url.Values
	Button string
	// Danger styles the button as destructive.
	Danger bool
	Back   string
}

// confirmed reports whether the action's form was confirmed; when not, it shows the
// confirmation page (a state-changing action never happens on the first click alone).
func (c *Console) confirmed(w http.ResponseWriter, r *request, d *confirmData) (bool, error) {
	if r.PostFormValue("confirm") == "yes" {
		return true, nil
	}
	if d.Action == "" {
		d.Action = r.URL.Path
	}
	return false, c.show(w, r, "confirm", &view{Title: d.Heading, Data: d})
}

// done ends an action: the outcome is shown once on the next page, where it redirects.
func (c *Console) done(w http.ResponseWriter, r *request, to, msg string) error {
	if r.sess != nil {
		c.sessions.setFlash(r.sess, msg)
	}
	http.Redirect(w, r.Request, to, http.StatusSeeOther)
	return nil
}

func (c *Console) retryJob(w http.ResponseWriter, r *request) error {
	id, err := parseJobID(r)
	if err != nil {
		return err
	}
	_, err = c.deps.Jobs.RetryJob(r.svc(), &jqv1.RetryJobRequest{JobId: id})
	c.logAction(r, "job.retry", id, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/jobs/"+id), "Job retried: it is PENDING again and runs as soon as a worker is free.")
}

func (c *Console) cancelJob(w http.ResponseWriter, r *request) error {
	id, err := parseJobID(r)
	if err != nil {
		return err
	}
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Cancel job " + shortID(id) + "?",
		Message: "Job " + id + " will be dead-lettered with reason CANCELLED and will not run. You can retry it later.",
		Button:  "Cancel the job", Danger: true, Back: c.url("/jobs/" + id),
	})
	if !ok || err != nil {
		return err
	}
	_, err = c.deps.Jobs.CancelJob(r.svc(), &jqv1.CancelJobRequest{JobId: id})
	c.logAction(r, "job.cancel", id, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/jobs/"+id), "Job cancelled.")
}

func (c *Console) deleteQueue(w http.ResponseWriter, r *request) error {
	name, err := parseQueueName(r)
	if err != nil {
		return err
	}
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Delete queue " + name + "?",
		Message: "Queue " + name + " and all its finished jobs (DONE, DEAD_LETTERED and CANCELLED, with their history) will be deleted. " +
			"jq refuses while the queue has unfinished jobs.",
		Button: "Delete the queue", Danger: true, Back: c.url("/queues"),
	})
	if !ok || err != nil {
		return err
	}
	_, err = c.deps.Admin.DeleteQueue(r.svc(), &jqv1.DeleteQueueRequest{Name: name})
	c.logAction(r, "queue.delete", name, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/queues"), "Queue "+name+" deleted.")
}

func (c *Console) drainWorker(w http.ResponseWriter, r *request) error {
	id, err := parseWorkerID(r)
	if err != nil {
		return err
	}
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Drain worker " + shortID(id) + "?",
		Message: "Worker " + id + " will take no new jobs and finish the ones it runs. It stays connected.",
		Button:  "Drain", Back: c.url("/workers"),
	})
	if !ok || err != nil {
		return err
	}
	_, err = c.deps.Admin.DrainWorker(r.svc(), &jqv1.DrainWorkerRequest{WorkerId: id})
	c.logAction(r, "worker.drain", id, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/workers"), "Worker "+shortID(id)+" is draining.")
}

func (c *Console) shutdownWorker(w http.ResponseWriter, r *request) error {
	id, err := parseWorkerID(r)
	if err != nil {
		return err
	}
	ok, err := c.confirmed(w, r, &confirmData{
		Heading: "Shut worker " + shortID(id) + " down?",
		Message: "Worker " + id + " will take no new jobs, finish the ones it runs, then exit.",
		Button:  "Shut down", Danger: true, Back: c.url("/workers"),
	})
	if !ok || err != nil {
		return err
	}
	_, err = c.deps.Admin.ShutdownWorker(r.svc(), &jqv1.ShutdownWorkerRequest{WorkerId: id})
	c.logAction(r, "worker.shutdown", id, err)
	if err != nil {
		return err
	}
	return c.done(w, r, c.url("/workers"), "Worker "+shortID(id)+" shuts down once its jobs are done.")
}
