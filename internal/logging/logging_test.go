package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
)

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "line %q is not JSON", line)
		out = append(out, m)
	}
	return out
}

func TestNew_LineCarriesAllFields(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "jq-server", logging.Options{Level: slog.LevelInfo})
	ctx := logging.WithCorrelationID(context.Background(), "c0ffee")

	log.InfoContext(ctx, "job submitted", "job_id", "j1", "queue", "default")

	lines := decodeLines(t, &buf)
	require.Len(t, lines, 1)
	line := lines[0]
	require.Equal(t, "info", line["level"])
	require.Equal(t, "jq-server", line["service"])
	require.Equal(t, "job submitted", line["message"])
	require.Equal(t, "c0ffee", line["correlation_id"])
	require.Equal(t, "j1", line["job_id"])
	require.Equal(t, "default", line["queue"])
	require.NotContains(t, line, "msg")
	require.NotContains(t, line, "time")

	ts, ok := line["timestamp"].(string)
	require.True(t, ok, "timestamp is %T, want string", line["timestamp"])
	parsed, err := time.Parse(time.RFC3339, ts)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), parsed, time.Minute)
	require.Regexp(t, `\.\d{3}Z$`, ts, "want milliseconds in UTC")
}

func TestNew_NoCorrelationIDWithoutContext(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "jq-worker", logging.Options{Level: slog.LevelDebug})

	log.With("worker_id", "w1").WithGroup("job").Debug("started", "id", "j2")

	line := decodeLines(t, &buf)[0]
	require.NotContains(t, line, "correlation_id")
	require.Equal(t, "debug", line["level"])
	require.Equal(t, "w1", line["worker_id"])
	require.Equal(t, map[string]any{"id": "j2"}, line["job"])
}

func TestNew_CorrelationIDSurvivesWithAndGroups(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "jq-server", logging.Options{}).With("rpc", "SubmitJob")
	ctx := logging.WithCorrelationID(context.Background(), "abc")

	log.ErrorContext(ctx, "failed")

	line := decodeLines(t, &buf)[0]
	require.Equal(t, "abc", line["correlation_id"])
	require.Equal(t, "SubmitJob", line["rpc"])
	require.Equal(t, "error", line["level"])
}

func TestNew_LevelFilters(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "jq-ctl", logging.Options{Level: slog.LevelWarn})

	log.Info("hidden")
	log.Warn("shown")

	lines := decodeLines(t, &buf)
	require.Len(t, lines, 1)
	require.Equal(t, "shown", lines[0]["message"])
	require.Equal(t, "warn", lines[0]["level"])
}
