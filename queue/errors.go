package queue

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors. Every error the Store returns for a refused transition wraps one of them;
// test with errors.Is.
var (
	// ErrNotFound: the job, queue or worker does not exist.
	ErrNotFound = errors.New("not found")
	// ErrWrongState: the job or worker is not in a state that allows the change.
	ErrWrongState = errors.New("wrong state")
	// ErrStaleAttempt: a report names an attempt that is no longer the job's current one.
	ErrStaleAttempt = errors.New("stale attempt")
	// ErrInvalid: an argument is out of range or malformed.
	ErrInvalid = errors.New("invalid argument")
	// ErrExists: the queue already exists.
	ErrExists = errors.New("already exists")
	// ErrUnavailable: PostgreSQL could not be reached.
	ErrUnavailable = errors.New("database unavailable")
	// ErrForbidden: the worker belongs to another credential.
	ErrForbidden = errors.New("forbidden")
	// ErrLimit: a configured limit is reached.
	ErrLimit = errors.New("limit reached")
)

// Error is a refused transition: the human message PostgreSQL raised (naming the job, queue or
// worker) and the sentinel it belongs to.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// sqlStateKinds maps the SQLSTATEs the jq functions raise (sqlfuncs/01_common.sql) and a few
// of PostgreSQL's own to sentinels.
var sqlStateKinds = map[string]error{
	"JQ001": ErrNotFound,     // unknown queue
	"JQ002": ErrNotFound,     // unknown job
	"JQ003": ErrWrongState,   // wrong state
	"JQ004": ErrStaleAttempt, // stale attempt
	"JQ005": ErrInvalid,      // invalid argument
	"JQ006": ErrNotFound,     // unknown worker
	"JQ007": ErrExists,       // queue exists
	"JQ008": ErrWrongState,   // queue has unfinished jobs
	"JQ009": ErrForbidden,    // the worker belongs to another credential
	"JQ010": ErrLimit,        // a limit is reached
	"JQ011": ErrNotFound,     // unknown API key
	"JQ012": ErrNotFound,     // unknown schedule
	"22P02": ErrInvalid,      // invalid_text_representation (e.g. malformed JSON)
	"22003": ErrInvalid,      // numeric_value_out_of_range
	"23514": ErrInvalid,      // check_violation
	"22023": ErrInvalid,      // invalid_parameter_value
	"22021": ErrInvalid,      // character_not_in_repertoire (NUL, bad UTF-8)
	"22P05": ErrInvalid,      // untranslatable_character (\u0000 in JSON)
	"08000": ErrUnavailable,  // connection_exception
	"08003": ErrUnavailable,  // connection_does_not_exist
	"08006": ErrUnavailable,  // connection_failure
	"57P01": ErrUnavailable,  // admin_shutdown
	"57P02": ErrUnavailable,  // crash_shutdown
	"57P03": ErrUnavailable,  // cannot_connect_now
}

// interpretError turns a database error into an *Error of the matching sentinel, and leaves
// anything else (including context cancellation) wrapped as it is.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &Error{Kind: ErrNotFound, Message: "not found"}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if kind, ok := sqlStateKinds[pgErr.Code]; ok {
			return &Error{Kind: kind, Message: pgErr.Message}
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	// A connection lost mid-query (EOF) leaves the outcome unknown: the caller may retry, and
	// an idempotency key makes a retried submit safe.
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{Kind: ErrUnavailable, Message: "database unavailable: " + err.Error()}
	}
	return err
}

// retryable reports whether PostgreSQL rolled the call back and asked for it to be retried.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}
