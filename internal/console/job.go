package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// statusName is a status of the API without its enum prefix ("DEAD_LETTERED"); a value this
// build does not know shows as its number, generically.
func statusName(s jqv1.JobStatus) string {
	if s == jqv1.JobStatus_JOB_STATUS_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(s.String(), "JOB_STATUS_")
}

// tsTime is a proto timestamp as a time, zero when unset.
func tsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// jobView is a job as its page shows it.
type jobView struct {
	ID, Queue, Status, Key, Error string
	Priority, Attempt             int32
	RetryCount, MaxRetries        int32
	WorkerID                      string
	Created, Started, Completed   time.Time
	Updated, NotBefore            time.Time
	Tree                          *jsonNode
	TreeNote                      string
	Payload                       string
	Result                        string
	ResultNote                    string
	Events                        []eventView
	CanRetry, CanCancel           bool
	// Progress is what the running (or last) attempt reported: a percentage, its message and
	// when; HasProgress is false when it reported none (or the job was retried since).
	HasProgress     bool
	Progress        float64
	ProgressMessage string
	ProgressAt      time.Time
	ConcurrencyKey  string
	UniqueKey       string
	// DependsOn are the jobs this one waits for; WorkflowID and Node name its workflow, if any.
	DependsOn        []string
	WorkflowID, Node string
}

type eventView struct {
	At                 time.Time
	From, To           string
	Reason, Error      string
	Actor, WorkerID    string
	Attempt            int32
	SincePrevious      time.Duration
	HasSincePrevious   bool
	IsFirst, IsFailure bool
}

// retryable and cancellable are the statuses jq.retry and jq.cancel accept
// (sqlfuncs/05_operate.sql): the console offers the buttons for them, and the function has the
// last word (a job that moved on in between is refused with a clear message).
var (
	retryable   = []string{"FAILED", "DEAD_LETTERED", "CANCELLED"}
	cancellable = []string{"PENDING", "WAITING", "ASSIGNED", "RUNNING"}
)

// maxResultShown bounds the result text a page shows.
const maxResultShown = 64 << 10

func (c *Console) job(w http.ResponseWriter, r *request) error {
	id, err := parseJobID(r)
	if err != nil {
		return err
	}
	st, err := c.deps.Jobs.GetJobStatus(r.svc(), &jqv1.GetJobStatusRequest{JobId: id})
	if err != nil {
		return err
	}
	logs, err := c.deps.Jobs.GetJobLogs(r.svc(), &jqv1.GetJobLogsRequest{JobId: id})
	if err != nil {
		return err
	}
	j := st.GetJob()
	v := &jobView{
		ID: j.GetJobId(), Queue: j.GetQueueName(), Status: statusName(j.GetStatus()), Key: j.GetIdempotencyKey(),
		Error: j.GetErrorMessage(), Priority: j.GetPriority(), Attempt: j.GetAttempt(),
		RetryCount: j.GetRetryCount(), MaxRetries: j.GetMaxRetries(), WorkerID: j.GetWorkerId(),
		Created: tsTime(j.GetCreatedAt()), Started: tsTime(j.GetStartedAt()), Completed: tsTime(j.GetCompletedAt()),
		Updated: tsTime(j.GetUpdatedAt()), NotBefore: tsTime(j.GetNotBefore()),
		Payload:        indentJSON(j.GetPayload()),
		ConcurrencyKey: j.GetConcurrencyKey(), UniqueKey: j.GetUniqueKey(), DependsOn: j.GetDependsOn(),
	}
	if j.Progress != nil {
		v.HasProgress, v.Progress = true, min(max(j.GetProgress(), 0), 100)
		v.ProgressMessage, v.ProgressAt = j.GetProgressMessage(), tsTime(j.GetProgressAt())
	}
	// The API's Job has no workflow id: the console looks it up (workflow_jobs_job_id_idx). The
	// caller may read the job, and GetWorkflow checks the workflow's own access when followed.
	if wf, err := c.db.jobWorkflow(r.Context(), id); err != nil {
		return err
	} else if wf != nil {
		v.WorkflowID, v.Node = wf.ID.String(), wf.Node
	}
	if v.Status == "" {
		v.Status = "UNKNOWN" // a status newer than this build's API: shown generically
	}
	v.CanRetry = slices.Contains(retryable, v.Status) && r.p.Allows(actions["retry"])
	v.CanCancel = slices.Contains(cancellable, v.Status) && r.p.Allows(actions["cancel"])
	if tree, err := parseJSONTree(j.GetPayload()); err == nil {
		v.Tree = tree
	} else {
		v.TreeNote = "The payload is shown as text only: " + err.Error() + "."
	}
	if res := j.GetResult(); len(res) > 0 {
		switch {
		case !utf8.Valid(res):
			v.ResultNote = fmt.Sprintf("%d bytes of binary data (not shown)", len(res))
		case len(res) > maxResultShown:
			v.Result = string(res[:maxResultShown])
			v.ResultNote = fmt.Sprintf("first %s of %s bytes", formatCount(maxResultShown), formatCount(int64(len(res))))
		default:
			v.Result = string(res)
		}
	}
	var prev time.Time
	for i, e := range logs.GetEvents() {
		ev := eventView{
			At: tsTime(e.GetOccurredAt()), From: statusName(e.GetFromStatus()), To: statusName(e.GetToStatus()),
			Reason: e.GetReason(), Error: e.GetErrorMessage(), Actor: e.GetActor(), WorkerID: e.GetWorkerId(),
			Attempt: e.GetAttempt(), IsFirst: i == 0, IsFailure: e.GetToStatus() == jqv1.JobStatus_JOB_STATUS_FAILED ||
				e.GetToStatus() == jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED,
		}
		if i > 0 {
			ev.SincePrevious, ev.HasSincePrevious = ev.At.Sub(prev), true
		}
		prev = ev.At
		v.Events = append(v.Events, ev)
	}
	return c.show(w, r, "job", &view{Title: "Job " + shortID(v.ID), Nav: "jobs", Live: true, Data: v})
}
