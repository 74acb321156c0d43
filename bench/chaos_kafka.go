package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jqhq/jq/queue"
)

// chaosKafka is the kafka-down scenario's broker: an in-process kfake cluster on a fixed port
// persisting to a directory (kfake.DataDir), stopped and started again on the same port with
// the same state (topic ids, records), as a real broker restarts; and a consumer that counts
// every job event it reads by event_id. Each life's consumer reads from the start, so the
// count of the last life covers every record the broker kept.
type chaosKafka struct {
	port int
	dir  string

	mu       sync.Mutex
	cluster  *kfake.Cluster
	consumer *kgo.Client
	cancel   context.CancelFunc
	done     chan struct{}

	seen     map[int64]int // event_id → records read
	lastRead atomic.Int64  // Unix ns of the last record read
	records  int
}

var jobTopics = []string{"job.submitted", "job.started", "job.completed", "job.failed", "job.dead-lettered"}

func startChaosKafka(ctx context.Context, e *chaosEnv) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	k := &chaosKafka{port: port, dir: filepath.Join(e.cluster.dir, "kafka")}
	if err := k.start(); err != nil {
		return err
	}
	e.kafka = k
	e.r.onClose(k.stop)
	e.serverEnv = append(e.serverEnv, fmt.Sprintf("JQ_KAFKA_BROKERS=127.0.0.1:%d", port))
	return nil
}

func (k *chaosKafka) start() error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(k.port), kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(4), kfake.DataDir(k.dir))
	if err != nil {
		return fmt.Errorf("start kfake on port %d: %w", k.port, err)
	}
	k.mu.Lock()
	k.seen, k.records = map[int64]int{}, 0 // this life's consumer reads every record again
	k.mu.Unlock()
	for _, t := range jobTopics {
		// Create the topics now, so that the consumer finds them.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.AllowAutoTopicCreation())
		if err == nil {
			rec := &kgo.Record{Topic: t, Value: []byte("{}")}
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = cl.ProduceSync(cctx, rec).FirstErr()
			cancel()
			cl.Close()
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(jobTopics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		c.Close()
		return fmt.Errorf("kafka consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	k.mu.Lock()
	k.cluster, k.consumer, k.cancel, k.done = c, cons, cancel, done
	k.mu.Unlock()
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				var ev struct {
					EventID int64 `json:"event_id"`
				}
				if json.Unmarshal(r.Value, &ev) != nil || ev.EventID == 0 {
					return // the topic-creating record
				}
				k.mu.Lock()
				k.seen[ev.EventID]++
				k.records++
				k.mu.Unlock()
				k.lastRead.Store(time.Now().UnixNano())
			})
		}
	}()
	return nil
}

func (k *chaosKafka) waitQuiet(ctx context.Context) error {
	since := time.Now()
	return waitFor(ctx, 30*time.Second, "kafka consumer caught up", func() bool {
		last := time.Unix(0, k.lastRead.Load())
		if last.Before(since) {
			last = since
		}
		return time.Since(last) > 2*time.Second
	})
}

// stop closes the consumer and the cluster.
func (k *chaosKafka) stop() {
	k.mu.Lock()
	c, cons, cancel, done := k.cluster, k.consumer, k.cancel, k.done
	k.cluster, k.consumer = nil, nil
	k.mu.Unlock()
	if c == nil {
		return
	}
	cancel()
	<-done
	cons.Close()
	c.Close()
}

// kafkaDown is the kafka-down fault: stop the broker, wait, start it again.
func kafkaDown(ctx context.Context, e *chaosEnv) error {
	k := e.kafka
	e.markStart()
	k.stop()
	if err := sleep(ctx, e.p.fault); err != nil {
		return err
	}
	if err := k.start(); err != nil {
		return err
	}
	e.markEnd()
	return nil
}

// waitRelayCaughtUp waits until the relay's cursor has passed every event.
func (e *chaosEnv) waitRelayCaughtUp(ctx context.Context, limit time.Duration) error {
	store := queue.NewStore(e.pool)
	var left int64
	err := waitFor(ctx, limit, "relay caught up", func() bool {
		pos, err := store.RelayCursor(ctx, queue.DefaultRelayName)
		if err != nil {
			return false
		}
		left, _, err = store.OutboxLag(ctx, pos)
		return err == nil && left == 0
	})
	if err != nil {
		return fmt.Errorf("%w (%d events left)", err, left)
	}
	return nil
}

// kafkaFinish waits until the relay has published every event, then checks that each job
// event with a topic was read exactly once.
func kafkaFinish(ctx context.Context, e *chaosEnv, rep *Report) error {
	// The servers are stopped by now; the relay's cursor in the database says how far it got.
	store := queue.NewStore(e.pool)
	pos, err := store.RelayCursor(ctx, queue.DefaultRelayName)
	if err != nil {
		return fmt.Errorf("relay cursor: %w", err)
	}
	left, _, err := store.OutboxLag(ctx, pos)
	if err != nil {
		return fmt.Errorf("relay lag: %w", err)
	}
	if err := e.kafka.waitQuiet(ctx); err != nil {
		return err
	}
	rows, err := e.pool.Query(ctx, `SELECT id FROM jq.job_events
		WHERE (to_status = 'PENDING' AND reason = 'SUBMITTED') OR to_status IN ('RUNNING', 'DONE', 'FAILED', 'DEAD_LETTERED')`)
	if err != nil {
		return fmt.Errorf("read the events: %w", err)
	}
	expected := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		expected[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	k := e.kafka
	k.mu.Lock()
	missing, dup, extra := 0, 0, 0
	var missingIDs []string
	for id := range expected {
		switch n := k.seen[id]; {
		case n == 0:
			missing++
			if len(missingIDs) < 10 {
				missingIDs = append(missingIDs, fmt.Sprint(id))
			}
		case n > 1:
			dup++
		}
	}
	for id := range k.seen {
		if !expected[id] {
			extra++
		}
	}
	records := k.records
	k.mu.Unlock()
	rep.Extra["kafka"] = map[string]any{"events_expected": len(expected), "records_read": records, "missing": missing,
		"duplicated": dup, "unexpected": extra, "relay_lag_at_end": left}
	rep.Rows = append(rep.Rows, Row{"Kafka events expected / read / missing / duplicated", fmt.Sprintf("%d / %d / %d / %d (relay lag at the end %d)", len(expected), records, missing, dup, left)})
	if missing > 0 {
		rep.Notes = append(rep.Notes, "events never read from Kafka, e.g. event_id "+strings.Join(missingIDs, ", "))
	}
	rep.Targets = append(rep.Targets,
		atMost("job events missing from Kafka", float64(missing), 0, "events"),
		atMost("job events published more than once", float64(dup), 0, "events"))
	return nil
}
