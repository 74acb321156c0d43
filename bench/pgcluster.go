package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned when no PostgreSQL server binaries (initdb, pg_ctl) are found.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, pg_ctl): install PostgreSQL or set --pg-bindir")

// pgCluster is a PostgreSQL cluster of a chaos run's own: initdb into a temporary directory,
// started with pg_ctl on a free loopback port, so that stopping it, killing its backends or
// filling its connection slots touches no other database. When jq-bench runs as root (initdb
// refuses root) every PostgreSQL command runs as the unprivileged user "postgres" through
// runuser, and the directory is handed to that user.
type pgCluster struct {
	bindir  string
	dir     string // the temporary directory: data/, the socket, the log
	port    int
	asUser  string // "" when the commands run as this process's user
	maxConn int
}

// pgBinDir finds the PostgreSQL server binaries: dir when given, else pg_config --bindir,
// else the newest /usr/lib/postgresql/*/bin, else initdb on PATH.
func pgBinDir(dir string) (string, error) {
	has := func(d string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("--pg-bindir %s holds no initdb, pg_ctl and postgres", dir)
		}
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionLess(dirs[j], dirs[i]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); has(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// versionLess orders /usr/lib/postgresql/N/bin by N.
func versionLess(a, b string) bool {
	na, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
	nb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
	return na < nb
}

// startCluster creates and starts a cluster with max_connections maxConn.
func startCluster(ctx context.Context, bindir string, maxConn int) (*pgCluster, error) {
	c := &pgCluster{bindir: bindir, maxConn: maxConn}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root, and initdb refuses root: create a user named postgres (or run jq-bench as another user)")
		}
		c.asUser = "postgres"
	}
	dir, err := os.MkdirTemp("", "jq-chaos-pg-")
	if err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	c.dir = dir
	if c.asUser != "" {
		if out, err := exec.CommandContext(ctx, "chown", c.asUser, dir).CombinedOutput(); err != nil {
			c.remove()
			return nil, fmt.Errorf("chown %s: %w: %s", dir, err, out)
		}
	}
	if out, err := c.command(ctx, "initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// command runs a PostgreSQL binary, as the cluster's user.
func (c *pgCluster) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bindir, bin)
	if c.asUser == "" {
		return exec.CommandContext(ctx, path, args...)
	}
	return exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
}

// start starts the cluster (again, after stop) and waits until it accepts connections.
func (c *pgCluster) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=%d -c fsync=off -c full_page_writes=off",
		c.port, c.dir, c.maxConn)
	out, err := c.command(ctx, "pg_ctl", "start", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, lastLines(string(log), 20))
	}
	return nil
}

// stop shuts the cluster down in mode fast (or immediate) and waits.
func (c *pgCluster) stop(ctx context.Context, mode string) error {
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.data(), "-m", mode, "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w: %s", mode, err, out)
	}
	return nil
}

// close stops the cluster and removes its directory.
func (c *pgCluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = c.stop(ctx, "immediate")
	c.remove()
}

func (c *pgCluster) remove() { _ = os.RemoveAll(c.dir) }

// url is the URL of database name on the cluster (superuser postgres, trust).
func (c *pgCluster) url(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// addr is the cluster's host:port.
func (c *pgCluster) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// terminate kills the backends of every connection to database name but the caller's
// (pg_terminate_backend) and returns how many it killed.
func (c *pgCluster) terminate(ctx context.Context, name string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return 0, fmt.Errorf("connect to terminate backends: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("terminate backends: %w", err)
	}
	return n, nil
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
