// Package kafka wraps franz-go for jq: a producer with idempotent writes, synchronous batches
// for the event relay and asynchronous records with delivery callbacks, a consumer with
// explicit commits, and the topic names.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The topics jq publishes to. Job events are keyed by job id, heartbeats by worker id.
const (
	TopicJobSubmitted    = "job.submitted"
	TopicJobStarted      = "job.started"
	TopicJobCompleted    = "job.completed"
	TopicJobFailed       = "job.failed"
	TopicJobDeadLettered = "job.dead-lettered"
	TopicWorkerHeartbeat = "worker.heartbeat"
)

// Topics lists every jq topic.
var Topics = []string{TopicJobSubmitted, TopicJobStarted, TopicJobCompleted, TopicJobFailed, TopicJobDeadLettered, TopicWorkerHeartbeat}

// Options configure a producer or consumer.
type Options struct {
	Brokers  []string
	ClientID string
	TLS      bool
	// SASLMechanism: "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism string
	SASLUsername  string
	SASLPassword  string
	Logger        *slog.Logger
	// DeliveryTimeout bounds how long a record may wait to be acknowledged (default 10 s).
	DeliveryTimeout time.Duration
	// PublishErrors (jq_kafka_publish_errors_total{topic}) and Published
	// (jq_kafka_events_published_total{topic}); may be nil.
	PublishErrors *prometheus.CounterVec
	Published     *prometheus.CounterVec
}

func (o Options) clientOpts() ([]kgo.Opt, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.ClientID(o.clientID())}
	if o.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	switch o.SASLMechanism {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: o.SASLUsername, Pass: o.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: o.SASLUsername, Pass: o.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: o.SASLUsername, Pass: o.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q", o.SASLMechanism)
	}
	return opts, nil
}

func (o Options) clientID() string {
	if o.ClientID == "" {
		return "jq"
	}
	return o.ClientID
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Record is one message to publish.
type Record struct {
	Topic string
	Key   []byte
	Value []byte
}

// Producer publishes records with idempotent writes (franz-go's default) and all in-sync
// replicas' acknowledgement.
type Producer struct {
	opts      []kgo.Opt
	mu        sync.RWMutex
	client    *kgo.Client   // replaced when records get stuck (see PublishSync)
	timeout   time.Duration // how long a record may take to be acknowledged
	logger    *slog.Logger
	errs      *prometheus.CounterVec
	published *prometheus.CounterVec
}

// NewProducer returns a producer; it connects lazily.
func NewProducer(o Options) (*Producer, error) {
	opts, err := o.clientOpts()
	if err != nil {
		return nil, err
	}
	timeout := o.DeliveryTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	opts = append(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(timeout),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(10_000), // a Kafka outage must not pile records up in memory
		kgo.AllowAutoTopicCreation(),
	)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Producer{opts: opts, client: client, timeout: timeout, logger: o.logger(), errs: o.PublishErrors, published: o.Published}, nil
}

func (p *Producer) current() *kgo.Client {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.client
}

// reset replaces a client whose records are stuck (no broker answers: franz-go then keeps
// them buffered, waiting for a connection, past their deadline). Closing it fails them, so
// nothing piles up in memory and nothing stale is delivered later, after a newer retry.
func (p *Producer) reset(stuck *kgo.Client) {
	p.mu.Lock()
	if p.client == stuck {
		if c, err := kgo.NewClient(p.opts...); err == nil {
			p.client = c
		}
	}
	p.mu.Unlock()
	stuck.Close()
}

// Publish sends a record asynchronously. Its delivery is logged at DEBUG, or at ERROR (with
// the topic, key and error, counted in jq_kafka_publish_errors_total) when it fails.
func (p *Producer) Publish(ctx context.Context, topic string, key, value []byte) {
	// The record may not outlive its delivery timeout, even while no broker answers at all.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	p.current().Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}, func(r *kgo.Record, err error) {
		cancel()
		p.delivered(r, err)
	})
}

func (p *Producer) delivered(r *kgo.Record, err error) {
	if err != nil {
		p.logger.Error("kafka: publish failed", "topic", r.Topic, "key", string(r.Key), "error", err)
		if p.errs != nil {
			p.errs.WithLabelValues(r.Topic).Inc()
		}
		return
	}
	p.logger.Debug("kafka: published", "topic", r.Topic, "key", string(r.Key), "partition", r.Partition, "offset", r.Offset)
	if p.published != nil {
		p.published.WithLabelValues(r.Topic).Inc()
	}
}

