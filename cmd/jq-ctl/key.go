package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// keyView is an API key in --output json and yaml (never the key itself, but at creation).
type keyView struct {
	Key        string   `json:"key,omitempty"`
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Queues     []string `json:"queues"`
	Prefix     string   `json:"prefix"`
	CreatedAt  *string  `json:"created_at"`
	CreatedBy  string   `json:"created_by"`
	ExpiresAt  *string  `json:"expires_at"`
	RevokedAt  *string  `json:"revoked_at"`
	RevokedBy  string   `json:"revoked_by,omitempty"`
	LastUsedAt *string  `json:"last_used_at"`
}

func newKeyView(k *jqv1.APIKey) keyView {
	queues := k.GetQueues()
	if queues == nil {
		queues = []string{}
	}
	return keyView{
		Name: k.GetName(), Role: k.GetRole(), Queues: queues, Prefix: k.GetPrefix(),
		CreatedAt: rfc3339(k.GetCreatedAt()), CreatedBy: k.GetCreatedBy(), ExpiresAt: rfc3339(k.GetExpiresAt()),
		RevokedAt: rfc3339(k.GetRevokedAt()), RevokedBy: k.GetRevokedBy(), LastUsedAt: rfc3339(k.GetLastUsedAt()),
	}
}

// keyCreateCommand is `jq-ctl key create`.
type keyCreateCommand struct {
	app     *app
	role    string
	queues  string
	expires time.Duration
}

func (c *keyCreateCommand) spec() spec {
	return spec{
		name:  "create",
		args:  "NAME",
		short: "create an API key and print it, once (admin only)",
		long: `Prints the new key alone on stdout (table output): jq-server keeps only its hash, so store it
now, e.g. in your secret manager. NAME (letters, digits and . _ @ -) identifies the key in the
audit trail for good: it is never reused, even after a revoke. Roles: admin (everything),
submitter (submit and manage jobs), worker (run jobs), reader (read-only).`,
		examples: []string{
			"jq-ctl key create ci-deploy --role submitter --queues deploys",
			"jq-ctl key create worker-pool-a --role worker --expires 2160h > worker.key",
		},
		flags: func(f *flagSet) {
			f.String(&c.role, "role", "ROLE", "", "admin, submitter, worker or reader (required)")
			f.String(&c.queues, "queues", "Q1,Q2", "", "limit the key to these queues (default: every queue)")
			f.Duration(&c.expires, "expires", "DURATION", 0, "the key stops working after this long (e.g. 720h); 0: never", "0")
		},
	}
}

func (c *keyCreateCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("key create", args, "NAME"); err != nil {
		return err
	}
	if c.role == "" {
		return usagef("key create", "--role is required: admin, submitter, worker or reader")
	}
	if c.expires < 0 {
		return failf(exitInvalid, "--expires %s is negative", c.expires)
	}
	req := &jqv1.CreateAPIKeyRequest{Name: args[0], Role: c.role, Queues: splitList(c.queues)}
	if c.expires > 0 {
		req.ExpiresIn = durationpb.New(c.expires)
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.CreateAPIKey, req)
	if err != nil {
		return err
	}
	v := newKeyView(resp.GetInfo())
	v.Key = resp.GetKey()
	return c.app.emit(v, func(w io.Writer) {
		fmt.Fprintln(w, resp.GetKey())
	})
}

// keyListCommand is `jq-ctl key list`.
type keyListCommand struct{ app *app }

func (c *keyListCommand) spec() spec {
	return spec{
		name:     "list",
		short:    "list API keys: role, queues, expiry, last use (admin only; never the keys)",
		examples: []string{"jq-ctl key list", "jq-ctl key list -o json"},
	}
}

