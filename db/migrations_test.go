package db_test

import (
	"bytes"
	"context"
	"io/fs"

	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/testdb"
)

// appendOnlySince is the commit from which committed migrations are append-only: a migration
// never changes once committed (a correction is a new migration). Earlier history, when the
// generated migration was rewritten in place, is grandfathered.
const appendOnlySince = "cabe02b079855c865409408ee1aa5267626468d3"

// TestMigrations_AppendOnly fails when the SQL of a committed migration changes (its comments
// may be corrected). It reads git's history of db/migrations.
func TestMigrations_AppendOnly(t *testing.T) {
	t.Parallel()
	if err := exec.Command("git", "cat-file", "-e", appendOnlySince+"^{commit}").Run(); err != nil {
		t.Skipf("git history not available (not a clone, or a shallow one without %s): %v", appendOnlySince[:7], err)
	}
	names, err := fs.Glob(db.Migrations(), "migrations/*.sql")
	require.NoError(t, err)
	for _, name := range names {
		current, err := fs.ReadFile(db.Migrations(), name)
		require.NoError(t, err)
		file := path.Join("db", name)
		out, err := exec.Command("git", "log", "--format=%H", "--", "../"+file).Output()
		require.NoError(t, err)
		commits := strings.Fields(string(out))
		commits = append(commits, appendOnlySince)
		for _, c := range commits {
			if c != appendOnlySince && exec.Command("git", "merge-base", "--is-ancestor", c, appendOnlySince).Run() == nil {
				continue // before the rule
			}
			old, err := exec.Command("git", "show", c+":"+file).Output()
			if err != nil {
				continue // the file did not exist at that commit
			}
			require.Equal(t, sqlOnly(old), sqlOnly(current),
				"%s changed since commit %s: committed migrations are append-only; undo the change and add a new migration", file, c[:7])
		}
	}
}

var sqlComment = regexp.MustCompile(`(?m)--.*$`)

// sqlOnly is a migration without its comments and blank lines.
func sqlOnly(b []byte) string {
	var out []string
	for line := range strings.SplitSeq(sqlComment.ReplaceAllString(string(b), ""), "\n") {
		if line = strings.TrimRight(line, " \t"); line != "" {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestMigrations_EachDownRestoresThePreviousState applies the migrations one at a time and,
// after each, rolls it back: the schema must then be exactly the one before it (dumped with
// pg_dump), for every migration. Rolling back several in a row thus walks back through every
// earlier state.
func TestMigrations_EachDownRestoresThePreviousState(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump is not on PATH (make test puts PostgreSQL's bin folder there)")
	}
	ctx := context.Background()
	names, err := fs.Glob(db.Migrations(), "migrations/*.sql")
	require.NoError(t, err)
	url := testdb.EmptyDatabase(t)
	prev := ""
	for i := range names {
		m := db.NewMigratorFS(url, firstN(t, names, i+1))
		require.NoError(t, m.Up(ctx), names[i])
		after, err := m.DumpSchema()
		require.NoError(t, err)
		require.NoError(t, m.Down(ctx), "down of %s", names[i])
		back, err := m.DumpSchema()
		require.NoError(t, err)
		if i == 0 {
			requireEmptySchema(t, url)
		} else {
			source, err := fs.ReadFile(db.Migrations(), names[i])
			require.NoError(t, err)
			require.Equal(t, prev, withoutKeptEnumValues(stripVersions(back), source),
				"down of %s does not restore the schema before it", names[i])
		}
		require.NoError(t, m.Up(ctx), "up again of %s", names[i])
		prev = stripVersions(after)
	}
}

// keptEnumValues is how a migration declares that its down leaves enum values in place:
// PostgreSQL cannot drop a value from an enum.
var keptEnumValues = regexp.MustCompile(`(?m)^-- jq:down-keeps-enum-values (\S+) (.+)$`)

// withoutKeptEnumValues removes from a dump the enum values the migration's down declares it
// keeps, so the rest of the schema can be compared.
func withoutKeptEnumValues(dump string, migration []byte) string {
	for _, m := range keptEnumValues.FindAllStringSubmatch(string(migration), -1) {
		for _, value := range strings.Fields(m[2]) {
			dump = strings.Replace(dump, ",\n    '"+value+"'", "", 1)
		}
	}
	return dump
}

// requireEmptySchema checks that schema jq holds nothing but dbmate's own table.
func requireEmptySchema(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM pg_class WHERE relnamespace = 'jq'::regnamespace AND relname NOT LIKE 'schema_migrations%')
		+ (SELECT count(*) FROM pg_type WHERE typnamespace = 'jq'::regnamespace AND typtype = 'e')
		+ (SELECT count(*) FROM pg_proc WHERE pronamespace = 'jq'::regnamespace)`).Scan(&n))
	require.Zero(t, n, "down of the first migration leaves something in schema jq")
}

// firstN is a filesystem holding the first n migrations only.
func firstN(t *testing.T, names []string, n int) fs.FS {
	t.Helper()
	out := fstest.MapFS{"migrations": &fstest.MapFile{Mode: fs.ModeDir | 0o755}}
	for _, name := range names[:n] {
		data, err := fs.ReadFile(db.Migrations(), name)
		require.NoError(t, err)
		out[name] = &fstest.MapFile{Data: data}
	}
	return out
}

// stripVersions drops the list of applied versions that a dump ends with.
func stripVersions(dump []byte) string {
	if i := bytes.Index(dump, []byte("INSERT INTO jq.schema_migrations")); i >= 0 {
		dump = dump[:i]
	}
	return strings.TrimSpace(string(dump))
}
