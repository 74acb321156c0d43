package queue

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// JobStatus is where a job is in its lifecycle; the values are those of the jq.job_status enum.
type JobStatus string

// The job statuses.
const (
	StatusPending      JobStatus = "PENDING"
	StatusAssigned     JobStatus = "ASSIGNED"
	StatusRunning      JobStatus = "RUNNING"
	StatusDone         JobStatus = "DONE"
	StatusFailed       JobStatus = "FAILED"
	StatusDeadLettered JobStatus = "DEAD_LETTERED"
	// StatusCancelled: an operator cancelled the job (terminal; not retried by itself).
	StatusCancelled JobStatus = "CANCELLED"
	// StatusWaiting: the job waits for jobs it depends on.
	StatusWaiting JobStatus = "WAITING"
)

// JobStatuses lists every job status in lifecycle order.
var JobStatuses = []JobStatus{StatusWaiting, StatusPending, StatusAssigned, StatusRunning, StatusDone, StatusFailed,
	StatusDeadLettered, StatusCancelled}

// Terminal reports whether a job in this status will not change again by itself.
func (s JobStatus) Terminal() bool {
	return s == StatusDone || s == StatusDeadLettered || s == StatusCancelled
}

// Valid reports whether s is one of the job statuses.
func (s JobStatus) Valid() bool {
	for _, v := range JobStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// WorkerStatus is a worker's state; the values are those of the jq.worker_status enum.
type WorkerStatus string

// The worker statuses.
const (
	WorkerOnline   WorkerStatus = "ONLINE"
	WorkerOffline  WorkerStatus = "OFFLINE"
	WorkerDraining WorkerStatus = "DRAINING"
)

// Event reasons written by the SQL functions.
const (
	ReasonSubmitted         = "SUBMITTED"
	ReasonClaimed           = "CLAIMED"
	ReasonStarted           = "STARTED"
	ReasonCompleted         = "COMPLETED"
	ReasonFailed            = "FAILED"
	ReasonRetry             = "RETRY"
	ReasonRetriesExhausted  = "RETRIES_EXHAUSTED"
	ReasonPermanentFailure  = "PERMANENT_FAILURE"
	ReasonWorkerLost        = "WORKER_LOST"
	ReasonDeregistered      = "DEREGISTERED"
	ReasonCancelled         = "CANCELLED"
	ReasonTTLExpired        = "TTL_EXPIRED"
	ReasonManualRetry       = "MANUAL_RETRY"
	ReasonAssignmentTimeout = "ASSIGNMENT_TIMEOUT"
	ReasonDeliveryFailed    = "DELIVERY_FAILED"
	ReasonWorkerRestarted   = "WORKER_RESTARTED"
	ReasonSnoozed           = "SNOOZED"
	// ReasonDependenciesMet: a WAITING job's last dependency finished; it is PENDING.
	ReasonDependenciesMet = "DEPENDENCIES_MET"
	// ReasonDependencyFailed: a dependency of a WAITING job was dead-lettered or cancelled.
	ReasonDependencyFailed = "DEPENDENCY_FAILED"
)

// Job is one unit of work. Zero times mean "not set".
type Job struct {
	ID             uuid.UUID
	Queue          string
	Payload        json.RawMessage
	Priority       int
	Status         JobStatus
	MaxRetries     int
	RetryCount     int
	Attempt        int
	WorkerID       uuid.UUID // uuid.Nil when no worker ever held it
	Result         []byte
	ErrorMessage   string
	IdempotencyKey string
	// ConcurrencyKey groups jobs for fairness and per-key limits (a tenant, a customer).
	ConcurrencyKey string
	// UniqueKey is the key of a unique submit (see SubmitParams.UniqueKey).
	UniqueKey string
	// HasDependents: some job waits for this one.
	HasDependents bool
	// Progress is what the running attempt last reported (see Progress); nil when none.
	Progress    *Progress
	NotBefore   time.Time
	CreatedAt   time.Time
	AssignedAt  time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	UpdatedAt   time.Time
}

// Progress is what a running job says of how far it is.
type Progress struct {
	// Percent is from 0 to 100.
	Percent    float64
	Message    string
	ReportedAt time.Time
}

// Queue holds the defaults of the jobs submitted to it.
type Queue struct {
	Name       string
	MaxRetries int
	TTL        time.Duration // 0: no TTL
	// Flow control: a paused queue's jobs are not claimed; the limits are 0 when unset.
	Paused           bool
	MaxRunning       int
	RateLimit        int
	RatePeriod       time.Duration
	MaxRunningPerKey int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Worker is a registered worker process.
type Worker struct {
	ID             uuid.UUID
	Hostname       string
	Status         WorkerStatus
	Concurrency    int
	ActiveJobCount int
	Queues         []string
	// Incarnation identifies the process registered under this id (random per start).
	Incarnation string
	// ShutdownRequested: once drained, the worker should exit (AdminService.ShutdownWorker).
	ShutdownRequested bool
	// Owner is the credential that registered the worker (an API key's name, a certificate
	// identity); empty for a worker registered from SQL without one.
	Owner         string
	LastHeartbeat time.Time
	RegisteredAt  time.Time
	UpdatedAt     time.Time
}

// Event is one row of a job's transition log.
type Event struct {
	ID           int64
	JobID        uuid.UUID
	Queue        string
	From         JobStatus // "" for the submission
	To           JobStatus
	WorkerID     uuid.UUID
	Attempt      int
	Reason       string
	ErrorMessage string
	// Actor asked for the transition (a cancel, a manual retry); empty for the system's own.
	Actor      string
	OccurredAt time.Time
}

// QueueStats summarises one queue.
type QueueStats struct {
	Queue               string
	Counts              map[JobStatus]int64
	OldestPendingAt     time.Time // zero when no job is runnable
	CompletedLastMinute int64
	FailedLastMinute    int64
}
