package grpc

import (
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// Conversions between the domain and the wire.

var jobStatusToProto = map[queue.JobStatus]jqv1.JobStatus{
	queue.StatusPending:      jqv1.JobStatus_JOB_STATUS_PENDING,
	queue.StatusAssigned:     jqv1.JobStatus_JOB_STATUS_ASSIGNED,
	queue.StatusRunning:      jqv1.JobStatus_JOB_STATUS_RUNNING,
	queue.StatusDone:         jqv1.JobStatus_JOB_STATUS_DONE,
	queue.StatusFailed:       jqv1.JobStatus_JOB_STATUS_FAILED,
	queue.StatusDeadLettered: jqv1.JobStatus_JOB_STATUS_DEAD_LETTERED,
	queue.StatusCancelled:    jqv1.JobStatus_JOB_STATUS_CANCELLED,
	queue.StatusWaiting:      jqv1.JobStatus_JOB_STATUS_WAITING,
}

var workerStatusToProto = map[queue.WorkerStatus]jqv1.WorkerStatus{
	queue.WorkerOnline:   jqv1.WorkerStatus_WORKER_STATUS_ONLINE,
	queue.WorkerOffline:  jqv1.WorkerStatus_WORKER_STATUS_OFFLINE,
	queue.WorkerDraining: jqv1.WorkerStatus_WORKER_STATUS_DRAINING,
}

func jobStatusFromProto(s jqv1.JobStatus) (queue.JobStatus, bool) {
	for k, v := range jobStatusToProto {
		if v == s {
			return k, true
		}
	}
	return "", s == jqv1.JobStatus_JOB_STATUS_UNSPECIFIED
}

func workerStatusFromProto(s jqv1.WorkerStatus) (queue.WorkerStatus, bool) {
	for k, v := range workerStatusToProto {
		if v == s {
			return k, true
		}
	}
	return "", s == jqv1.WorkerStatus_WORKER_STATUS_UNSPECIFIED
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func idString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

func jobToProto(j *queue.Job) *jqv1.Job {
	pj := &jqv1.Job{
		JobId:          j.ID.String(),
		QueueName:      j.Queue,
		Payload:        j.Payload,
		Priority:       int32(j.Priority),
		Status:         jobStatusToProto[j.Status],
		MaxRetries:     int32(j.MaxRetries),
		RetryCount:     int32(j.RetryCount),
		CreatedAt:      ts(j.CreatedAt),
		StartedAt:      ts(j.StartedAt),
		CompletedAt:    ts(j.CompletedAt),
		WorkerId:       idString(j.WorkerID),
		Result:         j.Result,
		NotBefore:      ts(j.NotBefore),
		ErrorMessage:   j.ErrorMessage,
		Attempt:        int32(j.Attempt),
		IdempotencyKey: j.IdempotencyKey,
		UpdatedAt:      ts(j.UpdatedAt),
		ConcurrencyKey: j.ConcurrencyKey,
		UniqueKey:      j.UniqueKey,
	}
	if p := j.Progress; p != nil {
		pj.Progress, pj.ProgressMessage, pj.ProgressAt = &p.Percent, p.Message, ts(p.ReportedAt)
	}
	return pj
}

func scheduleToProto(s *queue.Schedule) *jqv1.Schedule {
	ps := &jqv1.Schedule{
		Name: s.Name, Cron: s.Cron, TimeZone: s.TimeZone, QueueName: s.Queue, Payload: s.Payload, Priority: int32(s.Priority),
		Overlap: s.Overlap, CatchUp: s.CatchUp, Paused: s.Paused, FromConfig: s.FromConfig,
		NextFireAt: ts(s.NextFireAt), LastFireAt: ts(s.LastFireAt), LastJobId: idString(s.LastJobID), LastError: s.LastError,
		Missed: s.Missed, CreatedAt: ts(s.CreatedAt), UpdatedAt: ts(s.UpdatedAt), CreatedBy: s.CreatedBy,
	}
	if s.MaxRetries != nil {
		n := int32(*s.MaxRetries)
		ps.MaxRetries = &n
	}
	return ps
}

func dependencyFailureFromProto(f jqv1.DependencyFailure) (string, bool) {
	switch f {
	case jqv1.DependencyFailure_DEPENDENCY_FAILURE_UNSPECIFIED, jqv1.DependencyFailure_DEPENDENCY_FAILURE_CANCEL:
		return queue.DependencyCancel, true
	case jqv1.DependencyFailure_DEPENDENCY_FAILURE_RUN:
		return queue.DependencyRun, true
	}
	return "", false
}

func queueToProto(q *queue.Queue) *jqv1.Queue {
	pq := &jqv1.Queue{
		Name:       q.Name,
		MaxRetries: int32(q.MaxRetries),
		TtlSeconds: int32(q.TTL / time.Second),
		CreatedAt:  ts(q.CreatedAt),
		UpdatedAt:  ts(q.UpdatedAt),
		Paused:     q.Paused, MaxRunning: int32(q.MaxRunning), RateLimit: int32(q.RateLimit),
		MaxRunningPerKey: int32(q.MaxRunningPerKey),
	}
	if q.RateLimit > 0 {
		pq.RatePeriod = durationpb.New(q.RatePeriod)
	}
	return pq
}

func workerToProto(w *queue.Worker, connected bool) *jqv1.Worker {
	return &jqv1.Worker{
		WorkerId:       w.ID.String(),
		Hostname:       w.Hostname,
		Status:         workerStatusToProto[w.Status],
		Concurrency:    int32(w.Concurrency),
		ActiveJobCount: int32(w.ActiveJobCount),
		LastHeartbeat:  ts(w.LastHeartbeat),
		Queues:         w.Queues,
		RegisteredAt:   ts(w.RegisteredAt),
		Connected:      connected,
		Owner:          w.Owner,
	}
}

func eventToProto(e *queue.Event) *jqv1.JobEvent {
	from, _ := jobStatusToProto[e.From]
	return &jqv1.JobEvent{
		Id:           e.ID,
		JobId:        e.JobID.String(),
		FromStatus:   from,
		ToStatus:     jobStatusToProto[e.To],
		WorkerId:     idString(e.WorkerID),
		Reason:       e.Reason,
		OccurredAt:   ts(e.OccurredAt),
		Attempt:      int32(e.Attempt),
		ErrorMessage: e.ErrorMessage,
		Actor:        e.Actor,
	}
}

// parseID reads a UUID field, naming the field in the error.
func parseID(field, value string) (uuid.UUID, error) {
	if value == "" {
		return uuid.Nil, invalid("%s is required", field)
	}
	id, err := uuid.Parse(value)
	if err != nil {
		return uuid.Nil, invalid("%s %q is not a UUID", field, value)
	}
	return id, nil
}
