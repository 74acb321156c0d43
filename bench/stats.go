package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// percentiles computes exact percentiles (nearest rank) of durations, in milliseconds. It
// sorts its argument. Nil when there is nothing to summarise.
func percentiles(ds []time.Duration) *Percentiles {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ds)))) - 1
		i = min(max(i, 0), len(ds)-1)
		return ms(ds[i])
	}
	return &Percentiles{
		Count: len(ds),
		P50:   at(0.50),
		P90:   at(0.90),
		P99:   at(0.99),
		Max:   ms(ds[len(ds)-1]),
	}
}

// ms converts a duration to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// histogram is a snapshot of a Prometheus histogram: cumulative counts per upper bound
// (ascending, +Inf last) and the total count.
type histogram struct {
	bounds []float64
	counts []float64 // cumulative
	total  float64
}

// sub returns the observations made between an earlier snapshot and h.
func (h histogram) sub(earlier histogram) histogram {
	if len(earlier.counts) != len(h.counts) {
		return h
	}
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), total: h.total - earlier.total}
	for i := range h.counts {
		out.counts[i] = h.counts[i] - earlier.counts[i]
	}
	return out
}

// quantile estimates the q-quantile the way PromQL's histogram_quantile does: find the bucket
// holding the rank and interpolate linearly inside it (from 0 for the first bucket). A rank in
// the +Inf bucket returns the highest finite bound. ok is false without observations.
func (h histogram) quantile(q float64) (v float64, ok bool) {
	if h.total <= 0 || len(h.bounds) == 0 {
		return 0, false
	}
	rank := q * h.total
	for i, c := range h.counts {
		if c < rank {
			continue
		}
		upper := h.bounds[i]
		if math.IsInf(upper, 1) {
			if i == 0 {
				return 0, true
			}
			return h.bounds[i-1], true
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = h.bounds[i-1], h.counts[i-1]
		}
		inBucket := c - below
		if inBucket <= 0 {
			return upper, true
		}
		return lower + (upper-lower)*(rank-below)/inBucket, true
	}
	return h.bounds[len(h.bounds)-1], true
}

// gatherHistogram reads the unlabelled histogram called name from g.
func gatherHistogram(g prometheus.Gatherer, name string) (histogram, error) {
	families, err := g.Gather()
	if err != nil {
		return histogram{}, fmt.Errorf("gather metrics: %w", err)
	}
	for _, f := range families {
		if f.GetName() != name || len(f.GetMetric()) == 0 {
			continue
		}
		ph := f.GetMetric()[0].GetHistogram()
		var h histogram
		for _, b := range ph.GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.counts = append(h.counts, float64(b.GetCumulativeCount()))
		}
		h.bounds = append(h.bounds, math.Inf(1))
		h.counts = append(h.counts, float64(ph.GetSampleCount()))
		h.total = float64(ph.GetSampleCount())
		return h, nil
	}
	return histogram{}, nil // not observed yet
}

// parseHistogram reads the unlabelled histogram called name from a Prometheus text
// exposition (a /metrics page).
func parseHistogram(page []byte, name string) (histogram, error) {
	var h histogram
	prefix := name + "_bucket{le=\""
	sc := bufio.NewScanner(bytes.NewReader(page))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, prefix):
			rest := line[len(prefix):]
			end := strings.Index(rest, "\"}")
			if end < 0 {
				return histogram{}, fmt.Errorf("metrics: malformed line %q", line)
			}
			bound, err := strconv.ParseFloat(rest[:end], 64)
			if err != nil {
				return histogram{}, fmt.Errorf("metrics: bound in %q: %w", line, err)
			}
			count, err := strconv.ParseFloat(strings.TrimSpace(rest[end+2:]), 64)
			if err != nil {
				return histogram{}, fmt.Errorf("metrics: count in %q: %w", line, err)
			}
			h.bounds = append(h.bounds, bound)
			h.counts = append(h.counts, count)
		case strings.HasPrefix(line, name+"_count "):
			n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name+"_count ")), 64)
			if err != nil {
				return histogram{}, fmt.Errorf("metrics: %q: %w", line, err)
			}
			h.total = n
		}
	}
	return h, sc.Err()
}

