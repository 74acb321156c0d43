package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// workflowFile is the YAML (or JSON) a workflow is submitted from.
type workflowFile struct {
	Name string         `yaml:"name"`
	Jobs []workflowNode `yaml:"jobs"`
}

type workflowNode struct {
	Name                string   `yaml:"name"`
	Queue               string   `yaml:"queue"`
	Command             []string `yaml:"command"`
	Payload             any      `yaml:"payload"`
	Priority            int32    `yaml:"priority"`
	MaxRetries          *int32   `yaml:"max_retries"`
	ConcurrencyKey      string   `yaml:"concurrency_key"`
	DependsOn           []string `yaml:"depends_on"`
	OnDependencyFailure string   `yaml:"on_dependency_failure"`
}

// workflowSubmitCommand is `jq-ctl workflow submit`.
type workflowSubmitCommand struct{ app *app }

const workflowSubmitPath = "workflow submit"

func (c *workflowSubmitCommand) spec() spec {
	return spec{
		name:  "submit",
		args:  "FILE",
		short: "submit a workflow: a DAG of named jobs, described in a YAML file (- reads stdin)",
		long: `The file names the workflow and lists its jobs; each job waits (WAITING) until the jobs in
its depends_on are DONE, and is cancelled when one of them is dead-lettered or cancelled
(on_dependency_failure: run runs it anyway, once they have all finished). The jobs are submitted
together or not at all; a cycle is refused (exit 4), naming it.

  name: nightly-etl
  jobs:
    - name: extract
      queue: etl
      command: ["./extract"]
    - name: transform
      depends_on: [extract]
      command: ["./transform"]
    - name: load
      depends_on: [transform]
      payload: {"kind": "load", "table": "sales"}
      priority: 5

Keys of a job: name (required), queue (default "default"), command or payload, priority,
max_retries, concurrency_key, depends_on, on_dependency_failure (cancel or run).

Prints the workflow's id, then each job's; jq-ctl workflow status ID follows them.`,
		examples: []string{
			"jq-ctl workflow submit etl.yaml",
			"jq-ctl workflow submit - -o json < etl.yaml",
		},
	}
}

// workflowSubmitView is workflow submit's document.
type workflowSubmitView struct {
	WorkflowID string             `json:"workflow_id"`
	Jobs       []workflowNodeView `json:"jobs"`
}

type workflowNodeView struct {
	Node      string   `json:"node"`
	JobID     string   `json:"job_id"`
	DependsOn []string `json:"depends_on"`
	Job       *jobView `json:"job,omitempty"`
}

