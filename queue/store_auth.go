package queue

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jqhq/jq/internal/apikey"
)

// APIKey is a stored API key: never the key itself, only its SHA-256 and its first characters.
type APIKey struct {
	Name      string
	Role      apikey.Role
	Queues    []string // empty: every queue
	Hash      []byte
	Prefix    string
	CreatedAt time.Time
	CreatedBy string
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: not revoked
	RevokedBy string
	LastUsed  time.Time // zero: never used
}

const apiKeyColumns = `name, role::text, queues, key_hash, key_prefix, created_at, created_by, expires_at,
	revoked_at, coalesce(revoked_by, ''), last_used_at`

func scanAPIKey(row pgx.Row) (*APIKey, error) {
	var (
		k                        APIKey
		role                     string
		expires, revoked, usedAt pgtype.Timestamptz
	)
	err := row.Scan(&k.Name, &role, &k.Queues, &k.Hash, &k.Prefix, &k.CreatedAt, &k.CreatedBy, &expires,
		&revoked, &k.RevokedBy, &usedAt)
	k.Role, k.ExpiresAt, k.RevokedAt, k.LastUsed = apikey.Role(role), expires.Time, revoked.Time, usedAt.Time
	return &k, err
}

func (s *Store) queryAPIKey(ctx context.Context, name, sql string, args ...any) (*APIKey, error) {
	var k *APIKey
	err := s.observe(ctx, name, func(ctx context.Context) error {
		var err error
		k, err = scanAPIKey(s.pool.QueryRow(ctx, sql, args...))
		return err
	})
	return k, err
}

// CreateAPIKeyParams describe a new key. The caller generates the key (apikey.Generate) and
// passes what the database keeps of it.
type CreateAPIKeyParams struct {
	Name      string
	Role      apikey.Role
	Queues    []string
	Hash      [32]byte
	Prefix    string
	ExpiresAt time.Time // zero: never
	Actor     string
}

// CreateAPIKey records a key (jq.create_api_key), audited with p.Actor; ErrExists when the
// name is taken.
func (s *Store) CreateAPIKey(ctx context.Context, p CreateAPIKeyParams) (*APIKey, error) {
	queues := p.Queues
	if queues == nil {
		queues = []string{}
	}
	expires := pgtype.Timestamptz{Time: p.ExpiresAt, Valid: !p.ExpiresAt.IsZero()}
	return s.queryAPIKey(ctx, "create_api_key", `SELECT `+apiKeyColumns+`
		FROM jq.create_api_key($1, $2::jq.api_key_role, $3, $4, $5, $6, $7)`,
		p.Name, string(p.Role), p.Hash[:], p.Prefix, queues, expires, p.Actor)
}

// Authenticate returns the key with this hash, revoked and expired ones included
// (jq.authenticate); ErrNotFound when there is none.
func (s *Store) Authenticate(ctx context.Context, hash [32]byte) (*APIKey, error) {
	return s.queryAPIKey(ctx, "authenticate", `SELECT `+apiKeyColumns+` FROM jq.authenticate($1)`, hash[:])
}

// RevokeAPIKey revokes the key named name (jq.revoke_api_key), audited with actor.
func (s *Store) RevokeAPIKey(ctx context.Context, name, actor string) (*APIKey, error) {
	return s.queryAPIKey(ctx, "revoke_api_key", `SELECT `+apiKeyColumns+` FROM jq.revoke_api_key($1, $2)`, name, actor)
}

// ListAPIKeys lists every key by name, revoked ones included.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*APIKey, error) {
	var keys []*APIKey
	err := s.observe(ctx, "list_api_keys", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM jq.api_keys ORDER BY name`)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*APIKey, error) { return scanAPIKey(r) })
		return err
	})
	return keys, err
}

// AuditEntry is one row of jq.audit_log.
type AuditEntry struct {
	ID         int64
	OccurredAt time.Time
	Actor      string
	Action     string
	Target     string
	Detail     json.RawMessage
}

// ListAuditParams select audit entries, newest first.
type ListAuditParams struct {
	// Action, when set, keeps the entries of one action ("queue.delete", "key.create"...).
	Action string
	// Before, when set, keeps the entries older than this id (the next page).
	Before int64
	Limit  int
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, p ListAuditParams) ([]*AuditEntry, error) {
	var out []*AuditEntry
	err := s.observe(ctx, "list_audit", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT id, occurred_at, actor, action, target, detail FROM jq.audit_log
			WHERE ($1 = '' OR action = $1) AND ($2 = 0 OR id < $2)
			ORDER BY id DESC LIMIT $3`, p.Action, p.Before, p.Limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*AuditEntry, error) {
			var e AuditEntry
			err := r.Scan(&e.ID, &e.OccurredAt, &e.Actor, &e.Action, &e.Target, &e.Detail)
			return &e, err
		})
		return err
	})
	return out, err
}
