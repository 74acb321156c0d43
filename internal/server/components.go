package server

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/health"
	"github.com/jqhq/jq/internal/kafka"
	jqredis "github.com/jqhq/jq/internal/redis"
	"github.com/jqhq/jq/queue"
)

// connections are what a jq-server checks its dependencies through: the running server's
// own, or those a dry run opens. A connection that could not be made is reported as its
// component's failure, with the error that prevented it.
type connections struct {
	store    *queue.Store // PostgreSQL
	storeErr error
	redis    *jqredis.Client // nil when Redis is off
	kafka    *kafka.Producer // nil when events are off
	kafkaErr error
	relay    *queue.Relay // nil when events are off, and in a dry run
}

// components are the dependencies of a jq-server and how to check each one. /readyz,
// AdminService.GetSystemStatus and jq-server --dry-run all report this list. Kafka is
// optional for readiness: while it is down, events wait in the outbox and jobs still run.
// No error a check returns can quote a configured password.
func components(cfg *config.Config, c connections) []health.Component {
	redact := redactor(cfg)
	return []health.Component{
		{
			Name: "postgresql", Configured: true, Target: config.Redacted(cfg.DB.ConnString()),
			Check: redact(func(ctx context.Context) (string, error) {
				if c.storeErr != nil {
					return "", c.storeErr
				}
				return c.store.ServerVersion(ctx)
			}),
		},
		{
			Name: "redis", Configured: cfg.Redis.Addr != "", Target: cfg.Redis.Addr,
			Check: redact(func(ctx context.Context) (string, error) { return "", c.redis.Ping(ctx) }),
		},
		{
			Name: "kafka", Configured: len(cfg.Kafka.Brokers) > 0, Optional: true, Target: strings.Join(cfg.Kafka.Brokers, ","),
			Check: redact(func(ctx context.Context) (string, error) {
				if c.kafkaErr != nil {
					return "", c.kafkaErr
				}
				if err := c.kafka.Ping(ctx); err != nil {
					return "", err
				}
				if c.relay != nil && c.relay.Failing() {
					return "", errors.New("brokers answer, but the event relay's last publish failed")
				}
				return "", nil
			}),
		},
	}
}

// check is the type of health.Component.Check.
type check = func(ctx context.Context) (string, error)

// redactor returns a wrapper of checks whose errors never quote a password of cfg: drivers'
// errors may repeat what they were given, and these errors reach logs and any API reader.
func redactor(cfg *config.Config) func(check) check {
	var secrets []string
	for _, s := range []string{cfg.DB.Password, cfg.Redis.Password, cfg.Kafka.SASLPassword} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	if u, err := url.Parse(cfg.DB.ConnString()); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	return func(c check) check {
		return func(ctx context.Context) (string, error) {
			v, err := c(ctx)
			if err == nil || len(secrets) == 0 {
				return v, err
			}
			return v, redactedError{err: err, text: redact(err.Error(), secrets)}
		}
	}
}

// redact replaces every secret in text.
func redact(text string, secrets []string) string {
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, "xxxxx")
	}
	return text
}

// redactedError is an error with its message redacted; errors.Is and errors.As still see the
// error it wraps.
type redactedError struct {
	err  error
	text string
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }
