package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/worker"
)

// payloadKind is what the jobs of a scenario ask their workers to do; it decides which
// worker runs them.
type payloadKind int

const (
	// noopJobs are no-op Go jobs: in-process workers with the recorder's handler, or
	// `jq-bench noop-worker` processes that report each run to the recorder.
	noopJobs payloadKind = iota
	// commandJobs are subprocess payloads ({"command": [...]}): worker.Exec in-process, or
	// jq-worker processes.
	commandJobs
)

// fleetSpec describes the workers to start.
type fleetSpec struct {
	kind        payloadKind
	name        string // worker ids are <name>-<i>
	inProcess   int    // in-process workers, when procs is 0
	procs       int
	concurrency int
	queue       string
	rec         *recorder // receives the no-op runs (and in-process Exec runs); may be nil
	// env is added to the environment of jq-worker processes.
	env []string
	// servers, when set, are the gRPC addresses the workers connect to, worker i to
	// servers[i % len(servers)], each with its admin client; else the run's server.
	servers []serverAddr
}

// serverAddr is one server a fleet's workers may connect to.
type serverAddr struct {
	addr  string
	admin jqv1.AdminServiceClient
}

// server is the server worker i of the fleet connects to.
func (spec fleetSpec) server(r *run, i int) serverAddr {
	if len(spec.servers) == 0 {
		return serverAddr{addr: r.addr, admin: r.admin}
	}
	return spec.servers[i%len(spec.servers)]
}

// fleet is a set of running workers.
type fleet struct {
	inproc []*inprocWorker
	procs  []*workerProcess
	ids    []uuid.UUID
	once   sync.Once
}

type inprocWorker struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
}

// workerName names worker i of a fleet; its id is the UUID the worker package derives from it.
func workerName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }

// startFleet starts the workers of spec against the server at addr and waits until every one
// is registered with its stream open.
func (r *run) startFleet(ctx context.Context, spec fleetSpec) (*fleet, error) {
	f := &fleet{}
	n := spec.inProcess
	if spec.procs > 0 {
		n = spec.procs
	}
	byServer := map[serverAddr][]uuid.UUID{}
	for i := range n {
		name := workerName(spec.name, i)
		id, _ := worker.ResolveID(name)
		srv := spec.server(r, i)
		var err error
		if spec.procs > 0 {
			var p *workerProcess
			p, err = r.startWorkerProcess(spec, name, srv.addr)
			if p != nil {
				f.procs = append(f.procs, p)
			}
		} else {
			var w *inprocWorker
			w, err = r.startInprocWorker(spec, name, srv.addr)
			if w != nil {
				f.inproc = append(f.inproc, w)
			}
		}
		if err != nil {
			f.stop(5 * time.Second)
			return nil, err
		}
		f.ids = append(f.ids, id)
		byServer[srv] = append(byServer[srv], id)
	}
	for srv, ids := range byServer {
		if err := r.waitConnected(ctx, srv, f, ids...); err != nil {
			f.stop(5 * time.Second)
			return nil, err
		}
	}
	return f, nil
}

func (r *run) startInprocWorker(spec fleetSpec, name, addr string) (*inprocWorker, error) {
	var h worker.Handler
	switch spec.kind {
	case noopJobs:
		h = spec.rec.handler()
	case commandJobs:
		h = worker.Exec{}
		if spec.rec != nil {
			h = spec.rec.wrap(h)
		}
	}
	w, err := worker.New(worker.Config{
		ServerAddr:    addr,
		Token:         r.token,
		ID:            name,
		Concurrency:   spec.concurrency,
		Queues:        strings.Split(spec.queue, ","),
		ShutdownGrace: 10 * time.Second,
		Logger:        r.wlogger.With("worker", name),
	}, h)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	iw := &inprocWorker{w: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(iw.done)
		if err := w.Run(ctx); err != nil {
			r.progress("worker %s: %v", name, err)
		}
	}()
	return iw, nil
}

