package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes. Scripts branch on them, so they are part of jq-ctl's interface: docs/jq-ctl.md and
// the root --help list them, and a test pins each one.
const (
	exitOK = 0
	// exitFailure is anything not classified below (an INTERNAL error on the server, a local
	// I/O error).
	exitFailure = 1
	// exitUsage: the command line cannot be understood (unknown command or flag, a flag value of
	// the wrong type, a missing or extra argument).
	exitUsage = 2
	// exitNotFound: the job, queue or worker does not exist (NOT_FOUND).
	exitNotFound = 3
	// exitInvalid: a well-formed command line with a value that is not acceptable (a malformed
	// UUID, a priority outside 0-9, a payload that is not JSON), whether jq-ctl or jq-server
	// noticed (INVALID_ARGUMENT, OUT_OF_RANGE).
	exitInvalid = 4
	// exitUnavailable: jq-server cannot be reached, is shutting down, cannot reach PostgreSQL, or
	// did not answer within --timeout (UNAVAILABLE, DEADLINE_EXCEEDED).
	exitUnavailable = 5
	// exitConflict: the request conflicts with the current state: cancelling a finished job,
	// deleting a queue that still holds jobs, creating a queue that exists (FAILED_PRECONDITION,
	// ALREADY_EXISTS, ABORTED).
	exitConflict = 6
	// exitDeadLettered: job submit --wait saw the job end DEAD_LETTERED (or CANCELLED).
	exitDeadLettered = 7
	// exitWaitTimeout: job submit --wait gave up after --wait-timeout.
	exitWaitTimeout = 8
	// exitDenied: no API key, an unknown, expired or revoked one, or a role or queue the key may
	// not use (UNAUTHENTICATED, PERMISSION_DENIED).
	exitDenied = 9
	// exitInterrupted: SIGINT or SIGTERM, as a shell reports it (128 + 2).
	exitInterrupted = 130
)

// exitError ends jq-ctl with code after printing msg, one line, on stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func failf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// usageError is a command line jq-ctl cannot understand; the message points at the help of the
// command concerned.
type usageError struct {
	path string // command path after "jq-ctl", e.g. "job submit"; empty for the root
	err  error
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v (see %s --help)", e.err, commandName(e.path))
}

func (e *usageError) Unwrap() error { return e.err }

func usagef(path, format string, args ...any) error {
	return &usageError{path: path, err: fmt.Errorf(format, args...)}
}

// commandName is how a command is typed: "jq-ctl job submit".
func commandName(path string) string {
	if path == "" {
		return "jq-ctl"
	}
	return "jq-ctl " + path
}

// errShown is returned once --help or --version has printed what was asked: exit 0, no message.
var errShown = errors.New("shown")

// exitCode maps an error from a command to jq-ctl's exit status.
func exitCode(err error) int {
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errShown):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitFailure
	}
}

// rpcError turns the error of an RPC to the jq-server at addr into one human line and the exit
// code of its class. timeout is the per-RPC deadline, named when it expires.
func rpcError(err error, addr string, timeout time.Duration) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			return failf(exitInterrupted, "interrupted")
		}
		return failf(exitFailure, "%s", oneLine(err.Error()))
	}
	msg := oneLine(st.Message())
	switch st.Code() {
	case codes.NotFound:
		return failf(exitNotFound, "%s", msg)
	case codes.InvalidArgument, codes.OutOfRange, codes.ResourceExhausted:
		return failf(exitInvalid, "%s", msg)
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		return failf(exitConflict, "%s", msg)
	case codes.Unavailable:
		if reason, ok := transportFailure(msg); ok {
			return failf(exitUnavailable, "cannot reach jq-server at %s: %s", addr, reason)
		}
		return failf(exitUnavailable, "jq-server at %s is unavailable: %s", addr, msg)
	case codes.DeadlineExceeded:
		if timeout > 0 {
			return failf(exitUnavailable, "jq-server at %s did not answer within %s (see --timeout)", addr, timeout)
		}
		return failf(exitUnavailable, "jq-server at %s: %s", addr, msg)
	case codes.Canceled:
		return failf(exitInterrupted, "interrupted")
	case codes.Unauthenticated, codes.PermissionDenied:
		return failf(exitDenied, "jq-server at %s refused the request: %s", addr, msg)
	default:
		return failf(exitFailure, "%s", msg)
	}
}

// transportFailure recognises grpc-go's client-side connection errors (nothing listening, TLS
// handshake refused, name not resolved), as opposed to a server that answered UNAVAILABLE, and
// returns the useful part of the message.
func transportFailure(msg string) (string, bool) {
	for _, marker := range []string{"connection error: desc = ", "name resolver error: ", "last connection error: "} {
		if _, after, ok := strings.Cut(msg, marker); ok {
			reason := strings.Trim(after, `"`)
			reason = strings.TrimPrefix(reason, "transport: ")
			reason = strings.TrimPrefix(reason, "Error while dialing: ")
			reason = strings.TrimPrefix(reason, "error while dialing: ")
			return reason, true
		}
	}
	if strings.Contains(msg, "transport: ") {
		return msg, true
	}
	return "", false
}

// oneLine keeps a message on one line, so that stderr holds exactly one line per error.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
