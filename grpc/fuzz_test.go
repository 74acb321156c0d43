package grpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/logging"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/queue/queuename"
)

// FuzzParseBearer: whatever a client sends as its authorization header, ParseBearer returns a
// well-formed key or an error, and the error never repeats what was sent.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer " + apikey.Generate(), "bearer " + apikey.Generate(), "Bearer", "Basic dXNlcjpwYXNz", "", " Bearer  jqk_x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		key, err := ParseBearer(header)
		if err != nil {
			if len(header) > 8 && strings.Contains(err.Error(), header) {
				t.Fatalf("the error repeats the header: %v", err)
			}
			return
		}
		if apikey.Check(key) != nil {
			t.Fatalf("accepted %q, which is not a key", key)
		}
	})
}

// FuzzAuthenticate: any metadata is UNAUTHENTICATED or a principal, never a panic, and only a
// key the store knows passes.
func FuzzAuthenticate(f *testing.F) {
	known := apikey.Generate()
	f.Add("Bearer " + known)
	f.Add("Bearer " + apikey.Generate())
	f.Add("Bearer jqk_")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := NewAuthenticator(AuthConfig{Mode: AuthToken}, stubKeys{known: apikey.Hash(known)}, logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", header))
		p, err := a.authenticate(ctx)
		if err != nil {
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("want UNAUTHENTICATED, got %v", err)
			}
			return
		}
		if p.Name != "known" {
			t.Fatalf("header %q authenticated as %q", header, p.Name)
		}
	})
}

type stubKeys struct{ known [32]byte }

func (s stubKeys) Authenticate(_ context.Context, hash [32]byte) (*queue.APIKey, error) {
	if hash == s.known {
		return &queue.APIKey{Name: "known", Role: apikey.RoleSubmitter}, nil
	}
	return nil, &queue.Error{Kind: queue.ErrNotFound, Message: "not found"}
}

// FuzzSubmitJob: SubmitJob hands the store only requests that are valid, and answers any other
// with INVALID_ARGUMENT (or PERMISSION_DENIED for a queue outside the caller's), never a panic.
func FuzzSubmitJob(f *testing.F) {
	f.Add("default", []byte(`{"command": ["echo"]}`), int32(0), int32(-1), "key")
	f.Add("", []byte(`{}`), int32(10), int32(2000), "")
	f.Add("a b", []byte(`not json`), int32(-1), int32(3), strings.Repeat("k", 300))
	f.Add("other", []byte("{\"\\u0000\": 1}"), int32(9), int32(0), "\x00")
	f.Fuzz(func(t *testing.T, queueName string, payload []byte, priority, maxRetries int32, key string) {
		store := &recordingStore{}
		s := NewJobService(store, logging.Discard(), JobServiceConfig{MaxPayloadBytes: 1 << 10})
		ctx := context.WithValue(context.Background(), principalKey{}, &Principal{Name: "t", Role: apikey.RoleSubmitter, Queues: []string{"default", "a b"}})
		req := &jqv1.SubmitJobRequest{QueueName: queueName, Payload: payload, Priority: priority, IdempotencyKey: key}
		if maxRetries >= 0 {
			req.MaxRetries = &maxRetries
		}
		_, err := s.SubmitJob(ctx, req)
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.PermissionDenied {
				t.Fatalf("want INVALID_ARGUMENT or PERMISSION_DENIED, got %v", err)
			}
			if store.got != nil {
				t.Fatal("a refused submit reached the store")
			}
			return
		}
		p := store.got
		switch {
		case p == nil:
			t.Fatal("an accepted submit did not reach the store")
		case !queuename.Valid(p.Queue) || p.Queue != "default":
			t.Fatalf("queue %q reached the store", p.Queue)
		case p.Priority < 0 || p.Priority > 9:
			t.Fatalf("priority %d reached the store", p.Priority)
		case len(p.Payload) == 0 || len(p.Payload) > 1<<10 || !json.Valid(p.Payload):
			t.Fatalf("payload %q reached the store", p.Payload)
		case p.MaxRetries != nil && (*p.MaxRetries < 0 || *p.MaxRetries > 1000):
			t.Fatalf("max_retries %d reached the store", *p.MaxRetries)
		case len(p.IdempotencyKey) > maxIdempotencyKeyLen:
			t.Fatalf("a %d-byte idempotency key reached the store", len(p.IdempotencyKey))
		}
	})
}

// recordingStore is a JobStore that records the submit it is given.
type recordingStore struct {
	JobStore
	got *queue.SubmitParams
}

func (s *recordingStore) Submit(_ context.Context, p queue.SubmitParams) (queue.SubmitResult, error) {
	s.got = &p
	return queue.SubmitResult{ID: uuid.New(), Inserted: true}, nil
}
