package redis_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(settledM{m})
}

// settledM runs the tests, then gives the dial probes of closed clients time to notice the close.
// go-redis starts a probe when a pool has failed every dial; it sleeps a second between dials and
// checks for a close only then, longer than goleak waits. A probe that outlives the wait belongs to
// a client never closed, and goleak reports it.
type settledM struct{ m *testing.M }

func (s settledM) Run() int {
	code := s.m.Run()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && dialProbeRunning(); {
		time.Sleep(50 * time.Millisecond)
	}
	return code
}

func dialProbeRunning() bool {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return bytes.Contains(buf[:n], []byte("(*ConnPool).tryDial"))
}
