// Package eventjson holds the JSON values of jq's Kafka records, as docs/events.md documents
// them. It is apart from package events, which builds them from the outbox, so that a consumer
// such as `jq-ctl events tail` decodes them without linking the queue or PostgreSQL's driver.
package eventjson

import "time"

// SchemaVersion is the version of the JSON values; it changes only when a field changes
// meaning or goes away (new fields may be added).
const SchemaVersion = 1

// JobEvent is the JSON value of a job event.
type JobEvent struct {
	SchemaVersion int       `json:"schema_version"`
	EventID       int64     `json:"event_id"`
	JobID         string    `json:"job_id"`
	Queue         string    `json:"queue"`
	FromStatus    *string   `json:"from_status"`
	ToStatus      string    `json:"to_status"`
	Reason        string    `json:"reason"`
	WorkerID      *string   `json:"worker_id"`
	Attempt       int       `json:"attempt"`
	ErrorMessage  *string   `json:"error_message"`
	OccurredAt    time.Time `json:"occurred_at"`
	TxID          uint64    `json:"txid"`
}

// Heartbeat is the JSON value of a worker heartbeat.
type Heartbeat struct {
	SchemaVersion  int       `json:"schema_version"`
	WorkerID       string    `json:"worker_id"`
	Hostname       string    `json:"hostname"`
	Status         string    `json:"status"`
	ActiveJobCount int       `json:"active_job_count"`
	Concurrency    int       `json:"concurrency"`
	Queues         []string  `json:"queues"`
	At             time.Time `json:"at"`
}