// waitConnected waits until the workers are registered with their streams open on srv.
func (r *run) waitConnected(ctx context.Context, srv serverAddr, f *fleet, ids ...uuid.UUID) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, id := range ids {
		want[id.String()] = true
	}
	for {
		resp, err := srv.admin.ListWorkers(ctx, &jqv1.ListWorkersRequest{Status: jqv1.WorkerStatus_WORKER_STATUS_ONLINE, Limit: 1000})
		if err == nil {
			n := 0
			for _, w := range resp.GetWorkers() {
				if want[w.GetWorkerId()] && w.GetConnected() && w.GetStatus() == jqv1.WorkerStatus_WORKER_STATUS_ONLINE {
					n++
				}
			}
			if n == len(want) {
				return nil
			}
		}
		if f != nil {
			for _, p := range f.procs {
				if p.exited() {
					return fmt.Errorf("worker process %s exited before connecting: %w%s", p.name, p.err, p.tail())
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workers did not connect to %s within 60 s: %w", srv.addr, errors.Join(context.Cause(ctx), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopFleet stops the fleet. With the database at hand, the workers are first drained through
// it (jq.drain_worker): the scheduler then stops feeding them and tells each in-band, after
// the last job it delivered, so none arrives while a worker shuts down. (A worker told to
// stop while the scheduler still delivers to it can start a job after its drain began; see
// bench/README.md, "Known issues".) Workers still running after 10 s are stopped.
func (r *run) stopFleet(f *fleet) {
	if f == nil {
		return
	}
	for _, p := range f.procs {
		p.sampleNow()
	}
	if r.pool != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range f.ids {
			_, _ = r.pool.Exec(ctx, `SELECT 1 FROM jq.drain_worker($1)`, id)
		}
		f.waitExit(ctx)
	}
	f.stop(10 * time.Second)
}

// waitExit waits until every worker has exited, or ctx ends.
func (f *fleet) waitExit(ctx context.Context) {
	for _, w := range f.inproc {
		select {
		case <-w.done:
		case <-ctx.Done():
			return
		}
	}
	for _, p := range f.procs {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}

// stop drains every worker (as SIGTERM would) and waits up to grace for each, then kills the
// processes still running.
func (f *fleet) stop(grace time.Duration) {
	if f == nil {
		return
	}
	f.once.Do(func() {
		var wg sync.WaitGroup
		for _, w := range f.inproc {
			wg.Go(func() {
				w.cancel()
				<-w.done
			})
		}
		for _, p := range f.procs {
			wg.Go(func() { p.stop(grace) })
		}
		wg.Wait()
	})
}

// peakRSSMB is the largest peak RSS of the fleet's processes (nil without processes). Call
// it after stop.
func (f *fleet) peakRSSMB() *float64 {
	if f == nil || len(f.procs) == 0 {
		return nil
	}
	peak := 0.0
	for _, p := range f.procs {
		peak = max(peak, p.peakRSSMB())
	}
	return &peak
}

// workerProcess is a worker run as its own process: `jq-bench noop-worker` or jq-worker.
type workerProcess struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer

	done chan struct{} // closed when the process has been waited for
	err  error
	hwm  float64 // VmHWM sampled while it ran, MB
	mu   sync.Mutex
}

func (r *run) startWorkerProcess(spec fleetSpec, name, addr string) (*workerProcess, error) {
	var cmd *exec.Cmd
	switch spec.kind {
	case noopJobs:
		bin, err := r.benchBin()
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(bin, "noop-worker", "--server-addr", addr, "--worker-id", name,
			"--concurrency", strconv.Itoa(spec.concurrency), "--queue", spec.queue, "--log-level", r.o.LogLevel)
		cmd.Env = append(cleanEnv(), "JQ_TOKEN="+r.token) // not on the command line, where ps shows it
	case commandJobs:
		bin, err := r.workerBin()
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(bin)
		cmd.Env = append(cleanEnv(),
			"JQ_SERVER_ADDR="+addr,
			"JQ_TOKEN="+r.token,
			"JQ_WORKER_ID="+name,
			"JQ_WORKER_CONCURRENCY="+strconv.Itoa(spec.concurrency),
			"JQ_WORKER_QUEUES="+spec.queue,
			"JQ_WORKER_SHUTDOWN_GRACE=5s",
			"JQ_HEALTH_HOST=127.0.0.1", "JQ_HEALTH_PORT=0",
			"JQ_METRICS_ENABLED=false",
			"JQ_LOG_LEVEL="+r.o.LogLevel,
		)
		cmd.Env = append(cmd.Env, spec.env...)
	}
	p := &workerProcess{name: name, cmd: cmd, out: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("worker process %s: %w", name, err)
	}
	cmd.Stderr = io.MultiWriter(p.out, r.stderrLogs())
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("worker process %s: %w", name, err)
	}
	go func() {
		if spec.kind == noopJobs && spec.rec != nil {
			readEvents(stdout, spec.rec, io.MultiWriter(p.out, r.stderrLogs()))
		} else {
			_, _ = io.Copy(io.MultiWriter(p.out, r.stderrLogs()), stdout) // jq-worker logs JSON lines on stdout
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	go p.sampleRSS()
	return p, nil
}

// sampleRSS keeps the process's VmHWM, in case it is killed in a way that loses its rusage.
func (p *workerProcess) sampleRSS() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		p.sampleNow()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

func (p *workerProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process.
func (p *workerProcess) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to worker %s: %w", sig, p.name, err)
	}
	return nil
}

// stop sends SIGTERM (a drain), waits up to grace, then kills.
func (p *workerProcess) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	p.sampleNow()
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a frozen worker must run to drain
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill sends SIGKILL and waits for the process.
func (p *workerProcess) kill() {
	p.sampleNow()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// peakRSSMB is the process's peak RSS: the largest VmHWM sampled while it ran (every 250 ms
// and once more when it is told to stop). Its rusage is no help: Linux carries the parent's
// peak into a child's ru_maxrss across the vfork and exec that started it.
func (p *workerProcess) peakRSSMB() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hwm
}

// sampleNow records the process's VmHWM now.
func (p *workerProcess) sampleNow() {
	if v, ok := procStatusMB(p.cmd.Process.Pid, "VmHWM"); ok {
		p.mu.Lock()
		p.hwm = max(p.hwm, v)
		p.mu.Unlock()
	}
}

// tail is the end of the process's output, for error messages.
func (p *workerProcess) tail() string {
	s := strings.TrimSpace(p.out.String())
	if s == "" {
		return ""
	}
	return "; its last output:\n" + s
}

// children lists the pids of the process's children (its running subprocess jobs).
func (p *workerProcess) children() []int { return childPIDs(p.cmd.Process.Pid) }

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// killPIDs kills the given processes (a killed worker's orphaned subprocess jobs).
func killPIDs(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// cleanEnv is this process's environment without JQ_* settings, which are the bench's to set.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JQ_") {
			env = append(env, kv)
		}
	}
	return env
}

// benchBin is the jq-bench binary for no-op worker processes.
func (r *run) benchBin() (string, error) {
	if r.o.BenchBin != "" {
		return r.o.BenchBin, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the jq-bench binary for worker processes (set --bench-bin): %w", err)
	}
	return exe, nil
}

// workerBin is the jq-worker binary: --worker-bin, else next to jq-bench, else on PATH.
func (r *run) workerBin() (string, error) {
	if r.o.WorkerBin != "" {
		return r.o.WorkerBin, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "jq-worker")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("jq-worker")
	if err != nil {
		return "", errors.New("jq-worker not found next to jq-bench nor on PATH: build it (make build) or set --worker-bin")
	}
	return p, nil
}

// stderrLogs is where worker processes' logs go: stderr below the error level, else nowhere
// (their errors are kept for the error message).
func (r *run) stderrLogs() io.Writer {
	if r.logLevel <= slog.LevelWarn {
		return r.stderr
	}
	return io.Discard
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
