package k8s

import (
	"regexp"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jqhq/jq/internal/metrics"
)

// exportedMetrics maps the name of every metric jq registers to its variable label names, read
// from the descriptors of a registry that metrics.New filled: what a scrape can return.
var exportedMetrics = sync.OnceValue(func() map[string][]string {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	ch := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(ch)
		close(ch)
	}()
	out := map[string][]string{}
	for d := range ch {
		// Desc keeps its name private; String is its one public rendering.
		m := descPattern.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		out[m[1]] = labels
	}
	return out
})

var descPattern = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
