package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	grpclib "google.golang.org/grpc"

	"github.com/jqhq/jq/bench/faultproxy"
	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/pgxuuid"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/worker"
)

// chaosParams are the settings of one chaos scenario run.
type chaosParams struct {
	rate        float64       // jobs offered per second through SubmitJob
	before      time.Duration // load before the fault (the baseline)
	fault       time.Duration // how long the fault lasts
	after       time.Duration // load after the fault ends
	procs       int           // no-op worker processes
	concurrency int           // each one's concurrency
	jobDuration time.Duration // how long each job runs
	drain       time.Duration // how long to wait for the last jobs after the load
	serverBin   string
	pgBindir    string
	logLevel    string
}

// chaosEnv is the running system of a chaos scenario: a PostgreSQL cluster of its own, one or
// two jq-server processes, no-op worker processes writing the execution ledger, optionally
// Redis, Kafka (kfake) and fault-injecting proxies, and the marks the fault left.
type chaosEnv struct {
	r       *run
	p       chaosParams
	cluster *pgCluster
	dbName  string
	pool    *pgxpool.Pool // the harness's, straight to the cluster

	pgProxy     *faultproxy.Proxy   // server ↔ PostgreSQL, when the scenario asks
	workerProxy []*faultproxy.Proxy // worker i ↔ its server, when the scenario asks
	redis       *chaosProc
	kafka       *chaosKafka
	servers     []*chaosProc
	grpcAddrs   []string // each server's own address
	healthAddrs []string
	workers     []*chaosProc
	ledger      string
	serverEnv   []string // extra environment of the servers (Redis, Kafka, timeouts)

	conns []*grpclib.ClientConn
	sub   *submitter
	ready *readiness

	mu         sync.Mutex
	faultStart time.Time
	faultEnd   time.Time
	pgBack     time.Time // PostgreSQL reachable again (the PostgreSQL faults)
	notes      []string
	extra      map[string]any
}

// mark records the fault's start or end (and, for PostgreSQL faults, when it came back).
func (e *chaosEnv) markStart() { e.mu.Lock(); e.faultStart = time.Now(); e.mu.Unlock() }
func (e *chaosEnv) markEnd()   { e.mu.Lock(); e.faultEnd = time.Now(); e.mu.Unlock() }
func (e *chaosEnv) markPGBack() {
	e.mu.Lock()
	e.pgBack = time.Now()
	e.mu.Unlock()
}

