package console

import (
	"context"
	"math"
	"time"

	jqgrpc "github.com/jqhq/jq/grpc"
)

const (
	// countCap is the most jobs of one queue in one status counted exactly; above it the count
	// is estimated. Counting 10,000 index entries takes about a millisecond; counting a million
	// takes a tenth of a second, and a page shows dozens of counts.
	countCap = 10000
	// sampleRows is about how many rows the estimate samples.
	sampleRows = 30000
)

// counts are the jobs per queue and status, exact up to countCap and estimated above.
type counts struct {
	// Statuses are the database's job statuses, in lifecycle order.
	Statuses []string
	// n[queue][status] is the count; estimated[queue][status] marks estimates.
	n         map[string]map[string]int64
	estimated map[string]map[string]bool
	// SamplePct is the share of the table's pages the estimates come from (0: all exact).
	SamplePct float64
	// TableRows is the planner's row count of jq.jobs, said on the page with the estimates.
	TableRows int64
	// Cap is the most counted exactly.
	Cap int
	At  time.Time
}

// count is one figure as a page shows it.
type count struct {
	N         int64
	Estimated bool
}

// get returns the count of one queue and status.
func (c *counts) get(queue, status string) count {
	return count{N: c.n[queue][status], Estimated: c.estimated[queue][status]}
}

// total sums a status over the queues p may see.
func (c *counts) total(p *jqgrpc.Principal, status string) count {
	var t count
	for q, byStatus := range c.n {
		if !p.MayUse(q) {
			continue
		}
		t.N += byStatus[status]
		t.Estimated = t.Estimated || c.estimated[q][status]
	}
	return t
}

// countCache computes counts at most once per cacheTTL, for every caller.
type countCache struct {
	db  *reader
	now func() time.Time
	// limit is countCap (tests lower it).
	limit int
	cache *cache[*counts]
}

func newCountCache(db *reader, now func() time.Time) *countCache {
	return &countCache{db: db, now: now, limit: countCap, cache: newCache[*counts](cacheTTL, now)}
}

func (cc *countCache) get(ctx context.Context) (*counts, error) {
	c, _, err := cc.cache.get(ctx, "", cc.compute)
	return c, err
}

// compute counts every queue and status up to countCap, then estimates the pairs that reached
// it from a sample of the table: its cost is bounded by the number of queues and statuses, not
// by the number of jobs.
func (cc *countCache) compute(ctx context.Context) (*counts, error) {
	statuses, err := cc.db.statuses(ctx)
	if err != nil {
		return nil, err
	}
	capped, err := cc.db.cappedCounts(ctx, cc.limit)
	if err != nil {
		return nil, err
	}
	c := &counts{Statuses: statuses, n: map[string]map[string]int64{}, estimated: map[string]map[string]bool{}}
	var over []pairCount
	for _, p := range capped {
		if c.n[p.Queue] == nil {
			c.n[p.Queue] = map[string]int64{}
			c.estimated[p.Queue] = map[string]bool{}
		}
		c.n[p.Queue][p.Status] = p.N
		if p.N >= int64(cc.limit) {
			over = append(over, p)
		}
	}
	if len(over) > 0 {
		if err := cc.estimate(ctx, c, over); err != nil {
			return nil, err
		}
	}
	c.At = cc.now()
	return c, nil
}

// estimate replaces the capped counts of over with estimates from a page sample sized for
// about sampleRows rows; an estimate is never below the cap, which was counted.
func (cc *countCache) estimate(ctx context.Context, c *counts, over []pairCount) error {
	rows, err := cc.db.tableRows(ctx)
	if err != nil {
		return err
	}
	// A table never analyzed says -1: it holds at least what was counted.
	rows = max(rows, int64(len(over)*cc.limit))
	pct := math.Min(100, math.Max(0.01, 100*float64(sampleRows)/float64(rows)))
	sample, err := cc.db.sampledCounts(ctx, pct)
	if err != nil {
		return err
	}
	sampled := map[[2]string]int64{}
	for _, s := range sample {
		sampled[[2]string{s.Queue, s.Status}] = s.N
	}
	for _, p := range over {
		est := int64(math.Round(float64(sampled[[2]string{p.Queue, p.Status}]) * 100 / pct))
		c.n[p.Queue][p.Status] = max(roundSignificant(est, 3), int64(cc.limit))
		c.estimated[p.Queue][p.Status] = true
	}
	c.SamplePct, c.TableRows, c.Cap = pct, rows, cc.limit
	return nil
}

// roundSignificant rounds n to digits significant digits: an estimate shows no false precision.
func roundSignificant(n int64, digits int) int64 {
	if n <= 0 {
		return n
	}
	mag := int64(math.Pow(10, math.Max(0, math.Floor(math.Log10(float64(n)))-float64(digits-1))))
	return (n + mag/2) / mag * mag
}
