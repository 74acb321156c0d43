package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ExecPayload is the payload of a subprocess job.
type ExecPayload struct {
	// Command is the program and its arguments; it is run without a shell.
	Command []string `json:"command"`
	// Env adds to (or overrides) the worker's environment, whose JQ_* variables are removed.
	Env map[string]string `json:"env,omitempty"`
	// TimeoutSeconds bounds the run; 0 takes the queue's TTL, else the worker's default.
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
	// GraceSeconds is how long the process group has between SIGTERM and SIGKILL when the job
	// is cancelled; 0 takes the worker's worker.cancel_grace.
	GraceSeconds float64 `json:"grace_seconds,omitempty"`
}

// ParseExecPayload reads and checks a subprocess payload; every error says what is wrong.
func ParseExecPayload(payload []byte) (ExecPayload, error) {
	var p ExecPayload
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	if err := dec.Decode(&p); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return p, fmt.Errorf("payload field %q: want %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return p, fmt.Errorf("payload is not a JSON object: %w", err)
	}
	switch {
	case len(p.Command) == 0:
		return p, errors.New(`payload has no "command": want {"command": ["program", "arg", ...]}`)
	case p.Command[0] == "":
		return p, errors.New(`payload "command": the program name is empty`)
	case p.TimeoutSeconds < 0:
		return p, fmt.Errorf(`payload "timeout_seconds" %v is negative`, p.TimeoutSeconds)
	case p.GraceSeconds < 0:
		return p, fmt.Errorf(`payload "grace_seconds" %v is negative`, p.GraceSeconds)
	}
	return p, nil
}

// SnoozeExitCode is the exit status (EX_TEMPFAIL) by which a subprocess asks to run again
// later without using up a retry. The last line of its stdout may give the delay, as a
// duration ("90s", "5m") or a number of seconds; else it is DefaultSnooze.
const SnoozeExitCode = 75

// DefaultSnooze is the delay of a subprocess that exits SnoozeExitCode without saying one.
const DefaultSnooze = time.Minute

// Exec runs subprocess jobs: payload {"command": ["prog", "arg", ...], "env": {...},
// "timeout_seconds": n, "grace_seconds": n}. The command runs without a shell in its own
// process group; its stdout is the result and its stderr the error text, each capped at
// MaxOutputBytes. A line "::progress 42 copying files" on its stdout reports its progress
// (ProgressPrefix) and is left out of the result. Exit status 0 succeeds, SnoozeExitCode snoozes, any other status, a signal
// or the timeout fail the attempt. At the timeout, or when the worker is killed, the whole
// process group gets SIGKILL; when an operator cancels the job, it gets SIGTERM and, if its
// leader still runs after the grace, SIGKILL. A malformed payload, and one its Guard refuses,
// fail permanently (they could never run).
type Exec struct {
	// MaxOutputBytes caps stdout and stderr, each (default 1 MiB).
	MaxOutputBytes int
	// CancelGrace is how long a cancelled job has between SIGTERM and SIGKILL (default 10 s);
	// a payload's grace_seconds overrides it.
	CancelGrace time.Duration
	// Guard says which programs may run and which variables a payload may not set.
	Guard Guard
}

var _ Handler = Exec{}

// Handle runs one subprocess job.
func (e Exec) Handle(ctx context.Context, job Job) ([]byte, error) {
	p, err := ParseExecPayload(job.Payload)
	if err != nil {
		return nil, Permanent(err)
	}
	if err := e.Guard.Check(p); err != nil {
		return nil, Permanent(err)
	}
	limit := e.MaxOutputBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	stdout, stderr := newCapped(limit), newCapped(limit)
	lines := &progressLines{out: stdout, report: func(percent float64, message string) { _ = Progress(ctx, percent, message) }}
	cmd := exec.CommandContext(ctx, p.Command[0], p.Command[1:]...)
	cmd.Stdout, cmd.Stderr = lines, stderr
	cmd.Env = jobEnv(p.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	grace := e.CancelGrace
	if p.GraceSeconds > 0 {
		grace = time.Duration(p.GraceSeconds * float64(time.Second))
	} else if grace <= 0 {
		grace = 10 * time.Second
	}
	cmd.Cancel = func() error {
		// The whole group: a shell script's children die with it.
		if errors.Is(context.Cause(ctx), ErrCancelled) {
			terminate(cmd.Process, grace)
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 2 * time.Second // children holding the pipes open cannot stall the worker

	start := time.Now()
	err = cmd.Run()
	_ = lines.Close() // the copy of stdout is over once Run returns
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		verb, reason := "killed", "worker shutting down"
		switch {
		case errors.Is(context.Cause(ctx), ErrCancelled):
			verb, reason = "stopped", "cancelled by an operator"
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			reason = "timeout"
		}
		return stdout.Bytes(), withStderr(fmt.Sprintf("%s after %s (%s)", verb, time.Since(start).Round(time.Second), reason), stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return stdout.Bytes(), withStderr(fmt.Sprintf("killed by signal %d (%s)", ws.Signal(), ws.Signal()), stderr)
		}
		if exitErr.ExitCode() == SnoozeExitCode {
			return nil, Snooze(snoozeDelay(stdout.Bytes()))
		}
		return stdout.Bytes(), withStderr(fmt.Sprintf("exit status %d", exitErr.ExitCode()), stderr)
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		// The program is not on this worker; another worker may have it, so not permanent.
		return nil, fmt.Errorf("cannot run %q: %w", p.Command[0], err)
	}
	return stdout.Bytes(), withStderr(err.Error(), stderr)
}

// terminate sends SIGTERM to the process group of p and waits up to grace for its leader to
// exit. (Only while the leader is unreaped is its pid sure to still name the group.)
func terminate(p *os.Process, grace time.Duration) {
	if syscall.Kill(-p.Pid, syscall.SIGTERM) != nil {
		return
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if p.Signal(syscall.Signal(0)) != nil { // exited
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snoozeDelay reads the delay a snoozing subprocess printed on its last line of stdout.
func snoozeDelay(stdout []byte) time.Duration {
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if d, err := time.ParseDuration(last); err == nil && d >= 0 {
		return d
	}
	if s, err := strconv.ParseFloat(last, 64); err == nil && s >= 0 && s <= MaxSnooze.Seconds() {
		return time.Duration(s * float64(time.Second))
	}
	return DefaultSnooze
}

type execError struct{ msg string }

func (e *execError) Error() string { return e.msg }

func withStderr(status string, stderr *capped) error {
	if s := strings.TrimRight(string(stderr.Bytes()), "\n"); s != "" {
		return &execError{msg: status + ": " + s}
	}
	return &execError{msg: status}
}

// jobEnv is the worker's environment without its JQ_* settings (which may point at secrets),
// plus the job's own variables.
func jobEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JQ_") {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// payloadTimeout reads the optional top-level "timeout_seconds" of any JSON payload.
func payloadTimeout(payload []byte) time.Duration {
	var p struct {
		TimeoutSeconds float64 `json:"timeout_seconds"`
	}
	if json.Unmarshal(payload, &p) != nil || p.TimeoutSeconds <= 0 {
		return 0
	}
	return time.Duration(p.TimeoutSeconds * float64(time.Second))
}
