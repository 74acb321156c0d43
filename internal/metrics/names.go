package metrics

import (
	"regexp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// descName finds the fully-qualified name in a Desc's String(), the only place a Desc shows it.
var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// SeriesNames returns the sorted, distinct names of the series the collectors export, read
// from their descriptions: a histogram's name comes with its _bucket, _sum and _count series,
// a summary's with _sum and _count. The checks of the dashboards and alert rules use it to
// learn which jq_* names exist from the collectors themselves, not from a list.
func SeriesNames(cs ...prometheus.Collector) []string {
	var names []string
	for _, c := range cs {
		var suffixes []string
		switch c.(type) {
		case prometheus.Histogram, *prometheus.HistogramVec:
			suffixes = []string{"_bucket", "_sum", "_count"}
		case prometheus.Summary, *prometheus.SummaryVec:
			suffixes = []string{"", "_sum", "_count"}
		default:
			suffixes = []string{""}
		}
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descName.FindStringSubmatch(d.String())
			if m == nil {
				continue
			}
			for _, s := range suffixes {
				names = append(names, m[1]+s)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Collectors returns every metric of m, as New registers them.
func (m *Metrics) Collectors() []prometheus.Collector { return m.collectors() }

// WorkerCollectors returns the metrics of m that NewWorker registers.
func (m *Metrics) WorkerCollectors() []prometheus.Collector { return m.workerCollectors() }
