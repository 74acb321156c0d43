package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jqhq/jq/internal/testleak"
)

func TestMain(m *testing.M) {
	// jq-ctl reads a default key from the user's config folder: the tests must not find the
	// key of a `make run` on this machine, so they look in a folder that does not exist.
	_ = os.Setenv("XDG_CONFIG_HOME", filepath.Join(os.TempDir(), "jq-ctl-test-no-config"))
	testleak.VerifyTestMain(m)
}
