package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/queue"
)

// DryRun checks that PostgreSQL answers, and Redis and Kafka where configured, through
// connections made as the server makes them and the checks /readyz runs. It logs one line per
// component and returns an error naming every one that failed.
func DryRun(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	quiet := slog.New(slog.DiscardHandler) // the result lines say what failed
	m := metrics.New(nil)
	var c connections
	pool, err := openPool(ctx, cfg.DB)
	if err != nil {
		c.storeErr = err
	} else {
		defer pool.Close()
		c.store = queue.NewStore(pool)
	}
	if cfg.Redis.Addr != "" {
		c.redis = newRedis(cfg.Redis, quiet, m)
		defer func() { _ = c.redis.Close() }()
	}
	if len(cfg.Kafka.Brokers) > 0 {
		if c.kafka, c.kafkaErr = kafka.NewProducer(kafkaOptions(cfg.Kafka, quiet, m)); c.kafkaErr == nil {
			defer c.kafka.Close()
		}
	}

	var errs []error
	for _, comp := range components(cfg, c) {
		if !comp.Configured {
			logger.InfoContext(ctx, comp.Name+" not configured")
			continue
		}
		r := comp.Probe(ctx, cfg.DB.ConnectTimeout.Std()+time.Second)
		if r.Err != nil {
			logger.ErrorContext(ctx, comp.Name+" unreachable", "target", comp.Target, "error", r.Err)
			errs = append(errs, fmt.Errorf("%s %s: %w", comp.Name, comp.Target, r.Err))
			continue
		}
		attrs := []any{"target", comp.Target}
		if r.Version != "" {
			attrs = append(attrs, "version", r.Version)
		}
		logger.InfoContext(ctx, comp.Name+" ok", append(attrs, "latency_ms", r.Latency.Milliseconds())...)
	}
	return errors.Join(errs...)
}
