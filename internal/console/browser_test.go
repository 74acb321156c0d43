package console_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/testserver"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/worker"
)

// docsScreenshot rewrites the README's screenshot of the console from this run.
var docsScreenshot = flag.Bool("docs-screenshot", false, "write docs/console.png from the browser test")

var (
	chromiumOnce sync.Once
	chromiumBin  string
	chromiumWhy  string
)

// chromium finds Debian's chromium, installing the package when the test runs as root and it
// is missing (the test harness's job on a fresh machine); otherwise it skips, saying why.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short (it drives a real chromium)")
	}
	chromiumOnce.Do(func() {
		if chromiumBin = lookChromium(); chromiumBin != "" {
			return
		}
		if os.Geteuid() != 0 {
			chromiumWhy = "chromium is not installed and this test is not root, so it cannot apt-get install it: run `apt-get install chromium` (Debian) to run the browser tests"
			return
		}
		if _, err := exec.LookPath("apt-get"); err != nil {
			chromiumWhy = "chromium is not installed and there is no apt-get to install it: install chromium to run the browser tests"
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		install := func(args ...string) error {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
			}
			return nil
		}
		err := install("install", "-y", "--no-install-recommends", "chromium")
		if err != nil {
			if err = install("update"); err == nil {
				err = install("install", "-y", "--no-install-recommends", "chromium")
			}
		}
		if chromiumBin = lookChromium(); chromiumBin == "" {
			chromiumWhy = fmt.Sprintf("chromium is not installed and installing it failed: %v", err)
		}
	})
	if chromiumBin == "" {
		t.Skip("browser test: " + chromiumWhy)
	}
	return chromiumBin
}

func lookChromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// tab is a headless chromium tab with a fresh profile, closed when the test ends.
type tab struct {
	ctx  context.Context
	dir  string // screenshots
	shot int
}

func newTab(t *testing.T, ctx context.Context) *tab {
	t.Helper()
	bin := chromium(t)
	actx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancel)
	tctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	require.NoError(t, chromedp.Do(tctx, chromedp.EmulateViewport(1280, 900)))
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", dir)
	return &tab{ctx: tctx, dir: dir}
}

func (tb *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(tb.ctx, steps...))
}

// text is the visible text of the page's main section.
func (tb *tab) text(t *testing.T) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS("main")))
	require.NoError(t, err)
	return s
}

// eval runs JavaScript (awaiting a promise) and returns its value.
func eval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "evaluate %s", js)
	return v
}

// screenshot saves the whole page as NN-name.png in the test's output folder.
func (tb *tab) screenshot(t *testing.T, name string) []byte {
	t.Helper()
	buf, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	tb.shot++
	require.NoError(t, os.WriteFile(filepath.Join(tb.dir, fmt.Sprintf("%02d-%s.png", tb.shot, name)), buf, 0o644))
	return buf
}

// eventually reloads the page until its main text contains want.
func (tb *tab) eventually(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if strings.Contains(tb.text(t), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed %q; it shows:\n%s", want, tb.text(t))
		}
		time.Sleep(150 * time.Millisecond)
		tb.do(t, chromedp.Reload())
	}
}

// flakyHandler fails a job's first run and succeeds afterwards: retried by hand, it runs.
type flakyHandler struct{ seen sync.Map }

func (h *flakyHandler) run(_ context.Context, j worker.Job) ([]byte, error) {
	if _, again := h.seen.LoadOrStore(j.ID, true); !again {
		return nil, errors.New("disk full on /var/tmp (first attempt)")
	}
	return []byte("report written\n"), nil
}

