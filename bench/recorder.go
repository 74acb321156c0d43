package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jqhq/jq/worker"
)

// recorder collects what the no-op handlers saw: how many jobs ran, the first start and the
// last end, and, for jobs numbered in their payload ({"seq": n}), when each was submitted,
// started and ended (Unix nanoseconds, one clock for the whole host).
type recorder struct {
	done  atomic.Int64
	first atomic.Int64 // earliest handler start
	last  atomic.Int64 // latest handler end

	// By seq; empty when jobs are not numbered. answer is when the submit call returned.
	submit, answer, start, end []atomic.Int64
}

// newRecorder returns a recorder for up to numbered numbered jobs.
func newRecorder(numbered int) *recorder {
	r := &recorder{
		submit: make([]atomic.Int64, numbered),
		answer: make([]atomic.Int64, numbered),
		start:  make([]atomic.Int64, numbered),
		end:    make([]atomic.Int64, numbered),
	}
	r.first.Store(math.MaxInt64)
	return r
}

// observe records one run of a job; seq < 0 for an unnumbered job.
func (r *recorder) observe(seq int, start, end int64) {
	if seq >= 0 && seq < len(r.start) {
		r.start[seq].Store(start)
		r.end[seq].Store(end)
	}
	for {
		f := r.first.Load()
		if start >= f || r.first.CompareAndSwap(f, start) {
			break
		}
	}
	for {
		l := r.last.Load()
		if end <= l || r.last.CompareAndSwap(l, end) {
			break
		}
	}
	r.done.Add(1)
}

// handler is the no-op job handler that records each run.
func (r *recorder) handler() worker.Handler {
	return worker.HandlerFunc(func(_ context.Context, job worker.Job) ([]byte, error) {
		start := time.Now().UnixNano()
		seq := payloadSeq(job.Payload)
		r.observe(seq, start, time.Now().UnixNano())
		return nil, nil
	})
}

// wrap records the runs of another handler (worker.Exec, for in-process subprocess jobs).
func (r *recorder) wrap(h worker.Handler) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, job worker.Job) ([]byte, error) {
		start := time.Now().UnixNano()
		res, err := h.Handle(ctx, job)
		r.observe(payloadSeq(job.Payload), start, time.Now().UnixNano())
		return res, err
	})
}

// waitDone waits until at least n jobs have run.
func (r *recorder) waitDone(ctx context.Context, n int, failed func() error) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; r.done.Load() < int64(n); i++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs ran: %w", r.done.Load(), n, context.Cause(ctx))
		case <-tick.C:
		}
		if failed != nil && i%100 == 99 {
			if err := failed(); err != nil {
				return err
			}
		}
	}
	return nil
}

// seqPayload is the payload of numbered job seq.
func seqPayload(seq int) []byte {
	return append(strconv.AppendInt([]byte(`{"seq":`), int64(seq), 10), '}')
}

var seqKey = []byte(`"seq":`)

// payloadSeq reads the number of a seqPayload; -1 for any other payload.
func payloadSeq(p []byte) int {
	i := bytes.Index(p, seqKey)
	if i < 0 {
		return -1
	}
	rest := bytes.TrimLeft(p[i+len(seqKey):], " ")
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(string(rest[:end]))
	if err != nil {
		return -1
	}
	return n
}

// A no-op worker process (jq-bench noop-worker) reports each run to its parent as one line
// on stdout: "seq start end" (Unix nanoseconds). eventWriter writes them, readEvents reads.

// eventWriter buffers event lines and flushes them every few milliseconds.
type eventWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newEventWriter(w io.Writer) *eventWriter {
	return &eventWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// handler is the no-op job handler of a worker process.
func (e *eventWriter) handler() worker.Handler {
	return worker.HandlerFunc(func(_ context.Context, job worker.Job) ([]byte, error) {
		start := time.Now().UnixNano()
		seq := payloadSeq(job.Payload)
		end := time.Now().UnixNano()
		var line [64]byte
		b := strconv.AppendInt(line[:0], int64(seq), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, start, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, end, 10)
		b = append(b, '\n')
		e.mu.Lock()
		_, _ = e.w.Write(b)
		e.mu.Unlock()
		return nil, nil
	})
}

// flushEvery flushes the buffered lines every interval until ctx ends, then once more.
func (e *eventWriter) flushEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.flush()
			return
		case <-t.C:
			e.flush()
		}
	}
}

func (e *eventWriter) flush() {
	e.mu.Lock()
	_ = e.w.Flush()
	e.mu.Unlock()
}

// readEvents feeds the event lines of a worker process into rec until r ends; other lines
// go to other (nil: dropped).
func readEvents(r io.Reader, rec *recorder, other io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		f := bytes.Fields(line)
		if len(f) == 3 {
			seq, err1 := strconv.Atoi(string(f[0]))
			start, err2 := strconv.ParseInt(string(f[1]), 10, 64)
			end, err3 := strconv.ParseInt(string(f[2]), 10, 64)
			if err1 == nil && err2 == nil && err3 == nil {
				rec.observe(seq, start, end)
				continue
			}
		}
		if other != nil {
			_, _ = other.Write(append(line, '\n'))
		}
	}
	_, _ = io.Copy(io.Discard, r)
}
