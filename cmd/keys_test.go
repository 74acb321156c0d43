package cmd_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/testdb"
)

// TestE2E_KeyManagement runs the key commands for real: `jq-server auth create-key|list-keys|
// revoke-key` on PostgreSQL, `jq-ctl key create|list|revoke` through a running jq-server. A
// listing shows each key's name, role, queues and prefix but never a key; a revoked key is
// refused (jq-ctl's exit code 9) within the server's key cache TTL; both revokes are audited with
// who made them.
func TestE2E_KeyManagement(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	srv := startServerProcess(t, append(e2eServerEnv(dbURL), "JQ_AUTH_KEY_CACHE_TTL=200ms")...)
	serverAuth := func(args ...string) result {
		t.Helper()
		return run(t, "jq-server", []string{"JQ_DB_URL=" + dbURL}, append([]string{"auth"}, args...)...)
	}
	ctl := func(key string, args ...string) result {
		t.Helper()
		return run(t, "jq-ctl", []string{"JQ_SERVER_ADDR=" + srv.grpcAddr, "JQ_TOKEN=" + key}, args...)
	}
	ok := func(r result) string {
		t.Helper()
		require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		return r.stdout
	}
	// refusedSoon waits until the server refuses key (the key cache holds it up to 200 ms).
	refusedSoon := func(key string, args ...string) result {
		t.Helper()
		var r result
		require.Eventually(t, func() bool { r = ctl(key, args...); return r.code != 0 }, 10*time.Second, 100*time.Millisecond,
			"the revoked key still works")
		require.Equal(t, 9, r.code, "refused as UNAUTHENTICATED: %s", r.stderr)
		require.Contains(t, r.stderr, "revoked")
		return r
	}

	// jq-server auth: create, list, use, revoke, refused.
	admin := createKey(t, dbURL, "admin")
	submitter := strings.TrimSuffix(ok(serverAuth("create-key", "--name", "ci-submit", "--role", "submitter", "--queues", "default,reports")), "\n")
	require.NoError(t, apikey.Check(submitter))
	out := ok(serverAuth("list-keys"))
	require.NotContains(t, out, submitter)
	require.NotContains(t, out, admin)
	line := lineWith(t, out, "ci-submit")
	require.Equal(t, []string{"ci-submit", "submitter", "default,reports", apikey.Display(submitter) + "…"}, strings.Fields(line)[:4])
	require.Equal(t, "active", lastField(line))

	id := strings.TrimSpace(ok(ctl(submitter, "job", "submit", "-q", "default", "--", "true")))
	ok(ctl(submitter, "job", "status", id))
	r := ctl(submitter, "queue", "list")
	require.Equal(t, 9, r.code, "a submitter may not list queues: %s", r.stderr)
	require.Contains(t, r.stderr, "submitter")

	require.Contains(t, ok(serverAuth("revoke-key", "ci-submit")), "API key ci-submit revoked")
	refusedSoon(submitter, "job", "status", id)
	require.Equal(t, "revoked", lastField(lineWith(t, ok(serverAuth("list-keys")), "ci-submit")))
	r = serverAuth("revoke-key", "no-such-key")
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "no-such-key")

	// jq-ctl key: the same through the server, as an admin.
	reader := strings.TrimSuffix(ok(ctl(admin, "key", "create", "dash-read", "--role", "reader", "--expires", "1h")), "\n")
	require.NoError(t, apikey.Check(reader), "stdout holds the key alone")
	ok(ctl(reader, "queue", "list"))
	r = ctl(reader, "key", "list")
	require.Equal(t, 9, r.code, "a reader may not list keys: %s", r.stderr)

	out = ok(ctl(admin, "key", "list", "-o", "json"))
	for _, k := range []string{admin, submitter, reader} {
		require.NotContains(t, out, k)
	}
	var keys []struct {
		Name, Role, Prefix string
		Key                string
		ExpiresAt          *string `json:"expires_at"`
		RevokedAt          *string `json:"revoked_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &keys))
	byName := map[string]int{}
	for i, k := range keys {
		require.Empty(t, k.Key, "a listing carries no key")
		byName[k.Name] = i
	}
	require.Len(t, keys, 3)
	dash := keys[byName["dash-read"]]
	require.Equal(t, "reader", dash.Role)
	require.Equal(t, apikey.Display(reader), dash.Prefix)
	require.NotNil(t, dash.ExpiresAt)
	require.Nil(t, dash.RevokedAt)
	require.NotNil(t, keys[byName["ci-submit"]].RevokedAt)

	table := ok(ctl(admin, "key", "list"))
	require.NotContains(t, table, reader)
	require.Equal(t, []string{"dash-read", "reader", "-", apikey.Display(reader) + "…"}, strings.Fields(lineWith(t, table, "dash-read"))[:4])

	require.Contains(t, ok(ctl(admin, "key", "revoke", "dash-read")), "API key dash-read revoked")
	refusedSoon(reader, "queue", "list")
	r = ctl(admin, "key", "revoke", "nobody")
	require.Equal(t, 3, r.code, "NOT_FOUND: %s", r.stderr)

	// Both revokes are audited, with who asked.
	out = ok(ctl(admin, "audit", "list", "--action", "key.revoke", "-o", "json"))
	var audit []struct{ Actor, Target string }
	require.NoError(t, json.Unmarshal([]byte(out), &audit))
	require.Len(t, audit, 2)
	require.Equal(t, "dash-read", audit[0].Target)
	require.Equal(t, "admin-", audit[0].Actor[:len("admin-")], "the admin key's name")
	require.Equal(t, "ci-submit", audit[1].Target)
	require.True(t, strings.HasPrefix(audit[1].Actor, "cli:"), "jq-server auth names its user: %s", audit[1].Actor)
}

// lineWith returns the only line of out that starts with name.
func lineWith(t *testing.T, out, name string) string {
	t.Helper()
	var found []string
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			found = append(found, line)
		}
	}
	require.Len(t, found, 1, "lines of %q in:\n%s", name, out)
	return found[0]
}

func lastField(line string) string {
	f := strings.Fields(line)
	return f[len(f)-1]
}
