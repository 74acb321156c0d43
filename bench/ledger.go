package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jqhq/jq/worker"
)

// The execution ledger of the chaos scenarios: every execution of a job by a no-op worker
// process appends one line, "job_id seq attempt start_ns end_ns", to a file shared by all the
// worker processes of the run (O_APPEND: each line is one write, so lines of different
// processes never interleave). The line is written by the process that executed the job,
// before the result is reported, so a job the server marked DONE is in the ledger whatever
// happens to the worker afterwards; the ledger is independent of the database's own notion
// of DONE.

// openLedger opens the ledger for appending.
func openLedger(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return f, nil
}

// ledgerHandler runs each job for d (a sleep that ends with the job's context), appends its
// line to l (when not nil), then calls next. A failed append fails the job, which is retried.
func ledgerHandler(l *os.File, d time.Duration, next worker.Handler) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, job worker.Job) ([]byte, error) {
		start := time.Now().UnixNano()
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		if l != nil {
			b := make([]byte, 0, 96)
			b = append(b, job.ID...)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(payloadSeq(job.Payload)), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(job.Attempt), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, start, 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
			b = append(b, '\n')
			if _, err := l.Write(b); err != nil {
				return nil, fmt.Errorf("ledger: %w", err)
			}
		}
		return next.Handle(ctx, job)
	})
}

// execution is one line of the ledger.
type execution struct {
	jobID      string
	seq        int
	attempt    int
	start, end int64 // Unix ns
}

// readLedger reads every complete line of the ledger (a line cut by a SIGKILL mid-write is
// not complete: it is skipped and counted).
func readLedger(path string) (execs []execution, torn int, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			torn++
			continue
		}
		var e execution
		var errs [4]error
		e.jobID = fs[0]
		e.seq, errs[0] = strconv.Atoi(fs[1])
		e.attempt, errs[1] = strconv.Atoi(fs[2])
		e.start, errs[2] = strconv.ParseInt(fs[3], 10, 64)
		e.end, errs[3] = strconv.ParseInt(fs[4], 10, 64)
		if errs[0] != nil || errs[1] != nil || errs[2] != nil || errs[3] != nil {
			torn++
			continue
		}
		execs = append(execs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("ledger: %w", err)
	}
	return execs, torn, nil
}
