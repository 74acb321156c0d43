package grpc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/queue"
)

// The auth modes (auth.mode).
const (
	AuthToken = "token"
	AuthMTLS  = "mtls"
	AuthNone  = "none"
)

// Principal is an authenticated caller.
type Principal struct {
	// Name identifies the caller in the audit trail and owns the workers it registers: an API
	// key's name, mtls:<certificate identity>, or "anonymous" in auth mode none.
	Name string
	Role apikey.Role
	// Queues limits the caller to these queues; empty allows every queue.
	Queues []string
}

// Allows reports whether the caller's role may call the gRPC method fullMethod
// ("/jq.v1.JobService/CancelJob"): the authorization table, for other front doors.
func (p *Principal) Allows(fullMethod string) bool { return allows(p.Role, fullMethod) }

// MayUse reports whether the caller may act on queue.
func (p *Principal) MayUse(queue string) bool {
	return p.Role == apikey.RoleAdmin || len(p.Queues) == 0 || slices.Contains(p.Queues, queue)
}

// scoped reports whether the caller is limited to some queues.
func (p *Principal) scoped() bool { return p.Role != apikey.RoleAdmin && len(p.Queues) > 0 }

// SeesFencing reports whether the caller may see a job's worker id and attempt (admins and
// workers), for other front doors that show jobs.
func (p *Principal) SeesFencing() bool { return p.seesFencing() }

// seesFencing reports whether the caller may see a job's worker id and attempt, which together
// fence the running attempt: only admins and workers.
func (p *Principal) seesFencing() bool {
	return p.Role == apikey.RoleAdmin || p.Role == apikey.RoleWorker
}

// queueDenied is the error for a caller acting on a queue outside its key's.
func (p *Principal) queueDenied(queue string) error {
	return status.Errorf(codes.PermissionDenied, "%s (role %s) may use only queues %s, not %q",
		p.Name, p.Role, strings.Join(p.Queues, ", "), queue)
}

// queueRequired is the error for a caller limited to some queues asking about every queue.
func (p *Principal) queueRequired() error {
	return status.Errorf(codes.PermissionDenied, "%s (role %s) may use only queues %s: name one of them",
		p.Name, p.Role, strings.Join(p.Queues, ", "))
}

