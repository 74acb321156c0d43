package config

import (
	"fmt"
	"strings"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/queue/queuename"
)

// MTLSRole is one auth.mtls_roles entry: the role (and optionally the queues) that client
// certificates whose identity matches Identity are given.
type MTLSRole struct {
	// Identity is a DNS, URI or email SAN, or a CN; '*' matches any run of characters.
	Identity string
	Role     apikey.Role
	Queues   []string
}

// ParseMTLSRole parses IDENTITY=ROLE or IDENTITY=ROLE:QUEUE;QUEUE.
func ParseMTLSRole(s string) (MTLSRole, error) {
	ident, rest, ok := strings.Cut(s, "=")
	ident = strings.TrimSpace(ident)
	if !ok || ident == "" {
		return MTLSRole{}, fmt.Errorf("%q: want IDENTITY=ROLE or IDENTITY=ROLE:QUEUE;QUEUE", s)
	}
	role, queues, _ := strings.Cut(rest, ":")
	parsed, err := apikey.ParseRole(strings.TrimSpace(role))
	if err != nil {
		return MTLSRole{}, fmt.Errorf("%q: %w", s, err)
	}
	r := MTLSRole{Identity: ident, Role: parsed}
	for q := range strings.SplitSeq(queues, ";") {
		if q = strings.TrimSpace(q); q == "" {
			continue
		}
		if !queuename.Valid(q) {
			return MTLSRole{}, fmt.Errorf("%q: %q is not a valid queue name", s, q)
		}
		r.Queues = append(r.Queues, q)
	}
	return r, nil
}
