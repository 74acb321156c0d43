// Package logging builds the JSON logger every jq binary writes to stdout, and carries the
// correlation id of a request in its context so that every line logged for it names it.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"
)

// TimeFormat is RFC 3339 with milliseconds, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Options tune New.
type Options struct {
	Level     slog.Leveler
	AddSource bool
}

// New returns a logger writing one JSON object per line to w with the fields timestamp, level,
// service, message, the correlation id found in the context, and any others given.
func New(w io.Writer, service string, opts Options) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       opts.Level,
		AddSource:   opts.AddSource,
		ReplaceAttr: replaceAttr,
	})
	return slog.New(&contextHandler{Handler: h}).With(slog.String("service", service))
}

func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("timestamp", a.Value.Time().UTC().Format(TimeFormat))
	case slog.LevelKey:
		return slog.String("level", strings.ToLower(a.Value.String()))
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

// contextHandler adds the correlation id carried by the context to every record.
type contextHandler struct{ slog.Handler }

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := CorrelationID(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &contextHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{Handler: h.Handler.WithGroup(name)}
}

type correlationKey struct{}

// WithCorrelationID returns a context whose log lines carry id as correlation_id.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation id carried by ctx, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// Discard is a logger that writes nothing, for tests and tools that want silence.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Since is a log attribute with the milliseconds elapsed since start.
func Since(start time.Time) slog.Attr {
	return slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000)
}
