package db_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/sqlfuncs"
)

var update = flag.Bool("update", false, "rewrite the generated sqlfuncs migration and db/schema.sql")

// sqlFuncsMigrations are the migrations generated from sqlfuncs/, oldest first.
func sqlFuncsMigrations(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob("migrations/*_sqlfuncs.sql")
	require.NoError(t, err)
	require.NotEmpty(t, matches, "no *_sqlfuncs.sql migration")
	sort.Strings(matches)
	return matches
}

// TestSQLFuncsMigration_UpToDate fails when sqlfuncs/*.sql changed without a migration being
// generated (make generate). With -update it rewrites the newest sqlfuncs migration while that
// one is not committed yet, and adds a new one otherwise: a committed migration never changes.
func TestSQLFuncsMigration_UpToDate(t *testing.T) {
	all := sqlFuncsMigrations(t)
	path := all[len(all)-1]
	previous := ""
	if len(all) > 1 {
		data, err := os.ReadFile(all[len(all)-2])
		require.NoError(t, err)
		previous = string(data)
	}
	if *update {
		if committed(t, path) && readFile(t, path) != sqlfuncs.Migration(previous) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			previous = string(data)
			path = filepath.Join("migrations", time.Now().UTC().Format("20060102150405")+"_sqlfuncs.sql")
		}
		require.NoError(t, os.WriteFile(path, []byte(sqlfuncs.Migration(previous)), 0o644))
	}
	require.Equal(t, sqlfuncs.Migration(previous), readFile(t, path), "%s is stale: run `make generate`", path)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// committed reports whether path is in git's HEAD unchanged.
func committed(t *testing.T, path string) bool {
	t.Helper()
	if err := exec.Command("git", "ls-files", "--error-unmatch", path).Run(); err != nil {
		return false
	}
	return exec.Command("git", "diff", "--quiet", "HEAD", "--", path).Run() == nil
}

// TestSchema_UpToDate fails when db/schema.sql differs from what the migrations produce.
func TestSchema_UpToDate(t *testing.T) {
	m, err := db.NewMigrator(testdb.EmptyDatabase(t), nil)
	require.NoError(t, err)
	require.NoError(t, m.Up(context.Background()))
	dump, err := m.DumpSchema()
	require.NoError(t, err)
	want := string(dump) + "\n"
	if *update {
		require.NoError(t, os.WriteFile("schema.sql", []byte(want), 0o644))
	}
	got, err := os.ReadFile("schema.sql")
	require.NoError(t, err)
	require.Equal(t, want, string(got), "db/schema.sql is stale: run `make generate`")
}

func TestMigrator_UpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.EmptyDatabase(t)
	m, err := db.NewMigrator(url, nil)
	require.NoError(t, err)

	pending, err := m.Pending(ctx)
	require.NoError(t, err)
	require.Positive(t, pending)

	require.NoError(t, m.Up(ctx))
	pending, err = m.Pending(ctx)
	require.NoError(t, err)
	require.Zero(t, pending)
	require.NoError(t, m.Up(ctx), "up is idempotent")

	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var maxRetries int
	require.NoError(t, conn.QueryRow(ctx, "SELECT max_retries FROM jq.queues WHERE name = 'default' AND ttl_seconds IS NULL").Scan(&maxRetries))
	require.Equal(t, 3, maxRetries)

	var fns []string
	rows, err := conn.Query(ctx, "SELECT 'jq.' || proname FROM pg_proc WHERE pronamespace = 'jq'::regnamespace")
	require.NoError(t, err)
	fns, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Subset(t, fns, sqlfuncs.Functions())

	// Roll everything back, then forward again.
	st, err := m.Status(ctx)
	require.NoError(t, err)
	for range st {
		require.NoError(t, m.Down(ctx))
	}
	var tables int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'jq' AND tablename <> 'schema_migrations'").Scan(&tables))
	require.Zero(t, tables, "down left tables behind")
	require.NoError(t, m.Up(ctx))
}

func TestMigrator_ConcurrentUp(t *testing.T) {
	t.Parallel()
	url := testdb.EmptyDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			m, err := db.NewMigrator(url, nil)
			if err != nil {
				errs <- err
				return
			}
			errs <- m.Up(context.Background())
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

func TestNewMigrator_RejectsNonPostgresURL(t *testing.T) {
	t.Parallel()
	_, err := db.NewMigrator("mysql://u:secret@h/d", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
	require.True(t, strings.Contains(err.Error(), "postgres://"))
}
