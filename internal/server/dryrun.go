package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/internal/metrics"
	jqredis "github.com/jqhq/jq/internal/redis"
)

// DryRun checks that PostgreSQL answers, and Redis and Kafka where configured, logs one line
// per component and returns an error naming every one that failed.
func DryRun(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	var errs []error
	check := func(name string, configured bool, fn func(ctx context.Context) (string, error)) {
		if !configured {
			logger.InfoContext(ctx, name+" not configured")
			return
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.DB.ConnectTimeout.Std()+time.Second)
		defer cancel()
		start := time.Now()
		detail, err := fn(cctx)
		if err != nil {
			logger.ErrorContext(ctx, name+" unreachable", "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		logger.InfoContext(ctx, name+" ok", "version", detail, "latency_ms", time.Since(start).Milliseconds())
	}

	check("postgresql", true, func(ctx context.Context) (string, error) {
		conn, err := pgx.Connect(ctx, cfg.DB.ConnString())
		if err != nil {
			return "", fmt.Errorf("%s: %w", config.Redacted(cfg.DB.ConnString()), err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var v string
		err = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
		return v, err
	})
	check("redis", cfg.Redis.Addr != "", func(ctx context.Context) (string, error) {
		c := jqredis.New(jqredis.Options{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			TLS: cfg.Redis.TLS, Timeout: time.Second}, slog.New(slog.DiscardHandler), nil)
		defer func() { _ = c.Close() }()
		return cfg.Redis.Addr, c.Ping(ctx)
	})
	check("kafka", len(cfg.Kafka.Brokers) > 0, func(ctx context.Context) (string, error) {
		p, err := kafka.NewProducer(kafkaOptions(cfg.Kafka, slog.New(slog.DiscardHandler), metrics.New(nil)))
		if err != nil {
			return "", err
		}
		defer p.Close()
		return fmt.Sprint(cfg.Kafka.Brokers), p.Ping(ctx)
	})
	return errors.Join(errs...)
}
