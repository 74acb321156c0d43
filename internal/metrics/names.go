package metrics

import (
	"regexp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
		suffixes := seriesSuffixes(c)
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

// seriesSuffixes tells a histogram or a summary from the rest. A vector is known by its type;
// anything else by the metrics it collects (Histogram and Summary are the same interface, so a
// type switch cannot tell them apart).
func seriesSuffixes(c prometheus.Collector) []string {
	histogram, summary := []string{"_bucket", "_sum", "_count"}, []string{"", "_sum", "_count"}
	switch c.(type) {
	case *prometheus.HistogramVec:
		return histogram
	case *prometheus.SummaryVec:
		return summary
	}
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	suffixes := []string{""}
	for m := range ch {
		var pb dto.Metric
		switch {
		case m.Write(&pb) != nil:
		case pb.Histogram != nil:
			suffixes = histogram
		case pb.Summary != nil:
			suffixes = summary
		}
	}
	return suffixes
}

// Collectors returns every metric of m, as New registers them.
func (m *Metrics) Collectors() []prometheus.Collector { return m.collectors() }

// WorkerCollectors returns the metrics of m that NewWorker registers.
func (m *Metrics) WorkerCollectors() []prometheus.Collector { return m.workerCollectors() }
