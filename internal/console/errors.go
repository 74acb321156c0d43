package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// httpError is an answer other than 200, with a message for the operator.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// badRequest is a 400 for a bad query parameter or form field.
func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// grpcToHTTP maps the services' status codes to HTTP's.
var grpcToHTTP = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.FailedPrecondition: http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusServiceUnavailable,
	codes.Canceled:           http.StatusServiceUnavailable,
}

// httpStatus is the HTTP status and message of an error: an httpError, a gRPC status from
// the services, or anything else (500, without details: those go to the log).
func httpStatus(err error) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.code, he.msg
	}
	if s, ok := status.FromError(err); ok {
		if code, ok := grpcToHTTP[s.Code()]; ok {
			return code, s.Message()
		}
		return http.StatusInternalServerError, "internal error"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return http.StatusServiceUnavailable, "the database did not answer in time; retry"
	}
	return http.StatusInternalServerError, "internal error"
}

// fail answers with the error page of err. r is nil before the caller is known.
func (c *Console) fail(w http.ResponseWriter, hr *http.Request, r *request, err error) {
	code, msg := httpStatus(err)
	if code == http.StatusInternalServerError {
		c.logger.ErrorContext(hr.Context(), "console error", "path", hr.URL.Path, "error", err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jq console"`)
	}
	v := &view{Title: http.StatusText(code), Error: msg, Code: code}
	if r != nil {
		c.fill(v, r)
		v.Flash = ""
	}
	c.render(w, hr, code, "error", v)
}
