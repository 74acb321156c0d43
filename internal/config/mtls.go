package config

import (
	"fmt"
	"strings"
)

// MTLSRole is one auth.mtls_roles entry: the role (and optionally the queues) that client
// certificates whose identity matches Identity are given.
type MTLSRole struct {
	// Identity is a DNS, URI or email SAN, or a CN; '*' matches any run of characters.
	Identity string
	Role     string
	Queues   []string
}

// Roles are the API key and certificate roles, from most to least powerful.
var Roles = []string{"admin", "submitter", "worker", "reader"}

// ParseMTLSRole parses IDENTITY=ROLE or IDENTITY=ROLE:QUEUE;QUEUE.
func ParseMTLSRole(s string) (MTLSRole, error) {
	ident, rest, ok := strings.Cut(s, "=")
	ident = strings.TrimSpace(ident)
	if !ok || ident == "" {
		return MTLSRole{}, fmt.Errorf("%q: want IDENTITY=ROLE or IDENTITY=ROLE:QUEUE;QUEUE", s)
	}
	role, queues, _ := strings.Cut(rest, ":")
	r := MTLSRole{Identity: ident, Role: strings.TrimSpace(role)}
	if !validRole(r.Role) {
		return MTLSRole{}, fmt.Errorf("%q: role %q is not one of %v", s, r.Role, Roles)
	}
	for q := range strings.SplitSeq(queues, ";") {
		if q = strings.TrimSpace(q); q == "" {
			continue
		}
		if !ValidQueueName(q) {
			return MTLSRole{}, fmt.Errorf("%q: %q is not a valid queue name", s, q)
		}
		r.Queues = append(r.Queues, q)
	}
	return r, nil
}

func validRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}
