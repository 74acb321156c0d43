package grpc

import (
	"context"
	"encoding/base64"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jqhq/jq/internal/apikey"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// CreateAPIKey makes a key, stores its hash and returns the key, once.
func (s *AdminService) CreateAPIKey(ctx context.Context, req *jqv1.CreateAPIKeyRequest) (*jqv1.CreateAPIKeyResponse, error) {
	role, err := apikey.ParseRole(req.GetRole())
	if err != nil {
		return nil, invalid("%v", err)
	}
	for _, q := range req.GetQueues() {
		if err := validateQueueName("queues", q); err != nil {
			return nil, err
		}
	}
	var expires time.Time
	if d := req.GetExpiresIn(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
			return nil, invalid("expires_in must be a positive duration")
		}
		if d.AsDuration() > 0 {
			expires = time.Now().Add(d.AsDuration())
		}
	}
	key := apikey.Generate()
	k, err := s.store.CreateAPIKey(ctx, queue.CreateAPIKeyParams{
		Name: req.GetName(), Role: role, Queues: req.GetQueues(), Hash: apikey.Hash(key),
		Prefix: apikey.Display(key), ExpiresAt: expires, Actor: caller(ctx).Name,
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.logger.InfoContext(ctx, "API key created", "name", k.Name, "role", string(k.Role), "by", caller(ctx).Name)
	return &jqv1.CreateAPIKeyResponse{Key: key, Info: apiKeyToProto(k)}, nil
}

// ListAPIKeys lists every key without the keys themselves.
func (s *AdminService) ListAPIKeys(ctx context.Context, _ *jqv1.ListAPIKeysRequest) (*jqv1.ListAPIKeysResponse, error) {
	keys, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.ListAPIKeysResponse{}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, apiKeyToProto(k))
	}
	return resp, nil
}

// RevokeAPIKey revokes a key.
func (s *AdminService) RevokeAPIKey(ctx context.Context, req *jqv1.RevokeAPIKeyRequest) (*jqv1.RevokeAPIKeyResponse, error) {
	if req.GetName() == "" {
		return nil, invalid("name is required")
	}
	k, err := s.store.RevokeAPIKey(ctx, req.GetName(), caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.logger.InfoContext(ctx, "API key revoked", "name", k.Name, "by", caller(ctx).Name)
	return &jqv1.RevokeAPIKeyResponse{Info: apiKeyToProto(k)}, nil
}

const (
	defaultAuditLimit = 50
	maxAuditLimit     = 1000
)

// ListAuditEvents lists operator actions, newest first, a page at a time.
func (s *AdminService) ListAuditEvents(ctx context.Context, req *jqv1.ListAuditEventsRequest) (*jqv1.ListAuditEventsResponse, error) {
	limit := int(req.GetLimit())
	switch {
	case limit < 0 || limit > maxAuditLimit:
		return nil, invalid("limit %d is outside 0-%d", limit, maxAuditLimit)
	case limit == 0:
		limit = defaultAuditLimit
	}
	p := queue.ListAuditParams{Action: req.GetAction(), Limit: limit + 1}
	if tok := req.GetPageToken(); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return nil, invalid("page_token is malformed")
		}
		if p.Before, err = strconv.ParseInt(string(raw), 10, 64); err != nil || p.Before <= 0 {
			return nil, invalid("page_token is malformed")
		}
	}
	entries, err := s.store.ListAudit(ctx, p)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.ListAuditEventsResponse{}
	if len(entries) > limit {
		entries = entries[:limit]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(entries[limit-1].ID, 10)))
	}
	for _, e := range entries {
		resp.Events = append(resp.Events, &jqv1.AuditEvent{
			Id: e.ID, OccurredAt: timestamppb.New(e.OccurredAt), Actor: e.Actor, Action: e.Action,
			Target: e.Target, Detail: string(e.Detail),
		})
	}
	return resp, nil
}

func apiKeyToProto(k *queue.APIKey) *jqv1.APIKey {
	return &jqv1.APIKey{
		Name: k.Name, Role: string(k.Role), Queues: k.Queues, Prefix: k.Prefix,
		CreatedAt: ts(k.CreatedAt), CreatedBy: k.CreatedBy, ExpiresAt: ts(k.ExpiresAt),
		RevokedAt: ts(k.RevokedAt), RevokedBy: k.RevokedBy, LastUsedAt: ts(k.LastUsed),
	}
}
