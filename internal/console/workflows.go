package console

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// workflowsPage is how many workflows the list shows at once.
const workflowsPage = 50

type workflowsData struct {
	Workflows []workflowSummary
	// Older is the cursor of the next page (the last workflow's id), "" when there is none.
	Older  string
	Before string
	Scoped bool
}

// workflows lists the most recent workflows, newest first, with the states of their jobs.
// The API has no call to list workflows: the console reads them (see queries.go), and a
// caller limited to some queues sees only workflows whose jobs are all in them, as GetWorkflow.
func (c *Console) workflows(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	if id := strings.TrimSpace(q.Get("id")); id != "" { // the "open by id" form
		u, err := uuid.Parse(id)
		if err != nil {
			return badRequest("id %q is not a workflow id", id)
		}
		http.Redirect(w, r.Request, c.url("/workflows/"+u.String()), http.StatusSeeOther)
		return nil
	}
	var before uuid.UUID
	if v := q.Get("before"); v != "" {
		var err error
		if before, err = uuid.Parse(v); err != nil {
			return badRequest("before %q is not a workflow id", v)
		}
	}
	scope := scopeOf(r.p)
	list, more, err := c.db.listWorkflows(r.Context(), before, scope, workflowsPage)
	if err != nil {
		return err
	}
	d := &workflowsData{Workflows: list, Scoped: scope != nil}
	if before != uuid.Nil {
		d.Before = before.String()
	}
	if more && len(list) > 0 {
		d.Older = list[len(list)-1].ID.String()
	}
	return c.show(w, r, "workflows", &view{Title: "Workflows", Nav: "workflows", Live: true, Data: d})
}

// workflowNode is one job of a workflow as its page shows it.
type workflowNode struct {
	Node, JobID, Queue, Status string
	DependsOn, Dependents      []string
	// Stage is the node's depth in the graph: 0 for a node that depends on none.
	Stage              int
	HasProgress        bool
	Progress           float64
	Created, Started   time.Time
	Completed          time.Time
	Error              string
	RetryCount, MaxRet int32
}

type workflowData struct {
	ID, Name, CreatedBy string
	Created             time.Time
	Nodes               []workflowNode
	// Counts are the jobs per status, in lifecycle order.
	Counts []statusCount
	Pruned bool
}

type statusCount struct {
	Status string
	N      int
}

func (c *Console) workflow(w http.ResponseWriter, r *request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return badRequest("%q is not a workflow id", r.PathValue("id"))
	}
	resp, err := c.deps.Jobs.GetWorkflow(r.svc(), &jqv1.GetWorkflowRequest{WorkflowId: id.String()})
	if err != nil {
		return err
	}
	d := &workflowData{ID: resp.GetWorkflowId(), Name: resp.GetName(), CreatedBy: resp.GetCreatedBy(), Created: tsTime(resp.GetCreatedAt())}
	stage := map[string]int{}
	index := map[string]int{}
	counts := map[string]int{}
	for _, wj := range resp.GetJobs() {
		j := wj.GetJob()
		n := workflowNode{
			Node: wj.GetNode(), JobID: wj.GetJobId(), Queue: j.GetQueueName(), Status: statusName(j.GetStatus()),
			DependsOn: wj.GetDependsOn(), Created: tsTime(j.GetCreatedAt()), Started: tsTime(j.GetStartedAt()),
			Completed: tsTime(j.GetCompletedAt()), Error: firstLine(j.GetErrorMessage(), 200),
			RetryCount: j.GetRetryCount(), MaxRet: j.GetMaxRetries(),
		}
		if n.Status == "" {
			n.Status = "UNKNOWN"
		}
		if j.Progress != nil {
			n.HasProgress, n.Progress = true, min(max(j.GetProgress(), 0), 100)
		}
		// Nodes come after the nodes they depend on, so one pass finds each one's stage.
		for _, dep := range n.DependsOn {
			if s, ok := stage[dep]; ok {
				n.Stage = max(n.Stage, s+1)
			} else {
				d.Pruned = true // a dependency pruned since: its stage is unknown
			}
			if i, ok := index[dep]; ok {
				d.Nodes[i].Dependents = append(d.Nodes[i].Dependents, n.Node)
			}
		}
		stage[n.Node], index[n.Node] = n.Stage, len(d.Nodes)
		counts[n.Status]++
		d.Nodes = append(d.Nodes, n)
	}
	statuses, err := c.knownStatuses(r.Context())
	if err != nil {
		return err
	}
	for _, s := range append(statuses, "UNKNOWN") {
		if counts[s] > 0 {
			d.Counts = append(d.Counts, statusCount{Status: s, N: counts[s]})
		}
	}
	return c.show(w, r, "workflow", &view{Title: "Workflow " + d.Name, Nav: "workflows", Live: true, Data: d})
}

// firstLine is the first line of s, cut to at most n bytes (on a rune boundary).
func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
