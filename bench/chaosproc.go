package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// chaosProc is a process of a chaos run (a jq-server or a no-op worker) that the scenario may
// kill and start again: it keeps every exit with its status and whether the harness caused
// it, and the peak RSS over all its lives.
type chaosProc struct {
	name string
	bin  string
	args []string
	env  []string
	logs io.Writer // where its output goes besides the tail

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current life has been waited for
	expected bool          // the current life's end was asked for (kill, stop)
	exits    []procExit
	hwm      float64
	tail     *tailBuffer
	lives    int
}

// procExit is how one life of a process ended.
type procExit struct {
	Status   string `json:"status"`
	Expected bool   `json:"expected"` // the harness killed or stopped it
	At       string `json:"at"`
}

func newChaosProc(name, bin string, args, env []string, logs io.Writer) *chaosProc {
	return &chaosProc{name: name, bin: bin, args: args, env: env, logs: logs, tail: &tailBuffer{max: 8 << 10}}
}

// start starts a new life of the process.
func (p *chaosProc) start() error {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(cleanEnv(), p.env...)
	out := io.MultiWriter(p.tail, p.logs)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.expected = cmd, done, false
	p.lives++
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		status := "exit 0"
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.String()
		} else if err != nil {
			status = err.Error()
		}
		p.mu.Lock()
		p.exits = append(p.exits, procExit{Status: status, Expected: p.expected, At: time.Now().UTC().Format(time.RFC3339Nano)})
		p.mu.Unlock()
		close(done)
	}()
	go p.sampleRSS(cmd.Process.Pid, done)
	return nil
}

func (p *chaosProc) sampleRSS(pid int, done chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if v, ok := procStatusMB(pid, "VmHWM"); ok {
			p.mu.Lock()
			p.hwm = max(p.hwm, v)
			p.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// running tells whether the current life goes on.
func (p *chaosProc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig to the current life, marking its end as expected, and waits up to wait
// for it to exit (0: no wait); then it kills it.
func (p *chaosProc) signal(sig syscall.Signal, wait time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.mu.Unlock()
	if cmd == nil || !p.running() {
		return
	}
	if v, ok := procStatusMB(cmd.Process.Pid, "VmHWM"); ok {
		p.mu.Lock()
		p.hwm = max(p.hwm, v)
		p.mu.Unlock()
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

// kill sends SIGKILL and waits.
func (p *chaosProc) kill() { p.signal(syscall.SIGKILL, time.Minute) }

// stop drains it with SIGTERM, killing it after grace.
func (p *chaosProc) stop(grace time.Duration) { p.signal(syscall.SIGTERM, grace) }

// unexpectedExits lists the lives that ended without the harness asking.
func (p *chaosProc) unexpectedExits() []procExit {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []procExit
	for _, e := range p.exits {
		if !e.Expected {
			out = append(out, e)
		}
	}
	return out
}

func (p *chaosProc) peakRSSMB() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hwm
}

// procSummary is a process's record in the report.
type procSummary struct {
	Name      string     `json:"name"`
	Lives     int        `json:"lives"`
	Exits     []procExit `json:"exits"`
	PeakRSSMB float64    `json:"peak_rss_mb"`
}

func (p *chaosProc) summary() procSummary {
	p.mu.Lock()
	defer p.mu.Unlock()
	return procSummary{Name: p.name, Lives: p.lives, Exits: append([]procExit(nil), p.exits...), PeakRSSMB: p.hwm}
}

// waitFor polls cond every 50 ms until it holds or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %s: %w", what, limit, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// stopAll stops the processes at once, each with grace.
func stopAll(ps []*chaosProc, grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.stop(grace) })
	}
	wg.Wait()
}
