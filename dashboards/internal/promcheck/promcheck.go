// Package promcheck holds what the dashboards and rules checks share: the jq_* series that a
// real jq-server and jq-worker export, read from their collectors; the metric names a PromQL
// expression selects, found by Prometheus's own parser; and the rule files of ../rules.
package promcheck

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/jqhq/jq/internal/metrics"
)

// RepoRoot is the repository's root folder, found from this file's place in it.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Exported returns every jq_* series name jq-server or jq-worker exports, from the collectors
// they register: metrics.New (the server registers all of them), metrics.NewPoolCollector (the
// server's pool) and metrics.NewWorker (the worker's subset, included in the first). A
// histogram counts as its _bucket, _sum and _count series.
func Exported() map[string]bool {
	collectors := metrics.New(nil).Collectors()
	collectors = append(collectors, metrics.NewPoolCollector(nil))
	collectors = append(collectors, metrics.NewWorker(nil).WorkerCollectors()...)
	out := map[string]bool{}
	for _, name := range metrics.SeriesNames(collectors...) {
		out[name] = true
	}
	return out
}

// Grafana's variables, which must be replaced before an expression is parsed: a range
// variable by a duration, anything else (label values, datasource) by a plain word.
var (
	grafanaRange = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)
	grafanaVar   = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?`)
)

// Substitute turns a dashboard's expression into plain PromQL.
func Substitute(expr string) string {
	return grafanaVar.ReplaceAllString(grafanaRange.ReplaceAllString(expr, "5m"), "x")
}

// MetricNames parses expr with Prometheus's parser and returns the metric names it selects,
// sorted and distinct. A selector without a literal name (by __name__ regex) is an error:
// nothing could check what it matches.
func MetricNames(expr string) ([]string, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var bad error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				if m.Type != labels.MatchEqual {
					bad = fmt.Errorf("selector %s: a metric name by regex cannot be checked", vs)
				}
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	if bad != nil {
		return nil, bad
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// RuleFiles are the Prometheus rule files of ../rules, by base name; alertmanager.yml and the
// tests are not rule files.
var RuleFiles = []string{"recording.yml", "job-queue.yml", "infrastructure.yml"}

// Rule is one rule of a rule file, with where it comes from.
type Rule struct {
	File  string
	Group string
	rulefmt.Rule
}

// LoadRules parses every rule file with Prometheus's own loader (which also checks the
// expressions and templates) and returns their rules.
func LoadRules() ([]Rule, error) {
	var out []Rule
	for _, f := range RuleFiles {
		path := filepath.Join(RepoRoot(), "rules", f)
		groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				out = append(out, Rule{File: f, Group: g.Name, Rule: r})
			}
		}
	}
	return out, nil
}

// Recorded returns the names the recording rules define.
func Recorded(rules []Rule) map[string]bool {
	out := map[string]bool{}
	for _, r := range rules {
		if r.Record != "" {
			out[r.Record] = true
		}
	}
	return out
}

// ExternalPrefixes are the exporters jq's dashboards and alerts rely on besides jq itself:
// Prometheus (up, ALERTS), kube-state-metrics, the kubelet and cAdvisor, redis_exporter and
// kafka-exporter. A name outside these, jq's and the recording rules' is a typo.
var ExternalPrefixes = []string{"up", "ALERTS", "kube_", "kubelet_", "container_", "redis_", "kafka_"}

// CheckNames reports, for one expression, every name that is neither exported by jq (for
// jq_* names), nor recorded (for level:metric:operations names), nor an external exporter's.
func CheckNames(names []string, exported, recorded map[string]bool) []string {
	var problems []string
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "jq_"):
			if !exported[n] {
				problems = append(problems, n+": no jq-server or jq-worker exports it")
			}
		case strings.Contains(n, ":"):
			if !recorded[n] {
				problems = append(problems, n+": no recording rule in rules/ defines it")
			}
		default:
			if !slices.ContainsFunc(ExternalPrefixes, func(p string) bool { return n == p || strings.HasPrefix(n, p) && strings.HasSuffix(p, "_") }) {
				problems = append(problems, n+": not a jq metric, a recorded one or one of the known exporters'")
			}
		}
	}
	return problems
}

// ReadFile reads a file of the repository by its path from the root.
func ReadFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(RepoRoot(), rel))
}