func (c *keyListCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("key list", args); err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.ListAPIKeys, &jqv1.ListAPIKeysRequest{})
	if err != nil {
		return err
	}
	views := make([]keyView, 0, len(resp.GetKeys()))
	for _, k := range resp.GetKeys() {
		views = append(views, newKeyView(k))
	}
	return c.app.emit(views, func(w io.Writer) {
		now := c.app.now()
		row(w, "NAME", "ROLE", "QUEUES", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE")
		for _, k := range resp.GetKeys() {
			state := "active"
			switch {
			case k.GetRevokedAt() != nil:
				state = "revoked by " + k.GetRevokedBy()
			case k.GetExpiresAt() != nil && !tsTime(k.GetExpiresAt()).After(now):
				state = "expired"
			}
			expires := "never"
			if k.GetExpiresAt() != nil {
				expires = tsTime(k.GetExpiresAt()).UTC().Format(time.RFC3339)
			}
			row(w, k.GetName(), k.GetRole(), dash(strings.Join(k.GetQueues(), ",")), k.GetPrefix()+"…",
				ago(tsTime(k.GetCreatedAt()), now), expires, ago(tsTime(k.GetLastUsedAt()), now), state)
		}
	})
}

// keyRevokeCommand is `jq-ctl key revoke`.
type keyRevokeCommand struct{ app *app }

func (c *keyRevokeCommand) spec() spec {
	return spec{
		name:  "revoke",
		args:  "NAME",
		short: "revoke an API key (admin only); servers refuse it within auth.key_cache_ttl",
		examples: []string{
			"jq-ctl key revoke ci-deploy",
		},
	}
}

func (c *keyRevokeCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("key revoke", args, "NAME"); err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.RevokeAPIKey, &jqv1.RevokeAPIKeyRequest{Name: args[0]})
	if err != nil {
		return err
	}
	return c.app.emit(newKeyView(resp.GetInfo()), func(w io.Writer) {
		fmt.Fprintf(w, "API key %s revoked\n", resp.GetInfo().GetName())
	})
}

// auditListCommand is `jq-ctl audit list`.
type auditListCommand struct {
	app    *app
	action string
	limit  int
}

func (c *auditListCommand) spec() spec {
	return spec{
		name:  "list",
		short: "list operator actions on queues, workers and keys, newest first (admin only)",
		long: `Actions: queue.create, queue.delete, worker.drain, worker.shutdown, key.create, key.revoke.
Cancels and retries of jobs are in the job's own log (jq-ctl job logs), with their actor.`,
		examples: []string{"jq-ctl audit list", "jq-ctl audit list --action key.revoke -o json"},
		flags: func(f *flagSet) {
			f.String(&c.action, "action", "ACTION", "", "only this action")
			f.Int(&c.limit, "limit", "N", 50, "most entries to show (at most 1000)")
		},
	}
}

func (c *auditListCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("audit list", args); err != nil {
		return err
	}
	if c.limit < 1 || c.limit > 1000 {
		return failf(exitInvalid, "--limit %d is outside 1-1000", c.limit)
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.admin.ListAuditEvents, &jqv1.ListAuditEventsRequest{Action: c.action, Limit: int32(c.limit)})
	if err != nil {
		return err
	}
	type auditView struct {
		ID         int64   `json:"id"`
		OccurredAt *string `json:"occurred_at"`
		Actor      string  `json:"actor"`
		Action     string  `json:"action"`
		Target     string  `json:"target"`
		Detail     any     `json:"detail"`
	}
	views := make([]auditView, 0, len(resp.GetEvents()))
	for _, e := range resp.GetEvents() {
		views = append(views, auditView{ID: e.GetId(), OccurredAt: rfc3339(e.GetOccurredAt()), Actor: e.GetActor(),
			Action: e.GetAction(), Target: e.GetTarget(), Detail: payloadValue([]byte(e.GetDetail()))})
	}
	return c.app.emit(views, func(w io.Writer) {
		row(w, "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL")
		for _, e := range resp.GetEvents() {
			row(w, tsTime(e.GetOccurredAt()).UTC().Format(time.RFC3339), e.GetActor(), e.GetAction(), e.GetTarget(),
				dash(strings.TrimSpace(strings.Trim(e.GetDetail(), "{}"))))
		}
	})
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
