package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

const (
	// sessionIdle ends a sign-in nobody used for this long (an open page refreshing itself
	// keeps it alive).
	sessionIdle = time.Hour
	// maxSessions bounds the memory sessions take; past it the least recently used goes.
	maxSessions = 10000
	// cookieName is the session cookie's name.
	cookieName = "jq_console"
)

// session is one sign-in. It lives in this process's memory only: the cookie carries a random
// id, never the key, and a stolen cookie dies with the session (sign-out, expiry, restart).
type session struct {
	// key is the API key signed in with, kept to check it again on each request (a revoked
	// key ends the session within auth.key_cache_ttl). Empty in auth mode none.
	key string
	// csrf is the token every form of this session carries.
	csrf    string
	created time.Time
	seen    time.Time
	// flash is a message shown once, on the next page (the outcome of an action).
	flash string
}

// sessions are the sign-ins of this process, by the SHA-256 of their cookie value (so the map
// holds no usable cookie, and lookups compare digests, not secrets).
type sessions struct {
	ttl, idle time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessions(ttl, idle time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, idle: idle, now: now, m: map[[32]byte]*session{}}
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for key and returns its cookie value.
func (s *sessions) create(key string) (string, *session) {
	id := randomToken()
	now := s.now()
	sess := &session{key: key, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.sweep(now)
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns the live session of a cookie value, or nil, and marks it used.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	h := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[h]
	if !ok {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.m, h)
		return nil
	}
	sess.seen = now
	return sess
}

// delete ends the session of a cookie value.
func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// takeFlash returns the session's message once.
func (s *sessions) takeFlash(sess *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := sess.flash
	sess.flash = ""
	return f
}

// setFlash leaves a message for the session's next page.
func (s *sessions) setFlash(sess *session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.flash = msg
}

func (s *sessions) expired(sess *session, now time.Time) bool {
	return now.Sub(sess.created) >= s.ttl || now.Sub(sess.seen) >= s.idle
}

// sweep drops expired sessions and, if the map is still full, the least recently used one.
// Called with mu held.
func (s *sessions) sweep(now time.Time) {
	var oldest [32]byte
	var oldestSeen time.Time
	for h, sess := range s.m {
		if s.expired(sess, now) {
			delete(s.m, h)
			continue
		}
		if oldestSeen.IsZero() || sess.seen.Before(oldestSeen) {
			oldest, oldestSeen = h, sess.seen
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldest)
	}
}
