// Package events turns jq's outbox rows into Kafka records: the topic of each transition and
// its JSON value (package eventjson, documented in docs/events.md). It also publishes worker
// heartbeats.
package events

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/jqhq/jq/internal/events/eventjson"
	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/queue"
)

// Topic returns the topic of a transition, and false for transitions jq does not publish
// (claims and requeues: they have no topic).
func Topic(e queue.Event) (string, bool) {
	switch e.To {
	case queue.StatusPending, queue.StatusWaiting:
		if e.From == "" { // a job that waits for others is submitted WAITING
			return kafka.TopicJobSubmitted, true
		}
	case queue.StatusRunning:
		return kafka.TopicJobStarted, true
	case queue.StatusDone:
		return kafka.TopicJobCompleted, true
	case queue.StatusFailed:
		return kafka.TopicJobFailed, true
	case queue.StatusDeadLettered:
		return kafka.TopicJobDeadLettered, true
	}
	return "", false
}

// Encode builds the JSON value of an outbox event.
func Encode(e queue.OutboxEvent) []byte {
	v := eventjson.JobEvent{
		SchemaVersion: eventjson.SchemaVersion, EventID: e.ID, JobID: e.JobID.String(), Queue: e.Queue,
		ToStatus: string(e.To), Reason: e.Reason, Attempt: e.Attempt, OccurredAt: e.OccurredAt.UTC(), TxID: e.XID,
	}
	if e.From != "" {
		from := string(e.From)
		v.FromStatus = &from
	}
	if e.WorkerID != uuid.Nil {
		w := e.WorkerID.String()
		v.WorkerID = &w
	}
	if e.ErrorMessage != "" {
		v.ErrorMessage = &e.ErrorMessage
	}
	b, _ := json.Marshal(v) // a struct of plain fields cannot fail to marshal
	return b
}

// Sink publishes outbox events to Kafka: the queue.EventSink of the relay.
type Sink struct {
	producer *kafka.Producer
}

var _ queue.EventSink = (*Sink)(nil)

// NewSink returns a Sink over producer.
func NewSink(producer *kafka.Producer) *Sink { return &Sink{producer: producer} }

// Publish sends the events that have a topic, keyed by job id, and waits for every
// acknowledgement.
func (s *Sink) Publish(ctx context.Context, events []queue.OutboxEvent) error {
	recs := make([]kafka.Record, 0, len(events))
	for _, e := range events {
		topic, ok := Topic(e.Event)
		if !ok {
			continue
		}
		recs = append(recs, kafka.Record{Topic: topic, Key: []byte(e.JobID.String()), Value: Encode(e)})
	}
	return s.producer.PublishSync(ctx, recs)
}

// Heartbeats publishes worker heartbeats to worker.heartbeat, at most one per worker per
// interval (heartbeats are frequent; the topic is for liveness dashboards, not an audit log).
// Publishing is asynchronous and best effort: it never delays a heartbeat RPC.
type Heartbeats struct {
	producer *kafka.Producer
	every    time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last map[uuid.UUID]time.Time
}

// NewHeartbeats returns a publisher of at most one heartbeat per worker per every.
func NewHeartbeats(producer *kafka.Producer, every time.Duration) *Heartbeats {
	return &Heartbeats{producer: producer, every: every, now: time.Now, last: map[uuid.UUID]time.Time{}}
}

// Heartbeat publishes w's heartbeat unless one went out less than every ago.
func (h *Heartbeats) Heartbeat(ctx context.Context, w *queue.Worker) {
	now := h.now()
	h.mu.Lock()
	if last, ok := h.last[w.ID]; ok && now.Sub(last) < h.every {
		h.mu.Unlock()
		return
	}
	h.last[w.ID] = now
	if len(h.last) > 10_000 { // forget workers long gone
		for id, t := range h.last {
			if now.Sub(t) > 10*h.every {
				delete(h.last, id)
			}
		}
	}
	h.mu.Unlock()
	v, _ := json.Marshal(eventjson.Heartbeat{
		SchemaVersion: eventjson.SchemaVersion, WorkerID: w.ID.String(), Hostname: w.Hostname, Status: string(w.Status),
		ActiveJobCount: w.ActiveJobCount, Concurrency: w.Concurrency, Queues: w.Queues, At: now.UTC(),
	})
	h.producer.Publish(context.WithoutCancel(ctx), kafka.TopicWorkerHeartbeat, []byte(w.ID.String()), v)
}
