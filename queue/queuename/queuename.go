// Package queuename holds the rule for queue names, in one place: the Go validation of every
// binary uses it, and a test checks that the SQL API's CHECK constraint and jq.create_queue use
// the same pattern. It imports nothing of jq, so clients can use it without linking the server.
package queuename

import "regexp"

// Pattern is the shape of a queue name: a letter or digit, then up to 127 letters, digits, '.',
// '_', ':' or '-'.
const Pattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`

// Rule says the pattern in words, for error messages.
const Rule = "letters, digits, . _ : -, starting with a letter or digit; at most 128"

var re = regexp.MustCompile(Pattern)

// Valid reports whether s is a valid queue name.
func Valid(s string) bool { return re.MatchString(s) }
