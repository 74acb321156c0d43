package grpc

import (
	"context"
	"encoding/json"
	"strings"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/queue/queuename"
)

// maxWorkflowNodes bounds a workflow (jq.submit_workflow's limit).
const maxWorkflowNodes = 1000

// SubmitWorkflow submits a DAG of named jobs atomically. The database refuses a cycle, naming
// it (INVALID_ARGUMENT).
func (s *JobService) SubmitWorkflow(ctx context.Context, req *jqv1.SubmitWorkflowRequest) (*jqv1.SubmitWorkflowResponse, error) {
	if n := len(req.GetName()); n < 1 || n > 255 || strings.ContainsRune(req.GetName(), 0) {
		return nil, invalid("name must be 1 to 255 bytes, without NUL")
	}
	if n := len(req.GetNodes()); n < 1 || n > maxWorkflowNodes {
		return nil, invalid("nodes: a workflow has 1 to %d nodes, got %d", maxWorkflowNodes, n)
	}
	p := caller(ctx)
	nodes := make([]queue.WorkflowNode, 0, len(req.GetNodes()))
	for i, pn := range req.GetNodes() {
		n, err := s.workflowNode(i, pn)
		if err != nil {
			return nil, err
		}
		if !p.MayUse(n.Queue) {
			return nil, p.queueDenied(n.Queue)
		}
		nodes = append(nodes, n)
	}
	id, refs, err := s.store.SubmitWorkflow(ctx, req.GetName(), nodes, p.Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.SubmitWorkflowResponse{WorkflowId: id.String()}
	for i, r := range refs {
		resp.Jobs = append(resp.Jobs, &jqv1.WorkflowJob{Node: r.Node, JobId: r.JobID.String(), DependsOn: nodes[i].DependsOn})
	}
	if s.cfg.Announce != nil {
		announced := map[string]bool{}
		for _, n := range nodes {
			if len(n.DependsOn) == 0 && !announced[n.Queue] {
				announced[n.Queue] = true
				s.cfg.Announce(n.Queue)
			}
		}
	}
	return resp, nil
}

// workflowNode checks one node of a workflow; errors name it.
func (s *JobService) workflowNode(i int, pn *jqv1.WorkflowNode) (queue.WorkflowNode, error) {
	n := queue.WorkflowNode{Name: pn.GetName(), Queue: pn.GetQueueName(), Payload: pn.GetPayload(), Priority: int(pn.GetPriority()),
		ConcurrencyKey: pn.GetConcurrencyKey(), DependsOn: pn.GetDependsOn()}
	if !queuename.Valid(n.Name) {
		return n, invalid("nodes[%d].name %q is invalid: use %s", i, n.Name, queuename.Rule)
	}
	if n.Queue == "" {
		n.Queue = "default"
	}
	if err := validateQueueName("nodes["+n.Name+"].queue_name", n.Queue); err != nil {
		return n, err
	}
	switch {
	case len(n.Payload) == 0:
		return n, invalid("node %s: payload is required (a JSON document)", n.Name)
	case len(n.Payload) > s.cfg.MaxPayloadBytes:
		return n, invalid("node %s: payload is %d bytes, over the limit of %d (grpc.max_payload_bytes)", n.Name, len(n.Payload), s.cfg.MaxPayloadBytes)
	case !json.Valid(n.Payload):
		return n, invalid("node %s: payload is not valid JSON", n.Name)
	case n.Priority < 0 || n.Priority > 9:
		return n, invalid("node %s: priority %d is outside 0-9", n.Name, n.Priority)
	case len(n.ConcurrencyKey) > maxConcurrencyKeyLen || strings.ContainsRune(n.ConcurrencyKey, 0):
		return n, invalid("node %s: concurrency_key must be at most %d bytes, without NUL", n.Name, maxConcurrencyKeyLen)
	}
	if pn.MaxRetries != nil {
		r := int(pn.GetMaxRetries())
		if r < 0 || r > 1000 {
			return n, invalid("node %s: max_retries %d is outside 0-1000", n.Name, r)
		}
		n.MaxRetries = &r
	}
	policy, ok := dependencyFailureFromProto(pn.GetOnDependencyFailure())
	if !ok {
		return n, invalid("node %s: on_dependency_failure %d is not a policy", n.Name, pn.GetOnDependencyFailure())
	}
	if len(n.DependsOn) > 0 {
		n.OnDependencyFailure = policy
	}
	return n, nil
}

// GetWorkflow returns a workflow and its jobs. A caller limited to some queues sees it only if
// every job is in one of them.
func (s *JobService) GetWorkflow(ctx context.Context, req *jqv1.GetWorkflowRequest) (*jqv1.GetWorkflowResponse, error) {
	id, err := parseID("workflow_id", req.GetWorkflowId())
	if err != nil {
		return nil, err
	}
	w, err := s.store.GetWorkflow(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	p := caller(ctx)
	resp := &jqv1.GetWorkflowResponse{WorkflowId: w.ID.String(), Name: w.Name, CreatedAt: ts(w.CreatedAt), CreatedBy: w.CreatedBy}
	for _, j := range w.Jobs {
		if !p.MayUse(j.Job.Queue) {
			return nil, p.queueDenied(j.Job.Queue)
		}
		resp.Jobs = append(resp.Jobs, &jqv1.WorkflowJob{Node: j.Node, JobId: j.Job.ID.String(), DependsOn: j.DependsOn,
			Job: jobForCaller(ctx, j.Job)})
	}
	return resp, nil
}
