package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/jqhq/jq/internal/events/eventjson"
	"github.com/jqhq/jq/internal/kafka"
)

// eventsTailCommand is `jq-ctl events tail`: it follows the lifecycle events in Kafka.
type eventsTailCommand struct {
	app       *app
	brokers   string
	topics    []string
	job       string
	fromStart bool
	count     int
}

func (c *eventsTailCommand) spec() spec {
	return spec{
		name:  "tail",
		short: "follow job lifecycle events (and worker heartbeats) as jq publishes them to Kafka",
		long: `Reads the topics from Kafka directly (not through jq-server), without a consumer group, from
now on (--from-start: from the oldest kept). One line per event; with -o json or yaml, one
document per event (JSON lines). Stops on Ctrl-C, or after --count events.

Topics: ` + strings.Join(kafka.Topics, ", ") + ` (default: all but worker.heartbeat).`,
		examples: []string{
			"jq-ctl events tail --kafka-brokers kafka:9092",
			"jq-ctl events tail --topic job.dead-lettered --topic job.failed",
			"jq-ctl events tail --job 0191e3a0-7c1d-7000-8000-000000000001 --from-start -o json",
		},
		flags: func(f *flagSet) {
			f.String(&c.brokers, "kafka-brokers", "HOST:PORT,...", os.Getenv("JQ_KAFKA_BROKERS"), "Kafka seed brokers (env JQ_KAFKA_BROKERS)")
			f.List(&c.topics, "topic", "TOPIC", "a topic to follow; repeat for more")
			f.String(&c.job, "job", "JOB_ID", "", "only this job's events")
			f.Bool(&c.fromStart, "from-start", "start from the oldest events Kafka keeps")
			f.Int(&c.count, "count", "N", 0, "stop after N events (0: follow until interrupted)")
		},
	}
}

func (c *eventsTailCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("events tail", args); err != nil {
		return err
	}
	if c.brokers == "" {
		return usagef("events tail", "--kafka-brokers (or JQ_KAFKA_BROKERS) is required")
	}
	if c.job != "" {
		id, err := parseJobID(c.job)
		if err != nil {
			return err
		}
		c.job = id
	}
	topics := c.topics
	if len(topics) == 0 {
		topics = kafka.Topics[:len(kafka.Topics)-1]
	}
	for _, t := range topics {
		if !slices.Contains(kafka.Topics, t) {
			return failf(exitInvalid, "unknown topic %q: want one of %s", t, strings.Join(kafka.Topics, ", "))
		}
	}
	consumer, err := kafka.NewConsumer(kafka.Options{Brokers: strings.Split(c.brokers, ","), ClientID: "jq-ctl"}, "", topics, c.fromStart)
	if err != nil {
		return failf(exitInvalid, "%v", err)
	}
	defer consumer.Close()

	shown := 0
	for c.count == 0 || shown < c.count {
		msgs, err := consumer.Poll(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: the tail simply ends
		}
		if err != nil {
			return failf(exitUnavailable, "kafka at %s: %v", c.brokers, err)
		}
		for _, m := range msgs {
			if c.job != "" && string(m.Key) != c.job {
				continue
			}
			if err := c.print(m); err != nil {
				return err
			}
			if shown++; c.count > 0 && shown >= c.count {
				break
			}
		}
	}
	return nil
}

// print writes one event as a table line or a JSON/YAML document.
func (c *eventsTailCommand) print(m kafka.Message) error {
	var doc map[string]any
	if err := json.Unmarshal(m.Value, &doc); err != nil {
		doc = map[string]any{"raw": string(m.Value)}
	}
	doc["topic"] = m.Topic
	switch c.app.g.output {
	case outputJSON:
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.app.stdout, "%s\n", b)
		return err
	case outputYAML:
		b, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.app.stdout, "---\n%s", b)
		return err
	}
	if m.Topic == kafka.TopicWorkerHeartbeat {
		var h eventjson.Heartbeat
		_ = json.Unmarshal(m.Value, &h)
		_, err := fmt.Fprintf(c.app.stdout, "%s  %-17s worker %s  %s  %d/%d jobs\n", m.Timestamp.UTC().Format("15:04:05.000"),
			m.Topic, h.WorkerID, h.Status, h.ActiveJobCount, h.Concurrency)
		return err
	}
	var e eventjson.JobEvent
	if err := json.Unmarshal(m.Value, &e); err != nil {
		return errors.New("not a jq event: " + string(m.Value))
	}
	from := "-"
	if e.FromStatus != nil {
		from = *e.FromStatus
	}
	line := fmt.Sprintf("%s  %-17s job %s  %s -> %s  %s  attempt %d", e.OccurredAt.UTC().Format("15:04:05.000"),
		m.Topic, e.JobID, from, e.ToStatus, e.Reason, e.Attempt)
	if e.ErrorMessage != nil {
		line += "  error: " + strings.SplitN(*e.ErrorMessage, "\n", 2)[0]
	}
	_, err := fmt.Fprintln(c.app.stdout, line)
	return err
}
