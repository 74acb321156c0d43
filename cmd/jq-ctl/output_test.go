package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

func TestAgo(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now, "now"},
		{now.Add(-400 * time.Millisecond), "now"},
		{now.Add(-3 * time.Second), "3s ago"},
		{now.Add(-59 * time.Second), "59s ago"},
		{now.Add(-2*time.Minute - 10*time.Second), "2m ago"},
		{now.Add(2 * time.Minute), "in 2m"},
		{now.Add(-5 * time.Hour), "5h ago"},
		{now.Add(-47 * time.Hour), "47h ago"},
		{now.Add(-72 * time.Hour), "3d ago"},
		{now.Add(90 * time.Second), "in 1m"},
	} {
		require.Equal(t, tc.want, ago(tc.t, now), "ago(%v)", tc.t)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	require.Equal(t, "-", summary(nil, 10))
	require.Equal(t, `a\nb`, summary([]byte("a\nb\n"), 10))
	require.Equal(t, "héllo…", summary([]byte("héllo world"), 5))
	require.Equal(t, "(2 bytes, not UTF-8; see -o json)", summary([]byte{0xff, 0xfe}, 10))
}

func TestWriteYAML(t *testing.T) {
	t.Parallel()
	type doc struct {
		Name    string   `json:"name"`
		Numeric string   `json:"numeric"`
		Bool    string   `json:"bool"`
		None    *string  `json:"none"`
		Payload any      `json:"payload"`
		Empty   []string `json:"empty"`
		Text    string   `json:"text"`
	}
	var buf bytes.Buffer
	require.NoError(t, writeYAML(&buf, doc{
		Name: "x", Numeric: "123", Bool: "yes", Payload: payloadValue([]byte(`{"n": 12345678901234567890, "a": [1, "b"]}`)),
		Empty: []string{}, Text: "line 1\nline 2",
	}))
	require.Equal(t, `name: x
numeric: "123"
bool: "yes"
none: null
payload:
  a:
    - 1
    - b
  "n": 12345678901234567890
empty: []
text: |-
  line 1
  line 2
`, buf.String())
}

func TestJobResultEncoding(t *testing.T) {
	t.Parallel()
	v := newJobView(jobWithResult([]byte("ok\n")))
	require.Equal(t, "ok\n", v.Result)
	require.Equal(t, "text", v.ResultEncoding)
	v = newJobView(jobWithResult([]byte{0xff, 0x00}))
	require.Equal(t, "/wA=", v.Result)
	require.Equal(t, "base64", v.ResultEncoding)
}

func TestRPCError(t *testing.T) {
	t.Parallel()
	const addr = "jq:50051"
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{status.Error(codes.NotFound, "job 0191 not found"), exitNotFound, "job 0191 not found"},
		{status.Error(codes.InvalidArgument, "priority 12 is outside 0-9"), exitInvalid, "priority 12 is outside 0-9"},
		{status.Error(codes.OutOfRange, "too far"), exitInvalid, "too far"},
		{status.Error(codes.FailedPrecondition, "job is DONE"), exitConflict, "job is DONE"},
		{status.Error(codes.AlreadyExists, "queue x exists"), exitConflict, "queue x exists"},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:50051: connect: connection refused"`),
			exitUnavailable, "cannot reach jq-server at jq:50051: dial tcp 10.0.0.1:50051: connect: connection refused"},
		{status.Error(codes.Unavailable, "database unavailable; retry later"), exitUnavailable, "jq-server at jq:50051 is unavailable: database unavailable; retry later"},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), exitUnavailable, "jq-server at jq:50051 did not answer within 10s (see --timeout)"},
		{status.Error(codes.Canceled, "context canceled"), exitInterrupted, "interrupted"},
		{status.Error(codes.Internal, "internal error"), exitFailure, "internal error"},
		{status.Error(codes.Internal, "two\nlines"), exitFailure, "two lines"},
		{errors.New("boom"), exitFailure, "boom"},
	} {
		err := rpcError(tc.err, addr, 10*time.Second)
		require.Equal(t, tc.code, exitCode(err), "%v", tc.err)
		require.Equal(t, tc.msg, err.Error())
	}
	require.Equal(t, exitOK, exitCode(nil))
	require.Equal(t, exitOK, exitCode(errShown))
	require.Equal(t, exitUsage, exitCode(usagef("job", "missing command")))
	require.Equal(t, "missing command (see jq-ctl job --help)", usagef("job", "missing command").Error())
}

func jobWithResult(result []byte) *jqv1.Job { return &jqv1.Job{JobId: "x", Result: result} }

func TestConfirm(t *testing.T) {
	t.Parallel()
	ask := func(stdin io.Reader) (string, error) {
		var stderr strings.Builder
		a := newApp(stdin, io.Discard, &stderr)
		err := a.confirm("drop it?")
		return stderr.String(), err
	}
	for answer, ok := range map[string]bool{"y\n": true, "YES\n": true, " yes \n": true, "n\n": false, "\n": false, "": false, "maybe\n": false} {
		asked, err := ask(strings.NewReader(answer))
		require.Equal(t, "drop it? [y/N] ", asked)
		require.Equal(t, ok, err == nil, "answer %q", answer)
	}

	// A pipe cannot answer: the command must say --yes.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	_, _ = w.WriteString("y\n")
	require.NoError(t, w.Close())
	asked, err := ask(r)
	require.Empty(t, asked, "nothing asked")
	require.Equal(t, exitUsage, exitCode(err))
	require.ErrorContains(t, err, "pass --yes")
}