// PublishSync sends records and waits until every one is acknowledged, or returns the first
// error (some may have been written: the caller retries the batch, at-least-once).
func (p *Producer) PublishSync(ctx context.Context, records []Record) error {
	if len(records) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(records))
	for i, r := range records {
		recs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	client := p.current()
	done := make(chan kgo.ProduceResults, 1)
	go func() { done <- client.ProduceSync(ctx, recs...) }()
	var results kgo.ProduceResults
	select {
	case results = <-done:
	case <-time.After(p.timeout + time.Second):
		// Bounded even while no broker answers at all.
		p.reset(client)
		results = <-done
	}
	var first error
	stale := false
	for _, res := range results {
		p.delivered(res.Record, res.Err)
		if res.Err != nil && first == nil {
			first = fmt.Errorf("kafka: publish to %s: %w", res.Record.Topic, res.Err)
		}
		stale = stale || staleClientState(res.Err)
	}
	if stale {
		// The cluster forgot what the client cached (the topic was recreated, the broker
		// lost its metadata, the producer id expired): a fresh client asks again, and the
		// caller's retry goes through it.
		p.logger.Warn("kafka: the cluster does not know the client's cached topic or producer ids; starting a fresh client", "error", first)
		p.reset(client)
	}
	return first
}

// staleClientState reports whether err says the client's cached topic ids or producer state
// no longer match the cluster's, which retrying on the same client never fixes.
func staleClientState(err error) bool {
	return errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.InconsistentTopicID) ||
		errors.Is(err, kerr.UnknownProducerID) || errors.Is(err, kerr.OutOfOrderSequenceNumber)
}

// Ping checks that a broker answers.
func (p *Producer) Ping(ctx context.Context) error {
	if err := p.current().Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Flush waits for buffered records to be delivered, for a shutdown.
func (p *Producer) Flush(ctx context.Context) error { return p.current().Flush(ctx) }

// Close closes the client (buffered records that were not flushed fail).
func (p *Producer) Close() { p.current().Close() }

// Message is one consumed record.
type Message struct {
	Topic     string
	Key       []byte
	Value     []byte
	Partition int32
	Offset    int64
	Timestamp time.Time
	record    *kgo.Record
}

// Consumer reads topics, with a consumer group (offsets committed with Commit) or without
// one (from the start or the end of each partition).
type Consumer struct {
	client *kgo.Client
	group  string
}

// NewConsumer returns a consumer of topics. With group "", it reads without a group, from the
// start when fromStart else only new records.
func NewConsumer(o Options, group string, topics []string, fromStart bool) (*Consumer, error) {
	opts, err := o.clientOpts()
	if err != nil {
		return nil, err
	}
	offset := kgo.NewOffset().AtEnd()
	if fromStart {
		offset = kgo.NewOffset().AtStart()
	}
	opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(offset), kgo.FetchMaxWait(500*time.Millisecond))
	if group != "" {
		opts = append(opts, kgo.ConsumerGroup(group), kgo.DisableAutoCommit())
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Consumer{client: client, group: group}, nil
}

// Poll waits for records (until ctx ends) and returns those that arrived.
func (c *Consumer) Poll(ctx context.Context) ([]Message, error) {
	fetches := c.client.PollFetches(ctx)
	if fetches.IsClientClosed() {
		return nil, errors.New("kafka: consumer closed")
	}
	var errs []error
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
			continue
		}
		errs = append(errs, fmt.Errorf("kafka: fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err))
	}
	var msgs []Message
	fetches.EachRecord(func(r *kgo.Record) {
		msgs = append(msgs, Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Partition: r.Partition,
			Offset: r.Offset, Timestamp: r.Timestamp, record: r})
	})
	return msgs, errors.Join(errs...)
}

// Commit records the consumer group's progress up to and including msgs.
func (c *Consumer) Commit(ctx context.Context, msgs ...Message) error {
	if c.group == "" {
		return errors.New("kafka: commit needs a consumer group")
	}
	recs := make([]*kgo.Record, 0, len(msgs))
	for _, m := range msgs {
		recs = append(recs, m.record)
	}
	if err := c.client.CommitRecords(ctx, recs...); err != nil {
		return fmt.Errorf("kafka: commit: %w", err)
	}
	return nil
}

// Close leaves the group and closes the client.
func (c *Consumer) Close() { c.client.Close() }
