package worker

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// fakeProgress records the progress reports sent.
type fakeProgress struct {
	jqv1.WorkerServiceClient
	mu   sync.Mutex
	sent []*jqv1.ReportProgressRequest
}

func (f *fakeProgress) ReportProgress(_ context.Context, in *jqv1.ReportProgressRequest, _ ...grpc.CallOption) (*jqv1.ReportProgressResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in)
	return &jqv1.ReportProgressResponse{}, nil
}

func (f *fakeProgress) reports() []*jqv1.ReportProgressRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*jqv1.ReportProgressRequest(nil), f.sent...)
}

// TestProgressReporter_OneReportASecondLatestWins: a handler reporting in a tight loop sends
// one report at once and, a second later, the latest; a report left when the attempt ends is
// dropped.
func TestProgressReporter_OneReportASecondLatestWins(t *testing.T) {
	t.Parallel()
	fake := &fakeProgress{}
	w := &Worker{client: fake, id: uuid.New(), logger: slog.New(slog.DiscardHandler)}
	p := w.newProgressReporter(Job{ID: "job-1", Attempt: 3})
	ctx := WithProgress(context.Background(), p.report)
	for i := range 100 {
		require.NoError(t, Progress(ctx, float64(i), "step"))
	}
	require.Eventually(t, func() bool { return len(fake.reports()) == 2 }, 3*time.Second, 10*time.Millisecond)
	got := fake.reports()
	require.Equal(t, 0.0, got[0].GetProgress())
	require.Equal(t, 99.0, got[1].GetProgress(), "the latest wins")
	require.Equal(t, int32(3), got[1].GetAttempt())
	require.Equal(t, "job-1", got[1].GetJobId())

	require.NoError(t, Progress(ctx, 100, "done"))
	p.close()
	time.Sleep(1200 * time.Millisecond)
	w.progressWG.Wait()
	require.Len(t, fake.reports(), 2, "a report waiting when the attempt ends is dropped")
}

func TestProgress_Refusals(t *testing.T) {
	t.Parallel()
	ctx := WithProgress(context.Background(), func(float64, string) {})
	require.ErrorContains(t, Progress(ctx, 101, ""), "not a percentage")
	require.ErrorContains(t, Progress(ctx, -1, ""), "not a percentage")
	require.ErrorIs(t, Progress(context.Background(), 5, ""), ErrNoProgress)
	var msg string
	ctx = WithProgress(context.Background(), func(_ float64, m string) { msg = m })
	require.NoError(t, Progress(ctx, 5, strings.Repeat("x", 5000)))
	require.LessOrEqual(t, len(msg), MaxProgressMessage, "the message is cut to 1 KiB")
}

// TestProgressLines: progress lines are taken out of the output and reported, however the
// output is cut into writes; other lines, malformed progress lines and long lines pass.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", maxProgressLine+10)
	input := "before\n::progress 10 starting\r\n::progress 55.5% half way\n::progressive is not one\n" +
		"::progress 200 out of range\n" + long + "\n::progress\n::progress 90"
	want := "before\n::progressive is not one\n::progress 200 out of range\n" + long + "\n::progress\n"
	type report struct {
		pct float64
		msg string
	}
	for _, size := range []int{1, 3, 7, 4096, len(input)} {
		var out bytes.Buffer
		var got []report
		p := &progressLines{out: &out, report: func(pct float64, msg string) { got = append(got, report{pct, msg}) }}
		for rest := input; rest != ""; {
			n := min(size, len(rest))
			_, err := p.Write([]byte(rest[:n]))
			require.NoError(t, err)
			rest = rest[n:]
		}
		require.NoError(t, p.Close())
		require.Equal(t, want, out.String(), "writes of %d bytes", size)
		require.Equal(t, []report{{10, "starting"}, {55.5, "half way"}, {90, ""}}, got, "writes of %d bytes", size)
	}
}