func (e *chaosEnv) note(format string, args ...any) {
	e.mu.Lock()
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

func (e *chaosEnv) setExtra(k string, v any) {
	e.mu.Lock()
	if e.extra == nil {
		e.extra = map[string]any{}
	}
	e.extra[k] = v
	e.mu.Unlock()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// setUp starts the system of spec: the cluster, the database, the servers and the workers.
func (e *chaosEnv) setUp(ctx context.Context, spec *chaosScenario) error {
	bindir, err := pgBinDir(e.p.pgBindir)
	if err != nil {
		return err
	}
	maxConn := spec.maxConn
	if maxConn == 0 {
		maxConn = 100
	}
	e.r.progress("starting a PostgreSQL cluster of its own (%s, max_connections %d)", bindir, maxConn)
	if e.cluster, err = startCluster(ctx, bindir, maxConn); err != nil {
		return err
	}
	e.r.onClose(e.cluster.close)
	e.dbName = "jq"
	if err := e.createDatabase(ctx); err != nil {
		return err
	}
	e.r.o.DBURL = e.cluster.url("postgres") // for the report's environment
	dbHost := e.cluster.addr()
	if spec.pgProxy {
		if e.pgProxy, err = faultproxy.Listen(e.cluster.addr()); err != nil {
			return err
		}
		e.r.onClose(func() { _ = e.pgProxy.Close() })
		dbHost = e.pgProxy.Addr()
	}
	e.ledger = filepath.Join(e.cluster.dir, "ledger")
	if spec.setUp != nil {
		if err := spec.setUp(ctx, e); err != nil {
			return err
		}
	}
	for i := range spec.servers {
		grpcPort, err1 := freePort()
		healthPort, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		grpcAddr := "127.0.0.1:" + strconv.Itoa(grpcPort)
		e.grpcAddrs = append(e.grpcAddrs, grpcAddr)
		e.healthAddrs = append(e.healthAddrs, "127.0.0.1:"+strconv.Itoa(healthPort))
		env := []string{
			"JQ_DB_URL=postgres://postgres@" + dbHost + "/" + e.dbName + "?sslmode=disable",
			"JQ_DB_MIGRATE_ON_START=false",
			"JQ_GRPC_HOST=127.0.0.1", "JQ_GRPC_PORT=" + strconv.Itoa(grpcPort),
			"JQ_HEALTH_HOST=127.0.0.1", "JQ_HEALTH_PORT=" + strconv.Itoa(healthPort),
			"JQ_METRICS_ENABLED=false",
			"JQ_AUTH_MODE=none",
			"JQ_GRPC_SHUTDOWN_GRACE=5s",
			"JQ_LOG_LEVEL=" + e.p.logLevel,
		}
		env = append(env, e.serverEnv...)
		if spec.serverEnv != nil {
			env = append(env, spec.serverEnv(e.p)...)
		}
		s := newChaosProc(fmt.Sprintf("jq-server-%d", i), e.p.serverBin, nil, env, e.r.stderrLogs())
		if err := s.start(); err != nil {
			return err
		}
		e.servers = append(e.servers, s)
		e.r.onClose(func() { s.stop(10 * time.Second) })
	}
	for i := range e.servers {
		if err := e.waitReady(ctx, i, 60*time.Second); err != nil {
			return err
		}
	}
	for _, a := range e.grpcAddrs {
		conn, err := client.Dial(a, client.Options{})
		if err != nil {
			return err
		}
		e.r.onClose(func() { _ = conn.Close() })
		e.conns = append(e.conns, conn)
	}
	bench, err := e.r.benchBin()
	if err != nil {
		return err
	}
	var names []string
	for i := range e.p.procs {
		name := fmt.Sprintf("jq-chaos-%s-%d", e.r.id, i)
		names = append(names, name)
		addr := e.grpcAddrs[i%len(e.grpcAddrs)]
		if spec.workerProxy {
			px, err := faultproxy.Listen(addr)
			if err != nil {
				return err
			}
			e.r.onClose(func() { _ = px.Close() })
			e.workerProxy = append(e.workerProxy, px)
			addr = px.Addr()
		}
		args := []string{"noop-worker", "--server-addr", addr, "--worker-id", name,
			"--concurrency", strconv.Itoa(e.p.concurrency), "--queue", "default", "--log-level", e.p.logLevel,
			"--ledger", e.ledger, "--job-duration", e.p.jobDuration.String()}
		w := newChaosProc(name, bench, args, nil, e.r.stderrLogs())
		if err := w.start(); err != nil {
			return err
		}
		e.workers = append(e.workers, w)
		e.r.onClose(func() { w.stop(10 * time.Second) })
	}
	return e.waitWorkers(ctx, names)
}

// createDatabase creates and migrates the run's database on the cluster and opens the
// harness's pool.
func (e *chaosEnv) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.cluster.url("postgres"))
	if err != nil {
		return fmt.Errorf("connect to the cluster: %w", err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+e.dbName)
	_ = conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	m, err := db.NewMigrator(e.cluster.url(e.dbName), nil)
	if err == nil {
		err = m.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pc, err := pgxpool.ParseConfig(e.cluster.url(e.dbName))
	if err != nil {
		return err
	}
	pc.MaxConns = 2
	pc.AfterConnect = pgxuuid.Register
	if e.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	e.r.onClose(e.pool.Close)
	return nil
}

// readyz asks server i's /readyz; true on 200.
func (e *chaosEnv) readyz(ctx context.Context, i int) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.healthAddrs[i]+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady waits until server i answers /readyz with 200.
func (e *chaosEnv) waitReady(ctx context.Context, i int, limit time.Duration) error {
	s := e.servers[i]
	err := waitFor(ctx, limit, s.name+" ready", func() bool { return !s.running() || e.readyz(ctx, i) })
	if err == nil && !s.running() {
		err = fmt.Errorf("%s exited: %v%s", s.name, s.summary().Exits, tailOf(s))
	}
	return err
}

func tailOf(p *chaosProc) string {
	if t := strings.TrimSpace(p.tail.String()); t != "" {
		return "; its last output:\n" + lastLines(t, 30)
	}
	return ""
}

// waitWorkers waits until the named workers are connected to a server.
func (e *chaosEnv) waitWorkers(ctx context.Context, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		id, _ := worker.ResolveID(n)
		want[id.String()] = true
	}
	var last error
	err := waitFor(ctx, 60*time.Second, "workers connected", func() bool {
		for _, w := range e.workers {
			if !w.running() {
				last = fmt.Errorf("%s exited%s", w.name, tailOf(w))
				return true
			}
		}
		// Each server knows the streams it holds: ask them all.
		seen := map[string]bool{}
		for _, conn := range e.conns {
			resp, err := jqv1.NewAdminServiceClient(conn).ListWorkers(ctx, &jqv1.ListWorkersRequest{Status: jqv1.WorkerStatus_WORKER_STATUS_ONLINE, Limit: 1000})
			if err != nil {
				last = err
				return false
			}
			for _, w := range resp.GetWorkers() {
				if want[w.GetWorkerId()] && w.GetConnected() {
					seen[w.GetWorkerId()] = true
				}
			}
		}
		n := len(seen)
		last = fmt.Errorf("%d of %d workers connected", n, len(want))
		return n == len(want)
	})
	if err != nil {
		return fmt.Errorf("%w (%w)", err, last)
	}
	for _, w := range e.workers {
		if !w.running() {
			return last
		}
	}
	return nil
}

// submitter offers the load: one SubmitJob per tick of the rate, each job numbered
// ({"seq": n}) and keyed (idempotency_key seq-n), so that a call retried after an ambiguous
// failure never makes a second job. A call that fails is retried (on the next server, after
// 100-500 ms) for up to retryFor; the job then counts as not accepted.
type submitter struct {
	clients  []jqv1.JobServiceClient
	retryFor time.Duration
	probe    bool // capacity probe: payloads {"probe": n}, keys probe-n

	mu      sync.Mutex
	recs    []submitRec
	skipped atomic.Int64  // ticks dropped because too many calls were pending
	end     atomic.Int64  // Unix ns; 0 until stop
	rate    atomic.Uint64 // float64 bits: jobs/s
	wg      sync.WaitGroup
}

type submitRec struct {
	at, acked time.Time
	jobID     string
	tries     int
	err       error
}

const maxPendingSubmits = 4096

// run offers rate jobs/s (or what setRate set since) until the end set by stop.
func (s *submitter) run(ctx context.Context, rate float64) {
	sem := make(chan struct{}, maxPendingSubmits)
	s.setRate(rate)
	at := time.Now()
	for seq := 0; ; seq++ {
		if seq > 0 {
			at = at.Add(time.Duration(float64(time.Second) / math.Float64frombits(s.rate.Load())))
		}
		if end := s.end.Load(); end != 0 && at.UnixNano() >= end {
			break
		}
		if d := time.Until(at); d > 0 {
			if sleep(ctx, d) != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			s.skipped.Add(1)
			continue
		}
		s.mu.Lock()
		s.recs = append(s.recs, submitRec{at: time.Now()})
		idx := len(s.recs) - 1
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() { <-sem }()
			s.submit(ctx, idx)
		})
	}
	s.wg.Wait()
}