// TestBrowser drives the console in a real headless chromium against a real server and worker:
// sign-in, the jobs list, a job's timeline, a retry that runs, a cancel, and a reader who sees
// no buttons and whose forged POST is refused. It saves a screenshot of every page.
func TestBrowser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tb := newTab(t, ctx)
	store := b.srv.Store()
	b.createQueue(t, "parked") // no worker takes from it

	// A real worker, in process, with a key of role worker.
	flaky := &flakyHandler{}
	var ran atomic.Int64
	mux := worker.NewMux()
	mux.Register("ok", func(context.Context, worker.Job) ([]byte, error) { ran.Add(1); return []byte("hello from jq\n"), nil })
	mux.Register("flaky", flaky.run)
	mux.Register("fail", func(context.Context, worker.Job) ([]byte, error) { return nil, errors.New("exit status 1") })
	release := make(chan struct{}) // the slow job reports its progress, then waits for this
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	mux.Register("slow", func(ctx context.Context, _ worker.Job) ([]byte, error) {
		if err := worker.Progress(ctx, 60, "step 3 of 5: resizing images"); err != nil {
			return nil, err
		}
		select {
		case <-release:
			return []byte("slow done\n"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	runWorker(t, b.srv, b.keys[apikey.RoleWorker], mux)
	t.Cleanup(letGo) // before the worker stops (cleanups run last first)
	_, err := store.CreateSchedule(ctx, queue.ScheduleParams{Name: "hourly-report", Cron: "@hourly", Queue: "default",
		Payload: []byte(`{"kind": "ok", "from": "schedule"}`), Actor: "test"})
	require.NoError(t, err)

	zero := 0
	noRetry := func(p *queue.SubmitParams) { p.MaxRetries = &zero }
	done := b.submit(t, "default", `{"kind": "ok", "report": {"id": 42, "tags": ["daily", "eu"]}}`)
	dead := b.submit(t, "default", `{"kind": "flaky", "attempt": "first"}`, noRetry)
	pending := b.submit(t, "parked", `{"kind": "ok", "note": "nobody serves this queue"}`)
	for i := range 24 { // some activity for the charts and the lists
		kind := "ok"
		if i%6 == 5 {
			kind = "fail"
		}
		b.submit(t, "default", fmt.Sprintf(`{"kind": %q, "n": %d}`, kind, i), noRetry)
	}
	waitStatus(t, store, done, queue.StatusDone)
	waitStatus(t, store, dead, queue.StatusDeadLettered)

	// Signed out: the console sends to the sign-in page, then back.
	tb.do(t, chromedp.Navigate(b.url("")), chromedp.WaitVisible(chromedp.ID("key")))
	tb.screenshot(t, "sign-in")
	tb.do(t,
		chromedp.SendKeys(chromedp.ID("key"), b.keys[apikey.RoleAdmin]),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
	)
	require.Contains(t, tb.text(t), "Jobs per queue and status")
	tb.eventually(t, "Dead-lettered, last hour", 5*time.Second)
	overview := tb.screenshot(t, "overview")
	if *docsScreenshot {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "console.png"), overview, 0o644))
	}

	// The jobs list shows the submitted job; its link opens the timeline.
	tb.do(t, chromedp.Navigate(b.url("jobs")), chromedp.WaitVisible(chromedp.CSS("table.jobs")))
	require.Contains(t, tb.text(t), done.String()[len(done.String())-8:])
	tb.screenshot(t, "jobs")
	tb.do(t,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href$="/jobs/%s"]`, done))),
		chromedp.WaitVisible(chromedp.CSS("ol.timeline")),
	)
	page := tb.text(t)
	for _, want := range []string{"SUBMITTED", "CLAIMED", "COMPLETED", "hello from jq", "report", "daily"} {
		require.Contains(t, page, want, "the job's page shows its timeline, result and payload")
	}
	tb.screenshot(t, "job-done")

	// Retry the dead-lettered job with its button: the worker runs it again, and it is DONE.
	tb.do(t, chromedp.Navigate(b.url("jobs/"+dead.String())), chromedp.WaitVisible(chromedp.ID("retry")))
	require.Contains(t, tb.text(t), "disk full on /var/tmp")
	tb.screenshot(t, "job-dead-lettered")
	tb.do(t, chromedp.Click(chromedp.ID("retry")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	tb.eventually(t, "report written", 15*time.Second)
	page = tb.text(t)
	require.Contains(t, page, "MANUAL_RETRY")
	require.Contains(t, page, "by test-admin-", "the timeline names who retried")
	waitStatus(t, store, dead, queue.StatusDone)
	tb.screenshot(t, "job-retried")

	// Cancel the pending job: the button asks for a confirmation first.
	tb.do(t, chromedp.Navigate(b.url("jobs/"+pending.String())), chromedp.WaitVisible(chromedp.ID("cancel")))
	tb.do(t, chromedp.Click(chromedp.ID("cancel")), chromedp.WaitVisible(chromedp.ID("confirm")))
	tb.screenshot(t, "cancel-confirm")
	j, err := store.GetJob(ctx, pending)
	require.NoError(t, err)
	require.Equal(t, queue.StatusPending, j.Status, "nothing happens before the confirmation")
	tb.do(t, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	page = tb.text(t)
	require.Contains(t, page, "PENDING → CANCELLED")
	waitStatus(t, store, pending, queue.StatusCancelled)
	tb.screenshot(t, "job-cancelled")

	// A running job's page shows the progress its handler reported.
	slow := b.submit(t, "default", `{"kind": "slow"}`)
	tb.do(t, chromedp.Navigate(b.url("jobs/"+slow.String())), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	tb.eventually(t, "step 3 of 5: resizing images", 10*time.Second)
	require.Contains(t, tb.text(t), "60 %")
	tb.screenshot(t, "job-progress")
	letGo()

	// A workflow: its job links to it, and its page shows both nodes done.
	_, refs, err := store.SubmitWorkflow(ctx, "nightly-etl", []queue.WorkflowNode{
		{Name: "extract", Payload: []byte(`{"kind": "ok", "step": "extract"}`)},
		{Name: "load", Payload: []byte(`{"kind": "ok", "step": "load"}`), DependsOn: []string{"extract"}},
	}, "test")
	require.NoError(t, err)
	waitStatus(t, store, refs[1].JobID, queue.StatusDone)
	tb.do(t, chromedp.Navigate(b.url("jobs/"+refs[1].JobID.String())), chromedp.WaitVisible(chromedp.ID("workflow-link")))
	tb.do(t, chromedp.Click(chromedp.ID("workflow-link")), chromedp.WaitVisible(chromedp.CSS("table.workflow")))
	page = tb.text(t)
	require.Contains(t, page, "Workflow nightly-etl")
	require.Contains(t, page, "DONE 2")
	tb.screenshot(t, "workflow")

	// Pause a queue with its button: the page says so, and jq has it paused.
	tb.do(t, chromedp.Navigate(b.url("queues")), chromedp.WaitVisible(chromedp.CSS("table.queues")))
	require.Contains(t, tb.text(t), "parked")
	tb.do(t, chromedp.Click(chromedp.ID("pause-parked")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.Contains(t, tb.text(t), "Queue parked paused")
	require.Equal(t, 1, eval[int](t, tb, `document.querySelectorAll('td[data-queue="parked"] [data-paused]').length`))
	queues, err := store.ListQueues(ctx)
	require.NoError(t, err)
	for _, q := range queues {
		require.Equal(t, q.Name == "parked", q.Paused, "queue %s", q.Name)
	}
	tb.screenshot(t, "queues")

	// Fire a schedule now: a confirmation, then the job it submitted, which the worker runs.
	tb.do(t, chromedp.Navigate(b.url("schedules")), chromedp.WaitVisible(chromedp.CSS("table.schedules")))
	require.Contains(t, tb.text(t), "@hourly")
	tb.screenshot(t, "schedules")
	tb.do(t, chromedp.Click(chromedp.ID("trigger-hourly-report")), chromedp.WaitVisible(chromedp.ID("confirm")))
	tb.do(t, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.Contains(t, tb.text(t), "Schedule hourly-report fired")
	tb.eventually(t, "hello from jq", 15*time.Second)
	tb.do(t, chromedp.Navigate(b.url("workers")), chromedp.WaitVisible(chromedp.CSS("table.workers")))
	require.Contains(t, tb.text(t), "Drain")
	tb.screenshot(t, "workers")

	// On a phone: the list stays usable (it scrolls sideways inside its box, not the page).
	tb.do(t, chromedp.EmulateViewport(390, 844), chromedp.Navigate(b.url("jobs")), chromedp.WaitVisible(chromedp.CSS("table.jobs")))
	overflow := eval[bool](t, tb, `document.documentElement.scrollWidth > window.innerWidth + 1`)
	require.False(t, overflow, "the page itself does not scroll sideways on a phone")
	tb.screenshot(t, "jobs-phone")
	tb.do(t, chromedp.EmulateViewport(1280, 900))

	// Live refresh can be paused, with a labelled button.
	tb.do(t, chromedp.Navigate(b.url("jobs")), chromedp.Click(chromedp.ID("live-toggle")))
	require.Equal(t, "true", eval[string](t, tb, `document.getElementById("live-toggle").getAttribute("aria-pressed")`))
	require.Equal(t, "Resume refresh", eval[string](t, tb, `document.getElementById("live-toggle").textContent`))
	tb.do(t, chromedp.Click(chromedp.ID("live-toggle")))

	// Sign out, then in as a reader: no buttons anywhere, and a forged POST is refused.
	tb.do(t, chromedp.Click(chromedp.CSS(`form[action$="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("key")))
	tb.do(t,
		chromedp.SendKeys(chromedp.ID("key"), b.keys[apikey.RoleReader]),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
	)
	noButtons := `document.querySelectorAll("form[data-action], #bulk-selected, #bulk-matching, [data-select-all], #retry, #cancel").length`
	for _, p := range []string{"", "jobs", "jobs/" + pending.String(), "jobs/" + dead.String(), "queues", "workers", "schedules", "workflows"} {
		tb.do(t, chromedp.Navigate(b.url(p)), chromedp.WaitVisible(chromedp.CSS("main h1")))
		require.Zero(t, eval[int](t, tb, noButtons), "a reader sees no action on /%s", p)
	}
	tb.do(t, chromedp.Navigate(b.url("jobs/"+pending.String())), chromedp.WaitVisible(chromedp.CSS("main h1")))
	tb.screenshot(t, "reader-job")
	// The reader's own session and token, as a malicious page script or a curious reader
	// would use them: the server refuses by role, whatever the page showed.
	forged := fmt.Sprintf(`(async () => {
		const csrf = document.querySelector('input[name=csrf]').value;
		const r = await fetch(%q, {method: "POST", body: new URLSearchParams({csrf, confirm: "yes"})});
		return r.status;
	})()`, b.url("jobs/"+pending.String()+"/retry"))
	require.Equal(t, 403, eval[int](t, tb, forged))
	j, err = store.GetJob(ctx, pending)
	require.NoError(t, err)
	require.Equal(t, queue.StatusCancelled, j.Status, "the forged retry changed nothing")
	require.Positive(t, ran.Load())
}

// runWorker runs an in-process jq-worker with key until the test ends.
func runWorker(t *testing.T, srv *testserver.Server, key string, h worker.Handler) {
	t.Helper()
	w, err := worker.New(worker.Config{
		ServerAddr: srv.GRPCAddr().String(), Token: key, ID: uuid.NewString(), Concurrency: 4,
		HeartbeatInterval: 200 * time.Millisecond, ShutdownGrace: 5 * time.Second, ReconnectMax: 200 * time.Millisecond,
		Logger: testserver.Logger().With("service", "jq-worker"),
	}, h)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop within 30 s")
		}
	})
	require.Eventually(t, w.Ready, 10*time.Second, 10*time.Millisecond, "the worker connects")
}

func waitStatus(t *testing.T, store *queue.Store, id uuid.UUID, want queue.JobStatus) {
	t.Helper()
	var last *queue.Job
	require.Eventually(t, func() bool {
		j, err := store.GetJob(context.Background(), id)
		last = j
		return err == nil && j.Status == want
	}, 15*time.Second, 20*time.Millisecond, "job %s: want %s, last %+v", id, want, last)
}
