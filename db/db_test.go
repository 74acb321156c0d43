package db_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/sqlfuncs"
)

var update = flag.Bool("update", false, "rewrite the generated sqlfuncs migration and db/schema.sql")

// latestSQLFuncsMigration is the newest migration generated from sqlfuncs/.
func latestSQLFuncsMigration(t *testing.T) string {
	t.Helper()
	matches, err := filepath.Glob("migrations/*_sqlfuncs.sql")
	require.NoError(t, err)
	require.NotEmpty(t, matches, "no *_sqlfuncs.sql migration")
	sort.Strings(matches)
	return matches[len(matches)-1]
}

// TestSQLFuncsMigration_UpToDate fails when sqlfuncs/*.sql changed without the migration being
// regenerated (make generate).
func TestSQLFuncsMigration_UpToDate(t *testing.T) {
	path := latestSQLFuncsMigration(t)
	want := sqlfuncs.Migration()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(got), "%s is stale: run `make generate`", path)
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
