package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/pgxuuid"
)

// database is a fresh, migrated database created for one run on the server of the admin URL,
// so that runs never see each other's rows.
type database struct {
	admin string
	name  string
	url   string
}

// createDatabase creates jq_bench_<random> on the server of admin and migrates it.
func createDatabase(ctx context.Context, admin string) (*database, error) {
	name := "jq_bench_" + randomID()
	u, err := withDatabase(admin, name)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", config.Redacted(admin), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	d := &database{admin: admin, name: name, url: u}
	m, err := db.NewMigrator(u, nil)
	if err == nil {
		err = m.Up(ctx)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("migrate %s: %w", name, err), d.drop(context.WithoutCancel(ctx)))
	}
	return d, nil
}

// drop removes the database, disconnecting whoever is still on it.
func (d *database) drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("drop %s: %w", d.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", d.name, err)
	}
	return nil
}

// pool opens a pool of at most size connections on the database.
func (d *database) pool(ctx context.Context, size int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	pc.MaxConns = int32(size)
	pc.AfterConnect = pgxuuid.Register
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	return p, nil
}

// insertChunk is how many jobs one jq.submit_many call inserts when filling a queue.
const insertChunk = 10_000

// insertJobs fills queue with n identical PENDING jobs through jq.submit_many (every job gets
// its SUBMITTED event), insertChunk per call, over conns connections at once. The payloads are
// built inside PostgreSQL, so a million rows cost no client memory. Callers run vacuumJobs once
// every queue is filled.
func insertJobs(ctx context.Context, pool *pgxpool.Pool, queue string, n int, payload json.RawMessage, conns int) error {
	chunks := make(chan int, n/insertChunk+1)
	for left := n; left > 0; left -= insertChunk {
		chunks <- min(left, insertChunk)
	}
	close(chunks)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, max(conns, 1))
	for range max(conns, 1) {
		go func() {
			for size := range chunks {
				if _, err := pool.Exec(ctx,
					`SELECT count(*) FROM jq.submit_many($1, array_fill($2::jsonb, ARRAY[$3::int]), 0)`,
					queue, payload, size); err != nil {
					cancel()
					errs <- fmt.Errorf("insert jobs: %w", err)
					return
				}
			}
			errs <- nil
		}()
	}
	var firstErr error
	for range max(conns, 1) {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// vacuumJobs vacuums and analyzes jq.jobs once the jobs of a run are in: fresh statistics, so
// that the claim plans for the backlog it will meet.
func vacuumJobs(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE jq.jobs"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	return nil
}

// drainWindow is when the jobs of a database were drained, by the database's own clock: from
// the first claim to the completion of the nth job (n ≤ 0: of the last one).
func drainWindow(ctx context.Context, pool *pgxpool.Pool, n int) (time.Duration, error) {
	var first, last time.Time
	if err := pool.QueryRow(ctx, `SELECT min(assigned_at) FROM jq.jobs`).Scan(&first); err != nil {
		return 0, fmt.Errorf("drain window: %w", err)
	}
	var err error
	if n <= 0 {
		err = pool.QueryRow(ctx, `SELECT max(completed_at) FROM jq.jobs WHERE status = 'DONE'`).Scan(&last)
	} else {
		err = pool.QueryRow(ctx, `SELECT completed_at FROM jq.jobs WHERE status = 'DONE'
			ORDER BY completed_at OFFSET $1 LIMIT 1`, n-1).Scan(&last)
	}
	if err != nil {
		return 0, fmt.Errorf("drain window: %w", err)
	}
	return last.Sub(first), nil
}

// postgresInfo reads the server's version and the settings that change the figures into e.
func postgresInfo(ctx context.Context, connString string, e *Environment) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", config.Redacted(connString), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'),
			current_setting('autovacuum')`).Scan(&e.PostgreSQLVersion, &e.SynchronousCommit, &e.Autovacuum); err != nil {
		return fmt.Errorf("postgresql version: %w", err)
	}
	return nil
}

func withDatabase(connString, name string) (string, error) {
	u, err := url.Parse(connString)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--db-url must be a postgres:// URL, got %q", config.Redacted(connString))
	}
	u.Path = "/" + name
	return u.String(), nil
}

// randomID is 12 lowercase hex digits, to name a run's database, queue and workers.
func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