// setRate changes the offered rate from the next tick on.
func (s *submitter) setRate(r float64) { s.rate.Store(math.Float64bits(r)) }

// stop makes run offer nothing at or after end.
func (s *submitter) stop(end time.Time) { s.end.Store(end.UnixNano()) }

func (s *submitter) submit(ctx context.Context, seq int) {
	deadline := time.Now().Add(s.retryFor)
	req := &jqv1.SubmitJobRequest{QueueName: "default", Payload: seqPayload(seq), IdempotencyKey: "seq-" + strconv.Itoa(seq)}
	if s.probe {
		req.Payload, req.IdempotencyKey = []byte(`{"probe":`+strconv.Itoa(seq)+`}`), "probe-"+strconv.Itoa(seq)
	}
	var err error
	for try := 0; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var resp *jqv1.SubmitJobResponse
		resp, err = s.clients[(seq+try)%len(s.clients)].SubmitJob(cctx, req)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.recs[seq].acked, s.recs[seq].jobID, s.recs[seq].tries = time.Now(), resp.GetJobId(), try+1
			s.mu.Unlock()
			return
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		if sleep(ctx, min(time.Duration(try+1)*100*time.Millisecond, 500*time.Millisecond)) != nil {
			break
		}
	}
	s.mu.Lock()
	s.recs[seq].err = err
	s.mu.Unlock()
}

