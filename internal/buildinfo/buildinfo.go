// Package buildinfo holds the version of the running binary, injected at link time:
//
//	go build -ldflags "-X github.com/jqhq/jq/internal/buildinfo.Version=v1.2.3 \
//	  -X github.com/jqhq/jq/internal/buildinfo.Commit=abc123 \
//	  -X github.com/jqhq/jq/internal/buildinfo.Date=2026-11-27T10:00:00Z"
//
// The Makefile sets all three.
package buildinfo

import (
	"fmt"
	"runtime"
)

// Set by -ldflags; the defaults describe a plain `go build`.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// String is the one-line version of a binary: "jq-server v1.2.3 (commit abc123, built ..., go1.26.8)".
func String(binary string) string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s)", binary, Version, Commit, Date, runtime.Version())
}
