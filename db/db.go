// Package db applies jq's schema migrations (dbmate, files embedded from db/migrations) and
// dumps the resulting schema.
package db

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	_ "github.com/amacneil/dbmate/v2/pkg/driver/postgres" // registers postgres:// with dbmate
	"github.com/jackc/pgx/v5"

	"github.com/jqhq/jq/internal/config"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationsTable keeps dbmate's bookkeeping inside the jq schema.
const migrationsTable = "jq.schema_migrations"

// lockKey is the advisory lock that serialises migrations of concurrently starting servers.
const lockKey = 0x6a71_6d69_6772 // "jqmigr"

// Migrator applies and inspects jq's migrations on one database.
type Migrator struct {
	connString string
	log        io.Writer
	fsys       fs.FS // the migrations: migrations/*.sql
}

// NewMigrator returns a Migrator for the database at connString (a postgres:// URL). dbmate's
// progress lines go to log (nil discards them).
func NewMigrator(connString string, log io.Writer) (*Migrator, error) {
	u, err := url.Parse(connString)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("migrations need a postgres:// URL, got %q", config.Redacted(connString))
	}
	if log == nil {
		log = io.Discard
	}
	return &Migrator{connString: connString, log: log, fsys: migrations}, nil
}

func (m *Migrator) dbmate() *dbmate.DB {
	u, _ := url.Parse(m.connString) // checked in NewMigrator
	if u.Scheme == "postgresql" {
		u.Scheme = "postgres"
	}
	d := dbmate.New(u)
	d.FS = m.fsys
	d.MigrationsDir = []string{"migrations"}
	d.MigrationsTableName = migrationsTable
	d.AutoDumpSchema = false
	d.Log = m.log
	d.Strict = true
	return d
}

// Up applies every pending migration. Concurrent callers (servers starting together) take
// turns on an advisory lock; the later ones find nothing left to do.
func (m *Migrator) Up(ctx context.Context) error {
	return m.locked(ctx, func() error {
		if err := m.ensureSchema(ctx); err != nil {
			return err
		}
		if err := m.dbmate().Migrate(); err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		return nil
	})
}

// Down rolls back the newest applied migration.
func (m *Migrator) Down(ctx context.Context) error {
	return m.locked(ctx, func() error {
		if err := m.dbmate().Rollback(); err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		return nil
	})
}

// Status reports each migration and whether it is applied.
type Status struct {
	Name    string
	Applied bool
}

// Status lists the migrations and whether each is applied.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	if err := m.ensureSchema(ctx); err != nil {
		return nil, err
	}
	found, err := m.dbmate().FindMigrations()
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Status, 0, len(found))
	for _, f := range found {
		out = append(out, Status{Name: f.FileName, Applied: f.Applied})
	}
	return out, nil
}

// Pending returns how many migrations are not applied.
func (m *Migrator) Pending(ctx context.Context) (int, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if !s.Applied {
			n++
		}
	}
	return n, nil
}

// DumpSchema returns the schema as pg_dump prints it (schema jq only), followed by the
// applied migration versions: what db/schema.sql holds. It needs pg_dump on PATH.
func (m *Migrator) DumpSchema() ([]byte, error) {
	u, _ := url.Parse(m.connString)
	q := u.Query()
	q.Set("search_path", "jq")
	u.RawQuery = q.Encode()
	d := m.dbmate()
	d.DatabaseURL = u
	drv, err := d.Driver()
	if err != nil {
		return nil, err
	}
	sqlDB, err := drv.Open()
	if err != nil {
		return nil, err
	}
	defer sqlDB.Close()
	out, err := drv.DumpSchema(sqlDB)
	if err != nil {
		return nil, fmt.Errorf("dump schema: %w", err)
	}
	return normalizeDump(out), nil
}

// normalizeDump drops the lines of a pg_dump that depend on the PostgreSQL and pg_dump patch
// versions rather than on the schema, so db/schema.sql compares equal across machines.
func normalizeDump(dump []byte) []byte {
	var out [][]byte
	for line := range bytes.SplitSeq(dump, []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("-- Dumped from database version")),
			bytes.HasPrefix(line, []byte("-- Dumped by pg_dump version")),
			bytes.HasPrefix(line, []byte("\\restrict ")),
			bytes.HasPrefix(line, []byte("\\unrestrict ")):
			continue
		}
		out = append(out, line)
	}
	return bytes.TrimSpace(bytes.Join(out, []byte("\n")))
}

// ensureSchema creates schema jq, which must exist before dbmate creates its table there.
func (m *Migrator) ensureSchema(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, m.connString)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS jq"); err != nil {
		return fmt.Errorf("create schema jq: %w", err)
	}
	return nil
}

func (m *Migrator) locked(ctx context.Context, fn func() error) (err error) {
	conn, err := pgx.Connect(ctx, m.connString)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(lockKey)); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		_, unlockErr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(lockKey))
		err = errors.Join(err, unlockErr)
	}()
	return fn()
}

// Migrations returns the embedded migration files (under "migrations/").
func Migrations() fs.FS { return migrations }