// readiness samples every server's /readyz every 100 ms.
type readiness struct {
	mu      sync.Mutex
	samples [][]readySample // by server
}

type readySample struct {
	at    time.Time
	ready bool
}

func (e *chaosEnv) sampleReadiness(ctx context.Context) {
	e.ready = &readiness{samples: make([][]readySample, len(e.servers))}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			for i := range e.servers {
				ok := e.readyz(ctx, i)
				e.ready.mu.Lock()
				e.ready.samples[i] = append(e.ready.samples[i], readySample{time.Now(), ok})
				e.ready.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// chaosFigures are what a chaos run measured.
type chaosFigures struct {
	Offered          int           `json:"offered"`
	Accepted         int           `json:"accepted"`
	NotAccepted      int           `json:"not_accepted"`
	Retried          int           `json:"submits_retried"` // accepted after more than one call
	SkippedTicks     int64         `json:"skipped_ticks"`
	JobsInDB         int           `json:"jobs_in_db"`
	Done             int           `json:"done"`
	Lost             int           `json:"lost"`
	LostDetail       []string      `json:"lost_detail,omitempty"`
	Doubled          int           `json:"doubled"`
	DoubledCutOff    int           `json:"doubled_cut_off"`
	Executions       int           `json:"executions"`
	TornLedgerLines  int           `json:"torn_ledger_lines"`
	BaselineJobsPerS float64       `json:"baseline_jobs_per_s"`
	DuringJobsPerS   float64       `json:"during_jobs_per_s"`
	DuringOverBefore float64       `json:"during_over_before"`
	RecoveryS        float64       `json:"recovery_s"` // -1: not back to 90 % before the load ended
	FaultS           float64       `json:"fault_s"`
	ServedAgainS     *float64      `json:"served_again_s,omitempty"` // PostgreSQL back → first accepted submit
	ReadyAgainS      *float64      `json:"ready_again_s,omitempty"`  // PostgreSQL back → every server ready
	NotReadySeen     *bool         `json:"not_ready_seen,omitempty"` // a server reported not ready during the fault
	P99Before        float64       `json:"submit_to_start_p99_before_ms"`
	P99During        float64       `json:"submit_to_start_p99_during_ms"`
	P99After         float64       `json:"submit_to_start_p99_after_ms"`
	MaxDuring        float64       `json:"submit_to_start_max_during_ms"`
	UnexpectedExits  int           `json:"unexpected_exits"`
	ServerPeakRSSMB  float64       `json:"server_peak_rss_mb"`
	WorkerPeakRSSMB  float64       `json:"worker_peak_rss_mb"`
	Processes        []procSummary `json:"processes"`
}

// dbJob is a job as the database has it at the end.
type dbJob struct {
	id      string
	seq     int
	status  string
	attempt int
}

// analyse compares what was accepted, what the database says and what the ledger holds.
func (e *chaosEnv) analyse(ctx context.Context, loadStart, loadEnd time.Time, allowance time.Duration) (chaosFigures, error) {
	var f chaosFigures
	rows, err := e.pool.Query(ctx, `SELECT job_id::text, coalesce((payload->>'seq')::int, -1), status::text, attempt FROM jq.jobs`)
	if err != nil {
		return f, fmt.Errorf("read the jobs: %w", err)
	}
	jobs := map[string]dbJob{}
	for rows.Next() {
		var j dbJob
		if err := rows.Scan(&j.id, &j.seq, &j.status, &j.attempt); err != nil {
			rows.Close()
			return f, fmt.Errorf("read the jobs: %w", err)
		}
		jobs[j.id] = j
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("read the jobs: %w", err)
	}
	execs, torn, err := readLedger(e.ledger)
	if err != nil {
		return f, err
	}
	f.Executions, f.TornLedgerLines, f.JobsInDB = len(execs), torn, len(jobs)
	byJob := map[string][]execution{}
	for _, x := range execs {
		byJob[x.jobID] = append(byJob[x.jobID], x)
	}

	lost := map[string]string{}
	e.sub.mu.Lock()
	recs := slices.Clone(e.sub.recs)
	e.sub.mu.Unlock()
	f.Offered, f.SkippedTicks = len(recs), e.sub.skipped.Load()
	for seq, rec := range recs {
		if rec.jobID == "" {
			f.NotAccepted++
			continue
		}
		f.Accepted++
		if rec.tries > 1 {
			f.Retried++
		}
		if _, ok := jobs[rec.jobID]; !ok {
			lost[rec.jobID] = fmt.Sprintf("seq %d: accepted as %s, absent from the database", seq, rec.jobID)
		}
	}
	for id, j := range jobs {
		switch {
		case j.status != "DONE":
			lost[id] = fmt.Sprintf("seq %d (%s): %s at the end, attempt %d", j.seq, id, j.status, j.attempt)
		case len(byJob[id]) == 0:
			lost[id] = fmt.Sprintf("seq %d (%s): DONE but never executed (not in the ledger)", j.seq, id)
		default:
			f.Done++
		}
	}
	f.Lost = len(lost)
	for _, d := range lost {
		f.LostDetail = append(f.LostDetail, d)
	}
	sort.Strings(f.LostDetail)
	if len(f.LostDetail) > 20 {
		f.LostDetail = append(f.LostDetail[:20], fmt.Sprintf("… and %d more", len(lost)-20))
	}

	e.mu.Lock()
	faultStart, faultEnd, pgBack := e.faultStart, e.faultEnd, e.pgBack
	e.mu.Unlock()
	cutOffBy := faultEnd.Add(allowance).UnixNano()
	for id, xs := range byJob {
		if len(xs) < 2 {
			continue
		}
		f.Doubled++
		final := jobs[id].attempt
		cut := true
		attempts := map[int]int{}
		for _, x := range xs {
			attempts[x.attempt]++
		}
		for a, n := range attempts {
			if n > 1 {
				cut = false // the same attempt ran twice: no fence cut it off
			}
			if a > final {
				cut = false
			}
		}
		for _, x := range xs {
			if x.attempt < final && (x.start > cutOffBy || x.end < faultStart.Add(-allowance).UnixNano()) {
				cut = false // an earlier attempt that did not overlap the fault
			}
		}
		if cut {
			f.DoubledCutOff++
		}
	}

	// Throughput: each job's completing execution (its final attempt, else its last), by end time.
	var ends []int64
	firstStart := map[string]int64{}
	for id, xs := range byJob {
		best := xs[0]
		for _, x := range xs {
			if x.attempt == jobs[id].attempt || x.end > best.end && best.attempt != jobs[id].attempt {
				best = x
			}
			if s, ok := firstStart[id]; !ok || x.start < s {
				firstStart[id] = x.start
			}
		}
		ends = append(ends, best.end)
	}
	slices.Sort(ends)
	count := func(from, to time.Time) int {
		a, _ := slices.BinarySearch(ends, from.UnixNano())
		b, _ := slices.BinarySearch(ends, to.UnixNano())
		return b - a
	}
	warm := loadStart.Add(min(time.Second, faultStart.Sub(loadStart)/4))
	if d := faultStart.Sub(warm).Seconds(); d > 0 {
		f.BaselineJobsPerS = round(float64(count(warm, faultStart))/d, 1)
	}
	f.FaultS = round(faultEnd.Sub(faultStart).Seconds(), 3)
	if d := faultEnd.Sub(faultStart).Seconds(); d > 0 {
		f.DuringJobsPerS = round(float64(count(faultStart, faultEnd))/d, 1)
	}
	if f.BaselineJobsPerS > 0 {
		f.DuringOverBefore = round(f.DuringJobsPerS/f.BaselineJobsPerS, 3)
	}
	f.RecoveryS = -1
	need := int(math.Ceil(0.9 * f.BaselineJobsPerS))
	for t := faultEnd; !t.Add(time.Second).After(loadEnd); t = t.Add(50 * time.Millisecond) {
		if count(t, t.Add(time.Second)) >= need {
			f.RecoveryS = round(t.Add(time.Second).Sub(faultEnd).Seconds(), 3)
			break
		}
	}

	if !pgBack.IsZero() {
		var first time.Time
		for _, rec := range recs {
			if !rec.acked.IsZero() && rec.acked.After(pgBack) && (first.IsZero() || rec.acked.Before(first)) {
				first = rec.acked
			}
		}
		if !first.IsZero() {
			f.ServedAgainS = ptr(round(first.Sub(pgBack).Seconds(), 3))
		}
		e.ready.mu.Lock()
		notReady := false
		var readyAgain time.Time
		for _, ss := range e.ready.samples {
			var back time.Time
			for _, s := range ss {
				if s.at.After(faultStart) && s.at.Before(pgBack) && !s.ready {
					notReady = true
				}
				if s.at.After(pgBack) && s.ready && back.IsZero() {
					back = s.at
				}
			}
			if back.IsZero() {
				back = loadEnd.Add(time.Hour)
			}
			if back.After(readyAgain) {
				readyAgain = back
			}
		}
		e.ready.mu.Unlock()
		f.NotReadySeen = &notReady
		if readyAgain.Before(loadEnd.Add(time.Hour)) {
			f.ReadyAgainS = ptr(round(readyAgain.Sub(pgBack).Seconds(), 3))
		}
	}

	var before, during, after []time.Duration
	for _, rec := range recs {
		s, ok := firstStart[rec.jobID]
		if rec.jobID == "" || !ok {
			continue
		}
		d := time.Duration(s - rec.at.UnixNano())
		// A job submitted before the fault but started after it began waited for the fault:
		// it counts as during.
		switch {
		case rec.at.Before(faultStart) && s < faultStart.UnixNano():
			before = append(before, d)
		case rec.at.Before(faultStart):
			during = append(during, d)
		case rec.at.Before(faultEnd):
			during = append(during, d)
		default:
			after = append(after, d)
		}
	}
	p99 := func(ds []time.Duration) float64 {
		if p := percentiles(ds); p != nil {
			return p.P99
		}
		return 0
	}
	f.P99Before, f.P99During, f.P99After = p99(before), p99(during), p99(after)
	if p := percentiles(during); p != nil {
		f.MaxDuring = p.Max
	}

	for _, p := range e.servers {
		f.UnexpectedExits += len(p.unexpectedExits())
		f.ServerPeakRSSMB = max(f.ServerPeakRSSMB, p.peakRSSMB())
		f.Processes = append(f.Processes, p.summary())
	}
	for _, p := range e.workers {
		f.UnexpectedExits += len(p.unexpectedExits())
		f.WorkerPeakRSSMB = max(f.WorkerPeakRSSMB, p.peakRSSMB())
		f.Processes = append(f.Processes, p.summary())
	}
	return f, nil
}

// waitSettled waits until every job in the database is DONE or DEAD_LETTERED, up to limit.
func (e *chaosEnv) waitSettled(ctx context.Context, limit time.Duration) error {
	var left int
	err := waitFor(ctx, limit, "every job finished", func() bool {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := e.pool.QueryRow(qctx, `SELECT count(*) FROM jq.jobs WHERE status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')`).Scan(&left); err != nil {
			left = -1
			return false
		}
		return left == 0
	})
	if err != nil {
		return fmt.Errorf("%w (%d left)", err, left)
	}
	return nil
}

// jobClient is the JobService client of a connection.
func jobClient(c *grpclib.ClientConn) jqv1.JobServiceClient { return jqv1.NewJobServiceClient(c) }

// freePortTaken tells whether something listens on the loopback port.
func freePortTaken(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
