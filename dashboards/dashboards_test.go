package dashboards_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/dashboards"
	"github.com/jqhq/jq/dashboards/internal/promcheck"
)

var update = flag.Bool("update", false, "rewrite json/ from the Go code (what `make dashboards` does)")

// TestDashboards_UpToDate fails when the committed JSON is not what the code generates.
func TestDashboards_UpToDate(t *testing.T) {
	for _, d := range dashboards.All() {
		t.Run(d.File, func(t *testing.T) {
			got, err := dashboards.Render(d)
			require.NoError(t, err)
			path := filepath.Join("json", d.File)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run `make dashboards` and commit json/")
			require.Equal(t, string(want), string(got), "json/%s is stale: run `make dashboards` and commit it", d.File)
		})
	}
}

// k8sDir is the Kustomize copy of json/ (deploy/k8s/base/monitoring/kustomization.yaml makes a
// ConfigMap of each file for the Grafana sidecar); Kustomize reads no file outside its folder.
const k8sDir = "../deploy/k8s/base/monitoring/dashboards"

// TestDashboards_KustomizeCopyUpToDate fails when the cluster's copy differs from what the code
// generates, or holds a file it does not generate (`make dashboards` writes both folders).
func TestDashboards_KustomizeCopyUpToDate(t *testing.T) {
	t.Parallel()
	var want []string
	for _, d := range dashboards.All() {
		want = append(want, d.File)
		got, err := dashboards.Render(d)
		require.NoError(t, err)
		path := filepath.Join(k8sDir, d.File)
		if *update {
			require.NoError(t, os.MkdirAll(k8sDir, 0o755))
			require.NoError(t, os.WriteFile(path, got, 0o644))
		}
		committed, err := os.ReadFile(path)
		require.NoError(t, err, "run `make dashboards` and commit %s", k8sDir)
		require.Equal(t, string(got), string(committed), "%s is stale: run `make dashboards` and commit it", path)
	}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*"))
	require.NoError(t, err)
	var have []string
	for _, f := range files {
		have = append(have, filepath.Base(f))
	}
	require.ElementsMatch(t, want, have, "%s holds exactly the generated dashboards", k8sDir)
}

// TestDashboards_EveryJSONIsGenerated: json/ holds exactly the generated dashboards, so a file
// edited or added by hand in Grafana's export cannot slip in.
func TestDashboards_EveryJSONIsGenerated(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("json", "*"))
	require.NoError(t, err)
	var got, want []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	for _, d := range dashboards.All() {
		want = append(want, d.File)
	}
	require.ElementsMatch(t, want, got)
}

