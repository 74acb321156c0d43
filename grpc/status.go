package grpc

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/queue"
)

// toStatus maps an error from the queue package to the gRPC status the API documents:
// NOT_FOUND for unknown ids and queues, INVALID_ARGUMENT for bad input, FAILED_PRECONDITION for
// a wrong state or a stale attempt, ALREADY_EXISTS, PERMISSION_DENIED for a worker of another
// credential, RESOURCE_EXHAUSTED for a limit reached, UNAVAILABLE when PostgreSQL is unreachable,
// INTERNAL otherwise (logged here; the client sees no detail).
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (validation)
	}
	msg := err.Error()
	var qe *queue.Error
	if errors.As(err, &qe) {
		msg = qe.Message
	}
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return status.Error(codes.NotFound, msg)
	case errors.Is(err, queue.ErrInvalid):
		return status.Error(codes.InvalidArgument, msg)
	case errors.Is(err, queue.ErrWrongState), errors.Is(err, queue.ErrStaleAttempt):
		return status.Error(codes.FailedPrecondition, msg)
	case errors.Is(err, queue.ErrExists):
		return status.Error(codes.AlreadyExists, msg)
	case errors.Is(err, queue.ErrForbidden):
		return status.Error(codes.PermissionDenied, msg)
	case errors.Is(err, queue.ErrLimit):
		return status.Error(codes.ResourceExhausted, msg)
	case errors.Is(err, queue.ErrUnavailable):
		return status.Error(codes.Unavailable, "database unavailable; retry later")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	logger.ErrorContext(ctx, "internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