// checkQueues returns PERMISSION_DENIED unless the caller may use every queue given.
func (p *Principal) checkQueues(queues []string) error {
	for _, q := range queues {
		if !p.MayUse(q) {
			return p.queueDenied(q)
		}
	}
	return nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p as the caller, for other front doors of jq-server (the
// console) that call the services in process after authorizing the call themselves: the
// services then scope queues, hide fencing and audit exactly as for a gRPC call.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// nobody is the caller of a handler reached without the auth interceptor: it may do nothing.
var nobody = &Principal{Name: "unauthenticated"}

// caller returns the authenticated caller of the call ctx belongs to.
func caller(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok {
		return p
	}
	return nobody
}

// KeyStore looks API keys up by hash.
type KeyStore interface {
	Authenticate(ctx context.Context, hash [32]byte) (*queue.APIKey, error)
}

var _ KeyStore = (*queue.Store)(nil)

// AuthConfig configures the Authenticator.
type AuthConfig struct {
	// Mode is token, mtls or none.
	Mode string
	// CacheTTL is how long a key's record is trusted before it is read again: a revoked key
	// works for at most this long on a server that saw it recently.
	CacheTTL time.Duration
	// MTLSRoles map certificate identities to roles (mode mtls), first match wins.
	MTLSRoles []config.MTLSRole
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// maxCachedKeys bounds the key cache, which also remembers unknown keys (so that a client
// retrying a wrong key does not cost a query per call).
const maxCachedKeys = 10000

// Authenticator finds out who is calling (an API key, a client certificate) and whether their
// role allows the method. It keeps the keys it read for CacheTTL, so that authorization costs
// no database round trip per call.
type Authenticator struct {
	cfg    AuthConfig
	keys   KeyStore
	logger *slog.Logger

	mu       sync.Mutex
	cache    map[[32]byte]cachedKey
	inflight map[[32]byte]*keyLookup
}

type cachedKey struct {
	key     *queue.APIKey // nil: no such key
	fetched time.Time
}

// keyLookup is one database read of a key that concurrent calls with that key share.
type keyLookup struct {
	done chan struct{}
	key  *queue.APIKey
	err  error
}

// NewAuthenticator returns an Authenticator; keys may be nil unless the mode is token.
func NewAuthenticator(cfg AuthConfig, keys KeyStore, logger *slog.Logger) (*Authenticator, error) {
	switch cfg.Mode {
	case AuthToken:
		if keys == nil {
			return nil, errors.New("auth mode token needs a key store")
		}
	case AuthMTLS, AuthNone:
	default:
		return nil, fmt.Errorf("auth mode %q is not token, mtls or none", cfg.Mode)
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{
		cfg: cfg, keys: keys, logger: logger,
		cache: map[[32]byte]cachedKey{}, inflight: map[[32]byte]*keyLookup{},
	}, nil
}

// Mode is the authenticator's mode.
func (a *Authenticator) Mode() string { return a.cfg.Mode }

// authorize authenticates the call and checks the method against the caller's role. Public
// methods pass without a credential. Every refusal is logged at WARN, without the credential.
func (a *Authenticator) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	if isPublic(fullMethod) {
		return ctx, nil
	}
	p, err := a.authenticate(ctx)
	if err == nil && !allows(p.Role, fullMethod) {
		err = status.Errorf(codes.PermissionDenied, "%s has role %s, which may not call %s", p.Name, p.Role, methodLabel(fullMethod))
		if !HasRule(fullMethod) {
			err = status.Errorf(codes.PermissionDenied, "%s has no authorization rule: refused to everyone", methodLabel(fullMethod))
		}
	}
	if err != nil {
		if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied {
			a.logger.WarnContext(ctx, "call refused", slog.String("method", methodLabel(fullMethod)),
				slog.String("code", c.String()), slog.String("reason", status.Convert(err).Message()),
				slog.String("peer", peerAddr(ctx)))
		}
		return ctx, err
	}
	noteCaller(ctx, p.Name)
	return context.WithValue(ctx, principalKey{}, p), nil
}

func (a *Authenticator) authenticate(ctx context.Context) (*Principal, error) {
	switch a.cfg.Mode {
	case AuthNone:
		return &Principal{Name: "anonymous", Role: apikey.RoleAdmin}, nil
	case AuthMTLS:
		return a.certificate(ctx)
	default:
		return a.token(ctx)
	}
}

// errNoKey is the answer to a call without a key.
var errNoKey = status.Error(codes.Unauthenticated,
	`no API key: send metadata "authorization: Bearer KEY" (jq-ctl and jq-worker: --token, --token-file, JQ_TOKEN or JQ_TOKEN_FILE)`)

func (a *Authenticator) token(ctx context.Context) (*Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return nil, errNoKey
	}
	if len(values) > 1 {
		return nil, status.Error(codes.Unauthenticated, "more than one authorization header")
	}
	key, err := ParseBearer(values[0])
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return a.AuthenticateKey(ctx, key)
}

// AuthenticateKey returns the principal of an API key, through the same cache as the gRPC
// calls, for the other front doors of jq-server (the console). Its errors are gRPC statuses:
// UNAUTHENTICATED for a malformed, unknown, expired or revoked key, UNAVAILABLE when the
// database cannot be asked.
func (a *Authenticator) AuthenticateKey(ctx context.Context, key string) (*Principal, error) {
	if err := apikey.Check(key); err != nil {
		return nil, status.Error(codes.Unauthenticated, "malformed API key: "+err.Error())
	}
	k, err := a.lookup(ctx, apikey.Hash(key))
	if err != nil {
		if errors.Is(err, queue.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			return nil, status.Error(codes.Unavailable, "cannot check the API key now: the database is unavailable; retry")
		}
		if s, ok := status.FromError(err); ok && s.Code() == codes.Canceled {
			return nil, err
		}
		a.logger.ErrorContext(ctx, "API key lookup failed", slog.Any("error", err))
		return nil, status.Error(codes.Internal, "cannot check the API key")
	}
	now := a.cfg.Now()
	switch {
	case k == nil:
		return nil, status.Errorf(codes.Unauthenticated, "unknown API key %s… (never created, or from another jq installation)", apikey.Display(key))
	case !k.RevokedAt.IsZero():
		return nil, status.Errorf(codes.Unauthenticated, "API key %s was revoked at %s", k.Name, k.RevokedAt.UTC().Format(time.RFC3339))
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return nil, status.Errorf(codes.Unauthenticated, "API key %s expired at %s", k.Name, k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return &Principal{Name: k.Name, Role: k.Role, Queues: k.Queues}, nil
}

// ParseBearer returns the key of an authorization header value, "Bearer KEY", after checking
// that it has a key's form (apikey.Check). Its errors never repeat the value.
func ParseBearer(v string) (string, error) {
	scheme, key, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New(`authorization header is not "Bearer KEY"`)
	}
	key = strings.TrimSpace(key)
	if err := apikey.Check(key); err != nil {
		return "", fmt.Errorf("malformed API key: %w", err)
	}
	return key, nil
}

// lookup returns the key with this hash (nil: none), from the cache while it is fresh.
func (a *Authenticator) lookup(ctx context.Context, hash [32]byte) (*queue.APIKey, error) {
	now := a.cfg.Now()
	a.mu.Lock()
	if c, ok := a.cache[hash]; ok && now.Sub(c.fetched) < a.cfg.CacheTTL {
		a.mu.Unlock()
		return c.key, nil
	}
	l, ok := a.inflight[hash]
	if !ok {
		l = &keyLookup{done: make(chan struct{})}
		a.inflight[hash] = l
		go a.fetch(context.WithoutCancel(ctx), hash, l)
	}
	a.mu.Unlock()
	select {
	case <-l.done:
		return l.key, l.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// fetchTimeout bounds a key's database read, which no caller may wait on forever.
const fetchTimeout = 5 * time.Second

func (a *Authenticator) fetch(ctx context.Context, hash [32]byte, l *keyLookup) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	k, err := a.keys.Authenticate(ctx, hash)
	if errors.Is(err, queue.ErrNotFound) {
		k, err = nil, nil
	}
	l.key, l.err = k, err
	a.mu.Lock()
	delete(a.inflight, hash)
	if err == nil {
		if len(a.cache) >= maxCachedKeys {
			a.evict()
		}
		a.cache[hash] = cachedKey{key: k, fetched: a.cfg.Now()}
	}
	a.mu.Unlock()
	close(l.done)
}

// evict makes room in a full cache: stale entries go first, then unknown keys, then all.
func (a *Authenticator) evict() {
	now := a.cfg.Now()
	for h, c := range a.cache {
		if now.Sub(c.fetched) >= a.cfg.CacheTTL {
			delete(a.cache, h)
		}
	}
	if len(a.cache) < maxCachedKeys {
		return
	}
	for h, c := range a.cache {
		if c.key == nil {
			delete(a.cache, h)
		}
	}
	if len(a.cache) >= maxCachedKeys {
		clear(a.cache)
	}
}

// certificate maps the verified client certificate to a role (auth.mtls_roles).
func (a *Authenticator) certificate(ctx context.Context) (*Principal, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no client certificate")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "no verified client certificate (auth mode mtls)")
	}
	ids := identities(info.State.VerifiedChains[0][0])
	for _, m := range a.cfg.MTLSRoles {
		for _, id := range ids {
			if wildcardMatch(m.Identity, id) {
				return &Principal{Name: "mtls:" + id, Role: m.Role, Queues: m.Queues}, nil
			}
		}
	}
	return nil, status.Errorf(codes.PermissionDenied, "client certificate %s maps to no role (auth.mtls_roles)", strings.Join(ids, ", "))
}

// identities are the names a certificate holds: its DNS, URI and email SANs, then its CN.
func identities(c *x509.Certificate) []string {
	ids := slices.Clone(c.DNSNames)
	for _, u := range c.URIs {
		ids = append(ids, u.String())
	}
	ids = append(ids, c.EmailAddresses...)
	if c.Subject.CommonName != "" {
		ids = append(ids, c.Subject.CommonName)
	}
	return ids
}

// wildcardMatch matches s against pattern, where '*' stands for any run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// AuthInterceptors return the unary and stream interceptors that authorize every call.
func (a *Authenticator) AuthInterceptors() (grpclib.UnaryServerInterceptor, grpclib.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpclib.UnaryServerInfo, handler grpclib.UnaryHandler) (any, error) {
		ctx, err := a.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpclib.ServerStream, info *grpclib.StreamServerInfo, handler grpclib.StreamHandler) error {
		ctx, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
	return unary, stream
}
