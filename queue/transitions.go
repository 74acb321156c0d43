package queue

// Transition is a status a job reaches and the reason it reached it, as in a job_events row.
type Transition struct {
	To     JobStatus
	Reason string
}

// MeteredTransitions are the transitions jq_job_total{queue,status,reason} counts: those the
// scheduler (claim, delivery, start) and ReportResult (completion, failure, retry,
// dead-lettering) make. jq-server creates their series at zero for every queue at start-up,
// so a new (status, reason) pair counted anywhere must be listed here; internal/server's
// metrics test fails when running jobs creates a series this list does not name.
// Cancels through the API are counted too. Transitions made by the maintenance loops and
// other admin calls (TTL expiry, lost workers, manual retry), and cancels made in SQL, are
// counted by jq_maintenance_rows_total and job_events instead.
var MeteredTransitions = []Transition{
	{StatusAssigned, ReasonClaimed},
	{StatusPending, ReasonDeliveryFailed},
	{StatusRunning, ReasonStarted},
	{StatusDone, ReasonCompleted},
	{StatusFailed, ReasonFailed},
	{StatusPending, ReasonRetry},
	{StatusDeadLettered, ReasonRetriesExhausted},
	{StatusDeadLettered, ReasonPermanentFailure},
	{StatusPending, ReasonSnoozed},
	{StatusCancelled, ReasonCancelled},
}