// dashboard is the part of a dashboard's JSON the conventions are about.
type dashboard struct {
	UID     string   `json:"uid"`
	Title   string   `json:"title"`
	Tags    []string `json:"tags"`
	Refresh string   `json:"refresh"`
	Time    struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds *struct {
				Steps []struct {
					Color string `json:"color"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

// load reads every committed dashboard.
func load(t *testing.T) map[string]dashboard {
	t.Helper()
	out := map[string]dashboard{}
	for _, d := range dashboards.All() {
		b, err := os.ReadFile(filepath.Join("json", d.File))
		require.NoError(t, err)
		var db dashboard
		require.NoError(t, json.Unmarshal(b, &db), d.File)
		out[d.File] = db
	}
	return out
}

// TestDashboards_Conventions checks what the operators asked of every dashboard.
func TestDashboards_Conventions(t *testing.T) {
	t.Parallel()
	uids := map[string]bool{}
	for file, d := range load(t) {
		t.Run(file, func(t *testing.T) {
			require.False(t, uids[d.UID], "uid %s used twice", d.UID)
			uids[d.UID] = true
			require.Contains(t, d.Tags, dashboards.Tag)
			require.Equal(t, "30s", d.Refresh)
			require.Equal(t, "now-1h", d.Time.From)
			require.Equal(t, "now", d.Time.To)

			vars := map[string]variable{}
			var names []string
			for _, v := range d.Templating.List {
				vars[v.Name] = v
				names = append(names, v.Name)
			}
			require.Equal(t, []string{"datasource", "namespace", "queue"}, names)
			require.Equal(t, "datasource", vars["datasource"].Type)
			require.Equal(t, "prometheus", vars["datasource"].Query)
			require.Equal(t, "job-queue-prod", vars["namespace"].Current.Value, "namespace defaults to production")
			q := vars["queue"]
			require.True(t, q.Multi && q.IncludeAll, "queue is a multi-select with All")
			require.Equal(t, []any{"$__all"}, q.Current.Value, "queue defaults to All")
			require.Equal(t, ".*", q.AllValue)

			ids := map[int]bool{}
			for _, p := range d.Panels {
				require.Positive(t, p.ID, "panel %q has no id", p.Title)
				require.False(t, ids[p.ID], "panel id %d used twice", p.ID)
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				require.NotEmpty(t, p.Title)
				require.NotNil(t, p.Datasource, "panel %q has no datasource", p.Title)
				require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
				require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
				for _, tg := range p.Targets {
					require.NotEmpty(t, tg.Expr, "panel %q", p.Title)
					require.Equal(t, "${datasource}", tg.Datasource.UID, "panel %q", p.Title)
				}
				if th := p.FieldConfig.Defaults.Thresholds; th != nil {
					for _, s := range th.Steps {
						require.Contains(t, []string{"green", "yellow", "red", "dark-red", "blue"}, s.Color,
							"panel %q: the house colours are green (healthy), yellow (warning), red (error)", p.Title)
					}
				}
			}
		})
	}
}

// TestDashboards_RequestedPanels: the panels the operators listed are there, by title.
func TestDashboards_RequestedPanels(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"job-queue-overview.json": {
			"stat:Pending jobs", "stat:Running jobs", "stat:Active workers", "stat:Dead-lettered (last 1 h)",
			"timeseries:Outcomes per second, by status", "timeseries:Pending jobs per queue",
			"timeseries:Processing time p50 / p95 / p99", "timeseries:Scheduler cycle p95",
			"bargauge:Jobs assigned per queue (last 5 min)", "table:Queues", "timeseries:Kafka publish errors per second",
			"timeseries:Dead tuples per table", "timeseries:Oldest xmin age, by holder",
		},
		"worker-health.json": {
			"stat:Registered workers", "table:Workers", "timeseries:Utilisation per worker",
			"timeseries:gRPC requests per second, by method", "heatmap:gRPC latency distribution",
			"timeseries:PostgreSQL query p95, by query", "timeseries:Redis operation p95, by operation",
		},
		"infrastructure.json": {
			"stat:DB pool in use", "stat:Redis memory", "stat:Kafka consumer lag", "timeseries:CPU per pod",
			"timeseries:Memory per pod", "timeseries:jq-worker replicas (HPA)", "table:Firing alerts",
		},
	}
	for file, d := range load(t) {
		var got []string
		for _, p := range d.Panels {
			got = append(got, p.Type+":"+p.Title)
		}
		require.Subset(t, got, want[file], file)
	}
}

// TestDashboards_PromQL: every expression parses with Prometheus's parser, and every metric it
// names exists: jq_* ones in what jq-server and jq-worker export, recorded ones in rules/.
func TestDashboards_PromQL(t *testing.T) {
	t.Parallel()
	exported := promcheck.Exported()
	rules, err := promcheck.LoadRules()
	require.NoError(t, err)
	recorded := promcheck.Recorded(rules)

	var checked int
	for file, d := range load(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				expr := promcheck.Substitute(tg.Expr)
				names, err := promcheck.MetricNames(expr)
				require.NoErrorf(t, err, "%s, panel %q, query %s: %s", file, p.Title, tg.RefID, expr)
				problems := promcheck.CheckNames(names, exported, recorded)
				require.Emptyf(t, problems, "%s, panel %q, query %s", file, p.Title, tg.RefID)
				checked++
			}
		}
	}
	require.Greater(t, checked, 50, "the three dashboards hold dozens of queries")
}

// TestPromcheck: the checks can fail.
func TestPromcheck(t *testing.T) {
	t.Parallel()
	exported := promcheck.Exported()
	recorded := map[string]bool{"namespace_queue:jq_x:rate5m": true}

	t.Run("ExportedComesFromTheCollectors", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"jq_job_total", "jq_grpc_request_duration_seconds_bucket", "jq_db_pool_acquired_connections", "jq_pg_up", "jq_worker_jobs_total"} {
			require.True(t, exported[name], name)
		}
		require.False(t, exported["jq_grpc_request_duration_seconds"], "a histogram has no series under its bare name")
	})

	t.Run("UnknownNamesAreReported", func(t *testing.T) {
		t.Parallel()
		names, err := promcheck.MetricNames(`sum(rate(jq_jobs_total[5m])) / namespace_queue:jq_y:rate5m + on() group_left up + kube_pod_info + nodee_load1`)
		require.NoError(t, err)
		problems := promcheck.CheckNames(names, exported, recorded)
		require.Len(t, problems, 3, "%v", problems)
		require.True(t, slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, "jq_jobs_total") }))
	})

	t.Run("BadPromQLFails", func(t *testing.T) {
		t.Parallel()
		_, err := promcheck.MetricNames(`sum(rate(jq_job_total[5m])`)
		require.Error(t, err)
		_, err = promcheck.MetricNames(`{__name__=~"jq_.*"}`)
		require.Error(t, err, "a name by regex cannot be checked")
	})

	t.Run("SubstituteGrafanaVariables", func(t *testing.T) {
		t.Parallel()
		got := promcheck.Substitute(`rate(x{namespace="$namespace", queue=~"${queue:regex}"}[$__rate_interval])`)
		require.Equal(t, `rate(x{namespace="x", queue=~"x"}[5m])`, got)
	})
}