func (c *workflowSubmitCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs(workflowSubmitPath, args, "FILE"); err != nil {
		return err
	}
	raw, err := c.app.readFile(args[0], "FILE")
	if err != nil {
		return err
	}
	req, err := parseWorkflow(raw)
	if err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.jobs.SubmitWorkflow, req)
	if err != nil {
		return err
	}
	v := workflowSubmitView{WorkflowID: resp.GetWorkflowId()}
	for _, j := range resp.GetJobs() {
		v.Jobs = append(v.Jobs, workflowNodeView{Node: j.GetNode(), JobID: j.GetJobId(), DependsOn: nonNil(j.GetDependsOn())})
	}
	return c.app.emit(v, func(w io.Writer) {
		fmt.Fprintf(w, "workflow %s submitted (%d jobs)\n", v.WorkflowID, len(v.Jobs))
		row(w, "NODE", "JOB ID", "DEPENDS ON")
		for _, j := range v.Jobs {
			row(w, j.Node, j.JobID, dash(strings.Join(j.DependsOn, ", ")))
		}
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// parseWorkflow reads a workflow file into a request; unknown keys are refused.
func parseWorkflow(raw []byte) (*jqv1.SubmitWorkflowRequest, error) {
	var f workflowFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, failf(exitInvalid, "workflow file: %v", err)
	}
	if f.Name == "" {
		return nil, failf(exitInvalid, "workflow file: name is required")
	}
	if len(f.Jobs) == 0 {
		return nil, failf(exitInvalid, "workflow file: jobs is empty")
	}
	req := &jqv1.SubmitWorkflowRequest{Name: f.Name}
	for i, j := range f.Jobs {
		where := fmt.Sprintf("workflow file: jobs[%d]", i)
		if j.Name != "" {
			where = "workflow file: job " + j.Name
		}
		var payload []byte
		switch {
		case len(j.Command) > 0 && j.Payload != nil:
			return nil, failf(exitInvalid, "%s: give command or payload, not both", where)
		case len(j.Command) > 0:
			payload, _ = json.Marshal(map[string]any{"command": j.Command})
		case j.Payload != nil:
			var err error
			if payload, err = json.Marshal(j.Payload); err != nil {
				return nil, failf(exitInvalid, "%s: payload: %v", where, err)
			}
		default:
			return nil, failf(exitInvalid, "%s: give a command or a payload", where)
		}
		node := &jqv1.WorkflowNode{Name: j.Name, QueueName: j.Queue, Payload: payload, Priority: j.Priority, MaxRetries: j.MaxRetries,
			ConcurrencyKey: j.ConcurrencyKey, DependsOn: j.DependsOn}
		switch j.OnDependencyFailure {
		case "", "cancel":
		case "run":
			node.OnDependencyFailure = jqv1.DependencyFailure_DEPENDENCY_FAILURE_RUN
		default:
			return nil, failf(exitInvalid, "%s: on_dependency_failure %q: want cancel or run", where, j.OnDependencyFailure)
		}
		req.Nodes = append(req.Nodes, node)
	}
	return req, nil
}

// workflowStatusCommand is `jq-ctl workflow status`.
type workflowStatusCommand struct{ app *app }

func (c *workflowStatusCommand) spec() spec {
	return spec{
		name:  "status",
		args:  "WORKFLOW_ID",
		short: "show a workflow: each job's state, dependencies, progress and error",
		long:  "The jobs are listed in submission order: each after the jobs it depends on.",
		examples: []string{
			"jq-ctl workflow status 0191e3a0-7c1d-7000-8000-0000000000aa",
			"jq-ctl workflow status -o json 0191e3a0-7c1d-7000-8000-0000000000aa",
		},
	}
}

// workflowView is workflow status's document.
type workflowView struct {
	WorkflowID string             `json:"workflow_id"`
	Name       string             `json:"name"`
	CreatedAt  *string            `json:"created_at"`
	CreatedBy  string             `json:"created_by"`
	Jobs       []workflowNodeView `json:"jobs"`
}

func (c *workflowStatusCommand) Run(ctx context.Context, args []string) error {
	_, resp, err := callOnID(ctx, c.app, "workflow status", "WORKFLOW_ID", args, parseJobID,
		func(ctx context.Context, cl *client, id string) (*jqv1.GetWorkflowResponse, error) {
			return call(ctx, cl, cl.jobs.GetWorkflow, &jqv1.GetWorkflowRequest{WorkflowId: id})
		})
	if err != nil {
		return err
	}
	v := workflowView{WorkflowID: resp.GetWorkflowId(), Name: resp.GetName(), CreatedAt: rfc3339(resp.GetCreatedAt()),
		CreatedBy: resp.GetCreatedBy(), Jobs: []workflowNodeView{}}
	for _, j := range resp.GetJobs() {
		jv := newJobView(j.GetJob())
		v.Jobs = append(v.Jobs, workflowNodeView{Node: j.GetNode(), JobID: j.GetJobId(), DependsOn: nonNil(j.GetDependsOn()), Job: &jv})
	}
	return c.app.emit(v, func(w io.Writer) {
		now := c.app.now()
		fmt.Fprintf(w, "workflow %s (%s), created %s by %s\n", v.WorkflowID, v.Name, ago(tsTime(resp.GetCreatedAt()), now), dash(v.CreatedBy))
		row(w, "NODE", "STATUS", "JOB ID", "DEPENDS ON", "PROGRESS", "ERROR")
		for _, j := range resp.GetJobs() {
			row(w, j.GetNode(), jobStatusName(j.GetJob().GetStatus()), j.GetJobId(), dash(strings.Join(j.GetDependsOn(), ", ")),
				progressText(j.GetJob(), now), summary([]byte(j.GetJob().GetErrorMessage()), 100))
		}
	})
}
