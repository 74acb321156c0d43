// Package testbin builds the jq binaries once per test process, for tests that run them as
// real processes.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Version is the version the test binaries are stamped with.
const Version = "v0.0.0-test"

var (
	once  sync.Once
	dir   string
	built = map[string]error{}
	mu    sync.Mutex
)

// Path builds ./cmd/<name> (at most once per process, with the race detector when the test
// binary has it) and returns the binary's path.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	once.Do(func() {
		var err error
		dir, err = os.MkdirTemp("", "jq-testbin-")
		if err != nil {
			panic(err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	out := filepath.Join(dir, name)
	err, ok := built[name]
	if !ok {
		args := []string{"build", "-o", out,
			"-ldflags", "-X github.com/jqhq/jq/internal/buildinfo.Version=" + Version +
				" -X github.com/jqhq/jq/internal/buildinfo.Commit=testcommit"}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/"+name)
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		var outBytes []byte
		outBytes, err = cmd.CombinedOutput()
		if err != nil {
			tb.Logf("go build %s: %s", name, outBytes)
		}
		built[name] = err
	}
	if err != nil {
		tb.Fatalf("build %s: %v", name, err)
	}
	return out
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