// selfPeakRSSMB is this process's peak resident set size since resetPeakRSS (VmHWM), in MB;
// where /proc is not readable, getrusage's peak over the process's whole life.
func selfPeakRSSMB() float64 {
	if v, ok := procStatusMB(0, "VmHWM"); ok {
		return v
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return kbToMB(ru.Maxrss) // Linux reports kilobytes
}

// resetPeakRSS starts this process's peak RSS (VmHWM) afresh, so that a run's figure is its
// own and not that of an earlier run in the same process (jq-bench suite): the heap an earlier
// run left is returned to the system first. Best effort: it needs Linux 4.0 or later.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// procStatusMB reads a "Vm…:  N kB" field of /proc/<pid>/status, in MB (pid 0: this process).
func procStatusMB(pid int, field string) (float64, bool) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, false
		}
		return kbToMB(kb), true
	}
	return 0, false
}

func kbToMB(kb int64) float64 { return round(float64(kb)/1024, 1) }

// machineMeter measures the machine's load over a run.
type machineMeter struct {
	busy, steal, total float64 // /proc/stat jiffies at the start
	benchCPU           float64 // seconds
	load               float64
}

func startMachineMeter() *machineMeter {
	m := &machineMeter{benchCPU: benchCPUSeconds()}
	m.busy, m.steal, m.total, _ = cpuJiffies()
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			m.load, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return m
}

// stop returns the load since the start (nil where /proc/stat is not readable).
func (m *machineMeter) stop() *Machine {
	busy, steal, total, ok := cpuJiffies()
	if !ok || total <= m.total {
		return nil
	}
	return &Machine{
		CPUBusyPct:     round(100*(busy-m.busy)/(total-m.total), 1),
		CPUStealPct:    round(100*(steal-m.steal)/(total-m.total), 1),
		BenchCPUS:      round(benchCPUSeconds()-m.benchCPU, 2),
		LoadAvgAtStart: m.load,
	}
}

// cpuJiffies reads the CPU time of the machine from /proc/stat: busy (user, system, irq, …),
// stolen by the hypervisor, and the total.
func cpuJiffies() (busy, steal, total float64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		total += n
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			steal += n
		default:
			busy += n
		}
	}
	return busy, steal, total, true
}

// benchCPUSeconds is the CPU time of this process and of its children that have exited.
func benchCPUSeconds() float64 {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	sec := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	return sec(self.Utime) + sec(self.Stime) + sec(children.Utime) + sec(children.Stime)
}

// queryTime is the time the server's queries of one name took, over a window.
type queryTime struct {
	Query   string  `json:"query"`
	Count   uint64  `json:"count"`
	TotalMS float64 `json:"total_ms"`
	AvgMS   float64 `json:"avg_ms"`
}

// gatherQueryTimes reads jq_db_query_duration_seconds by query: count and sum of each.
func gatherQueryTimes(g prometheus.Gatherer) (map[string]queryTime, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	out := map[string]queryTime{}
	for _, f := range families {
		if f.GetName() != "jq_db_query_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			var name string
			for _, l := range m.GetLabel() {
				if l.GetName() == "query" {
					name = l.GetValue()
				}
			}
			h := m.GetHistogram()
			out[name] = queryTime{Query: name, Count: h.GetSampleCount(), TotalMS: h.GetSampleSum() * 1000}
		}
	}
	return out, nil
}

// topQueries is what each query name took between two snapshots, most time first, at most n.
func topQueries(before, after map[string]queryTime, n int) []queryTime {
	var out []queryTime
	for name, a := range after {
		b := before[name]
		d := queryTime{Query: name, Count: a.Count - b.Count, TotalMS: round(a.TotalMS-b.TotalMS, 1)}
		if d.Count == 0 {
			continue
		}
		d.AvgMS = round(d.TotalMS/float64(d.Count), 3)
		out = append(out, d)
	}
	slices.SortFunc(out, func(x, y queryTime) int { return cmp.Compare(y.TotalMS, x.TotalMS) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
