package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/server"
	"github.com/jqhq/jq/queue"
)

const authUsage = `jq-server auth create-key --name NAME --role ROLE [--queues a,b] [--expires 720h] [--out FILE]
  jq-server auth list-keys
  jq-server auth revoke-key NAME`

// runAuth is `jq-server auth create-key|list-keys|revoke-key`: key management straight on the
// database, for the first admin key and for deployments (jq-ctl key does the same through a
// running server, for admins).
func runAuth(ctx context.Context, setup *cli.Setup, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &cli.UsageError{Err: fmt.Errorf("usage: %s", authUsage)}
	}
	cmd, rest := args[0], args[1:]
	var run func(ctx context.Context, store *queue.Store) error
	switch cmd {
	case "create-key":
		c, err := parseCreateKey(rest)
		if err != nil {
			return err
		}
		run = func(ctx context.Context, store *queue.Store) error { return c.run(ctx, store, stdout, stderr) }
	case "list-keys":
		if len(rest) > 0 {
			return &cli.UsageError{Err: fmt.Errorf("list-keys takes no arguments; usage: %s", authUsage)}
		}
		run = func(ctx context.Context, store *queue.Store) error { return listKeys(ctx, store, stdout) }
	case "revoke-key":
		if len(rest) != 1 || strings.HasPrefix(rest[0], "-") {
			return &cli.UsageError{Err: fmt.Errorf("revoke-key takes the key's NAME; usage: %s", authUsage)}
		}
		run = func(ctx context.Context, store *queue.Store) error {
			k, err := store.RevokeAPIKey(ctx, rest[0], actor())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "API key %s revoked; servers refuse it within auth.key_cache_ttl (%s)\n", k.Name, setup.Config.Auth.KeyCacheTTL)
			return nil
		}
	default:
		return &cli.UsageError{Err: fmt.Errorf("unknown auth command %q; usage: %s", cmd, authUsage)}
	}

	if setup.Config.DB.MigrateOnStart {
		m, err := db.NewMigrator(setup.Config.DB.ConnString(), nil)
		if err != nil {
			return err
		}
		if err := m.Up(ctx); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
	}
	store, closeStore, err := server.OpenStore(ctx, setup.Config.DB)
	if err != nil {
		return err
	}
	defer closeStore()
	return run(ctx, store)
}

// createKey is `jq-server auth create-key`.
type createKey struct {
	name, role, queues, out string
	expires                 time.Duration
}

func parseCreateKey(args []string) (*createKey, error) {
	c := &createKey{}
	fs := flag.NewFlagSet("jq-server auth create-key", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.name, "name", "", "the key's name: letters, digits and . _ @ -, never reused")
	fs.StringVar(&c.role, "role", "", "admin, submitter, worker or reader")
	fs.StringVar(&c.queues, "queues", "", "comma-separated queues the key is limited to (default: every queue)")
	fs.DurationVar(&c.expires, "expires", 0, "the key stops working after this long (e.g. 720h); 0: never")
	fs.StringVar(&c.out, "out", "", "write the key to this file (mode 0600) instead of stdout; if the file already holds the active key NAME, do nothing")
	if err := fs.Parse(args); err != nil {
		return nil, &cli.UsageError{Err: fmt.Errorf("%w; usage: %s", err, authUsage)}
	}
	switch {
	case fs.NArg() > 0:
		return nil, &cli.UsageError{Err: fmt.Errorf("unexpected argument %q; usage: %s", fs.Arg(0), authUsage)}
	case c.name == "":
		return nil, &cli.UsageError{Err: fmt.Errorf("--name is required; usage: %s", authUsage)}
	case c.expires < 0:
		return nil, &cli.UsageError{Err: fmt.Errorf("--expires %s is negative", c.expires)}
	}
	if _, err := apikey.ParseRole(c.role); err != nil {
		return nil, &cli.UsageError{Err: fmt.Errorf("--role: %w", err)}
	}
	return c, nil
}

func (c *createKey) run(ctx context.Context, store *queue.Store, stdout, stderr io.Writer) error {
	if c.out != "" {
		if done, err := c.alreadyIn(ctx, store); done || err != nil {
			if done {
				fmt.Fprintf(stderr, "jq-server: %s already holds the active API key %s; nothing to do\n", c.out, c.name)
			}
			return err
		}
	}
	key := apikey.Generate()
	var queues []string
	for q := range strings.SplitSeq(c.queues, ",") {
		if q = strings.TrimSpace(q); q != "" {
			queues = append(queues, q)
		}
	}
	p := queue.CreateAPIKeyParams{
		Name: c.name, Role: apikey.Role(c.role), Queues: queues, Hash: apikey.Hash(key), Prefix: apikey.Display(key),
		Actor: actor(),
	}
	if c.expires > 0 {
		p.ExpiresAt = time.Now().Add(c.expires)
	}
	if c.out == "" {
		if _, err := store.CreateAPIKey(ctx, p); err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
		return nil
	}
	// The file first, so that a key never exists that nobody holds.
	f, err := os.OpenFile(c.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	_, werr := fmt.Fprintln(f, key)
	if err := errors.Join(werr, f.Close()); err != nil {
		_ = os.Remove(c.out)
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := store.CreateAPIKey(ctx, p); err != nil {
		_ = os.Remove(c.out)
		return err
	}
	fmt.Fprintf(stderr, "jq-server: API key %s (role %s) written to %s\n", c.name, c.role, c.out)
	return nil
}

// alreadyIn reports whether --out already holds the active key named --name: the idempotent
// case of an init container or job run twice. Any other file there is an error, never
// overwritten.
func (c *createKey) alreadyIn(ctx context.Context, store *queue.Store) (bool, error) {
	data, err := os.ReadFile(c.out)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("--out: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if apikey.Check(key) != nil {
		return false, fmt.Errorf("--out %s exists and does not hold an API key; remove it or choose another file", c.out)
	}
	k, err := store.Authenticate(ctx, apikey.Hash(key))
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		return false, err
	}
	if k == nil || k.Name != c.name || !k.RevokedAt.IsZero() || (!k.ExpiresAt.IsZero() && !time.Now().Before(k.ExpiresAt)) {
		return false, fmt.Errorf("--out %s holds another key than the active API key %s; remove it or choose another file", c.out, c.name)
	}
	return true, nil
}

func listKeys(ctx context.Context, store *queue.Store, stdout io.Writer) error {
	keys, err := store.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tQUEUES\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tSTATE")
	now := time.Now()
	for _, k := range keys {
		state := "active"
		switch {
		case !k.RevokedAt.IsZero():
			state = "revoked"
		case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.Name, k.Role, orDash(strings.Join(k.Queues, ",")), k.Prefix,
			stamp(k.CreatedAt), orDash(stamp(k.ExpiresAt)), orDash(stamp(k.LastUsed)), state)
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// actor names who ran the command in the audit trail: cli:<user>@<host>.
func actor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "cli:" + name + "@" + host
}
