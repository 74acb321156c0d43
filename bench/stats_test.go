package bench

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestPercentiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want *Percentiles
	}{
		{"Empty", nil, nil},
		{"One", []time.Duration{3 * time.Millisecond}, &Percentiles{Count: 1, P50: 3, P90: 3, P99: 3, Max: 3}},
		{"NearestRank", ramp(100), &Percentiles{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100}},
		{"Unsorted", []time.Duration{5 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond},
			&Percentiles{Count: 4, P50: 2, P90: 5, P99: 5, Max: 5}},
		{"Microseconds", []time.Duration{1500 * time.Microsecond}, &Percentiles{Count: 1, P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, percentiles(tc.in))
		})
	}
}

// ramp is 1 ms, 2 ms, … n ms, shuffled.
func ramp(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration((i*37)%n+1) * time.Millisecond
	}
	return out
}

func TestHistogram_Quantile(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	for _, tc := range []struct {
		name string
		h    histogram
		q    float64
		want float64
		ok   bool
	}{
		{"Empty", histogram{bounds: []float64{1, inf}, counts: []float64{0, 0}}, 0.95, 0, false},
		// 100 observations, all in (0.1, 0.2]: p95 is 95 % of the way through that bucket.
		{"InsideBucket", histogram{bounds: []float64{0.1, 0.2, inf}, counts: []float64{0, 100, 100}, total: 100}, 0.95, 0.195, true},
		// The first bucket interpolates from 0.
		{"FirstBucket", histogram{bounds: []float64{0.01, 0.1, inf}, counts: []float64{10, 10, 10}, total: 10}, 0.5, 0.005, true},
		// A rank in +Inf answers the highest finite bound, as PromQL does.
		{"InfBucket", histogram{bounds: []float64{0.1, 0.2, inf}, counts: []float64{1, 2, 10}, total: 10}, 0.95, 0.2, true},
		{"SplitBuckets", histogram{bounds: []float64{0.1, 0.2, 0.4, inf}, counts: []float64{50, 90, 100, 100}, total: 100}, 0.95, 0.3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.h.quantile(tc.q)
			require.Equal(t, tc.ok, ok)
			require.InDelta(t, tc.want, got, 1e-9)
		})
	}
}

func TestHistogram_SubAndGather(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cycle_seconds", Buckets: []float64{0.01, 0.1, 1}})
	reg.MustRegister(h)
	for range 50 {
		h.Observe(0.5) // before the window: must not count
	}
	before, err := gatherHistogram(reg, "cycle_seconds")
	require.NoError(t, err)
	for range 100 {
		h.Observe(0.05)
	}
	after, err := gatherHistogram(reg, "cycle_seconds")
	require.NoError(t, err)
	window := after.sub(before)
	require.Equal(t, 100.0, window.total)
	p95, ok := window.quantile(0.95)
	require.True(t, ok)
	require.InDelta(t, 0.01+0.09*0.95, p95, 1e-9)

	none, err := gatherHistogram(reg, "no_such_metric")
	require.NoError(t, err)
	_, ok = none.quantile(0.95)
	require.False(t, ok)
}

func TestParseHistogram(t *testing.T) {
	t.Parallel()
	page := []byte(`# HELP jq_scheduler_cycle_duration_seconds How long one scheduler cycle took.
# TYPE jq_scheduler_cycle_duration_seconds histogram
jq_scheduler_cycle_duration_seconds_bucket{le="0.01"} 10
jq_scheduler_cycle_duration_seconds_bucket{le="0.2"} 90
jq_scheduler_cycle_duration_seconds_bucket{le="+Inf"} 100
jq_scheduler_cycle_duration_seconds_sum 4.2
jq_scheduler_cycle_duration_seconds_count 100
jq_other_bucket{le="1"} 7
`)
	h, err := parseHistogram(page, "jq_scheduler_cycle_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, []float64{0.01, 0.2, math.Inf(1)}, h.bounds)
	require.Equal(t, []float64{10, 90, 100}, h.counts)
	require.Equal(t, 100.0, h.total)

	_, err = parseHistogram([]byte(`jq_scheduler_cycle_duration_seconds_bucket{le="x"} 1`), "jq_scheduler_cycle_duration_seconds")
	require.Error(t, err)
}

func TestSelfPeakRSS(t *testing.T) {
	t.Parallel()
	require.Positive(t, selfPeakRSSMB())
	rss, ok := procStatusMB(0, "VmRSS")
	require.True(t, ok)
	require.Positive(t, rss)
	_, ok = procStatusMB(0, "NoSuchField")
	require.False(t, ok)
}
