// Package testdb gives each test its own migrated PostgreSQL database, quickly: the schema is
// migrated once into a template database (per version of the migrations, shared by every test
// package and run), and each test gets a copy made by CREATE DATABASE ... TEMPLATE, dropped
// when the test ends. Tests that commit, LISTEN or use several connections therefore never
// see each other's rows.
//
// The server is found at JQ_DB_URL (what `make test` sets from deploy/local-services.sh), else
// at postgres://postgres@127.0.0.1:5432/postgres. The URL's user must be allowed to create
// databases.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/pgxuuid"
)

// DefaultURL is used when JQ_DB_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the URL of the server the tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("JQ_DB_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New creates a fresh, migrated database for tb and returns its URL. It is dropped when tb ends.
func New(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := AdminURL()
	tmpl, err := template(ctx, admin)
	if err != nil {
		tb.Fatalf("testdb: %v (is PostgreSQL running? `make test` starts one: deploy/local-services.sh)", err)
	}
	name := "jq_test_" + randomSuffix()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("testdb: connect to %s: %v", admin, err)
	}
	defer conn.Close(context.Background())
	// CREATE DATABASE fails while any session is connected to the template; the one that
	// built it may still be closing, so retry briefly.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{tmpl}.Sanitize()))
		var pgErr *pgconn.PgError
		if err == nil || attempt == 50 || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("testdb: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("testdb: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())); err != nil {
			tb.Errorf("testdb: drop %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// Pool returns a pool on a fresh migrated database for tb, closed when tb ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return PoolFor(tb, New(tb))
}

// PoolFor returns a pool on the database at url, closed when tb ends.
func PoolFor(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	pc.AfterConnect = pgxuuid.Register // as jq-server's pool
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// EmptyDatabase creates a database with nothing in it (not even the migrations), for tests
// of the migrations themselves, and returns its URL. It is dropped when tb ends.
func EmptyDatabase(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("testdb: connect: %v", err)
	}
	defer conn.Close(ctx)
	name := "jq_test_" + randomSuffix()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("testdb: create database: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			tb.Errorf("testdb: drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("testdb: drop %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// template returns the name of the template database for the current migrations, building it
// when it does not exist yet. Concurrent test processes take turns on an advisory lock.
func template(ctx context.Context, admin string) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "jq_tmpl_" + sum[:16]
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", admin, err)
	}
	defer conn.Close(context.Background())

	key := int64(binary.BigEndian.Uint64([]byte(sum[:8])))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key) //nolint:errcheck // the session ends right after

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		touchTemplate(ctx, conn, name)
		return name, nil
	}

	// Build under a temporary name and rename, so a crash never leaves a half-migrated template.
	building := name + "_building"
	for _, stmt := range []string{
		"DROP DATABASE IF EXISTS " + pgx.Identifier{building}.Sanitize() + " WITH (FORCE)",
		"CREATE DATABASE " + pgx.Identifier{building}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return "", fmt.Errorf("build template: %w", err)
		}
	}
	m, err := db.NewMigrator(withDatabase(admin, building), nil)
	if err != nil {
		return "", err
	}
	if err := m.Up(ctx); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", pgx.Identifier{building}.Sanitize(), pgx.Identifier{name}.Sanitize())); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	touchTemplate(ctx, conn, name)
	// Templates of other migrations are dead weight once nobody has used them for a while: other
	// checkouts (a branch, a worktree) on this server may still be testing with theirs.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database
		WHERE datname LIKE 'jq\_tmpl\_%' AND datname <> $1 AND datname NOT LIKE '%\_building'
		  AND coalesce(substring(shobj_description(oid, 'pg_database') FROM 'last used ([0-9]+)')::bigint, 0)
		      < extract(epoch FROM now() - $2::interval)`, name, staleTemplateAge.String())
	if err == nil {
		stale, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, s := range stale {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s}.Sanitize()+" WITH (FORCE)")
		}
	}
	return name, nil
}

// staleTemplateAge is how long a template of other migrations is kept after its last use.
const staleTemplateAge = 6 * time.Hour

// touchTemplate notes in the template's comment when it was last used (best effort).
func touchTemplate(ctx context.Context, conn *pgx.Conn, name string) {
	_, _ = conn.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS 'jq test template, last used %d'",
		pgx.Identifier{name}.Sanitize(), time.Now().Unix()))
}

// migrationsHash identifies the content of the migrations.
func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(db.Migrations(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(db.Migrations(), p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path.Base(p), len(data))
		h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func withDatabase(connString, name string) string {
	u, err := url.Parse(connString)
	if err != nil {
		panic(fmt.Sprintf("testdb: bad URL %q: %v", connString, err))
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(hex.EncodeToString(b[:]))
}
