// Package safetext turns whatever bytes a program wrote into text every layer accepts: a
// protobuf string (valid UTF-8) and a PostgreSQL text value (valid UTF-8 without NUL). The
// worker and the server both pass error text through it, so no byte a job writes can make a
// report fail to encode or to store.
package safetext

import (
	"strings"
	"unicode/utf8"
)

// Marker ends a text that was cut.
const Marker = "\n…(truncated)"

// Clean returns s with every invalid UTF-8 byte and every NUL replaced by U+FFFD, cut to at
// most max bytes (0: no limit) on a character boundary, with Marker at the end when it was cut.
func Clean(s string, max int) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return cut(s, max)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || (r == utf8.RuneError && size <= 1) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return cut(b.String(), max)
}

// cut shortens valid text to max bytes on a character boundary, marking the cut.
func cut(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	n := max - len(Marker)
	if n <= 0 {
		n = max
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n]
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + Marker
}
