// Package apikey makes, checks and hashes jq's API keys, and names the roles a key (or a client
// certificate) may have. It is a leaf: the server, the store and the configuration use it.
//
// A key is "jqk_", 43 base62 characters of randomness (256 bits) and a 6-character base62
// CRC-32 of what precedes it, 53 characters in all. The prefix lets secret scanners find leaked
// keys; the checksum lets them (and the server) tell a key from a random string without a
// database lookup.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math/big"
	"slices"
	"strings"
)

// Prefix starts every key.
const Prefix = "jqk_"

const (
	randomLen   = 43 // 62^43 > 2^256: 43 base62 digits hold 256 random bits
	checksumLen = 6  // 62^6 > 2^32
	// Len is the length of a key.
	Len = len(Prefix) + randomLen + checksumLen
	// DisplayLen is how much of a key listings show: the prefix and 8 random characters, enough
	// to tell keys apart and nothing that helps guess one.
	DisplayLen = len(Prefix) + 8
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Role is what a key (or a certificate identity) may do; see docs/security.md.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin     Role = "admin"
	RoleSubmitter Role = "submitter"
	RoleWorker    Role = "worker"
	RoleReader    Role = "reader"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleSubmitter, RoleWorker, RoleReader}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles, r) {
		return r, nil
	}
	return "", errors.New("role " + quote(s) + " is not one of admin, submitter, worker, reader")
}

// Generate returns a new random key.
func Generate() string {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails (it crashes the program instead)
	body := Prefix + base62(new(big.Int).SetBytes(buf), randomLen)
	return body + checksum(body)
}

// ErrMalformed is returned by Check for a string that is not a jq API key.
var ErrMalformed = errors.New("not a jq API key (want jqk_ followed by 49 letters and digits)")

// Check reports whether key has a key's form and checksum, without any lookup.
func Check(key string) error {
	if len(key) != Len || !strings.HasPrefix(key, Prefix) {
		return ErrMalformed
	}
	for i := len(Prefix); i < len(key); i++ {
		if strings.IndexByte(alphabet, key[i]) < 0 {
			return ErrMalformed
		}
	}
	body := key[:len(key)-checksumLen]
	if checksum(body) != key[len(body):] {
		return errors.New("not a jq API key: its checksum does not match (a typo, or a truncated key)")
	}
	return nil
}

// Hash is what the database keeps of a key.
func Hash(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// Display is the part of a key that listings show.
func Display(key string) string {
	if len(key) < DisplayLen {
		return key
	}
	return key[:DisplayLen]
}

func checksum(body string) string {
	return base62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), checksumLen)
}

// base62 writes n in base 62, left-padded with zeros to width digits.
func base62(n *big.Int, width int) string {
	out := make([]byte, width)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	return string(out)
}

func quote(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return `"` + s + `"`
}
