package health

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Component is a dependency of a process and how to check it. A process describes its
// dependencies once, as a list of Components, and every report of them uses that list:
// readiness (Health.AddComponent), a status API and a start-up dry run (Component.Probe).
type Component struct {
	// Name names it in every report: postgresql, redis, kafka.
	Name string
	// Configured is false for an optional dependency that the configuration leaves out: it is
	// reported as not configured and never checked.
	Configured bool
	// Optional marks a dependency the process works without (Kafka: events wait, jobs run):
	// its failure degrades readiness instead of failing it.
	Optional bool
	// Target says where the dependency is, for an operator: a URL with its password redacted,
	// host:port. It must carry no secret.
	Target string
	// Check returns the component's version ("" when it has none to tell), or why it is
	// unusable. It should return soon after ctx is done. Nil when not configured.
	Check func(ctx context.Context) (version string, err error)
}

// Result is what one check of a Component found.
type Result struct {
	// Version is what the check returned; empty on an error.
	Version string
	// Err is why the component is unusable, or nil.
	Err error
	// Latency is how long the check took.
	Latency time.Duration
}

// errNoCheck is the result of probing a component that has no check (it is not configured).
var errNoCheck = errors.New("not configured")

// Probe checks c once, under timeout, and times the check. A check that ignores its context
// is left to finish on its own, and a panicking check fails rather than crash the process.
func (c Component) Probe(ctx context.Context, timeout time.Duration) Result {
	if c.Check == nil {
		return Result{Err: errNoCheck}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	version, err := call(ctx, c.Check)
	if err != nil {
		version = ""
	}
	return Result{Version: version, Err: err, Latency: time.Since(start)}
}

// AddComponent registers the check of c under c.Name, as optional when c is. A component that
// is not configured is left out: there is nothing to check.
func (h *Health) AddComponent(c Component) {
	if !c.Configured || c.Check == nil {
		return
	}
	check := func(ctx context.Context) error {
		_, err := c.Check(ctx)
		return err
	}
	if c.Optional {
		h.AddOptional(c.Name, check)
	} else {
		h.Add(c.Name, check)
	}
}

// call runs check and returns its answer, or ctx's error as soon as ctx is done: a check that
// ignores ctx is left to finish on its own (its goroutine writes to a buffered channel and
// exits).
func call(ctx context.Context, check func(ctx context.Context) (string, error)) (string, error) {
	type answer struct {
		version string
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := safeCall(ctx, check)
		done <- answer{v, err}
	}()
	select {
	case a := <-done:
		return a.version, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// safeCall turns a panicking check into a failed one rather than a crashed process.
func safeCall(ctx context.Context, check func(ctx context.Context) (string, error)) (v string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	return check(ctx)
}
