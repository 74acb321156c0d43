package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Tag is on every jq dashboard; the dashboards' links list the others by it.
const Tag = "job-queue"

// The colours of the house rule: green for DONE and healthy, yellow for warnings, red for
// FAILED and errors. Grafana's named colours, so that the light and dark themes both work.
const (
	colorOK      = "green"
	colorWarning = "yellow"
	colorError   = "red"
	colorDead    = "dark-red"
	colorInfo    = "blue"
)

// Selectors every jq query carries: the namespace (one environment at a time) and the
// queues picked in the queue variable.
const (
	ns      = `namespace="$namespace"`
	nsQueue = `namespace="$namespace", queue=~"$queue"`
)

// ds is the datasource of every panel and query: the one picked in the datasource variable.
func ds() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// newDashboard starts a jq dashboard with what the operators asked of all three: the last
// hour, a 30 s refresh, the job-queue tag, the datasource, namespace and queue variables, and
// links to the other jq dashboards that keep the time range and the variables.
//
//nolint:staticcheck // the v1 schema on purpose: Grafana 11 (docker-compose.yml pins 11.3) cannot load v2 dashboards
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("jq dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("namespace").
			Label("Namespace").
			Description("The jq environment: job-queue-prod, job-queue-staging (job-queue-local under docker compose).").
			Datasource(ds()).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(jq_leader, namespace)`)}).
			Current(dashboard.VariableOption{
				Selected: cog.ToPtr(true),
				Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr("job-queue-prod")},
				Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr("job-queue-prod")},
			}).
			Refresh(dashboard.VariableRefreshOnDashboardLoad).
			Sort(dashboard.VariableSortAlphabeticalAsc)).
		WithVariable(dashboard.NewQueryVariableBuilder("queue").
			Label("Queue").
			Datasource(ds()).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(jq_job_queue_depth{namespace="$namespace"}, queue)`)}).
			Current(dashboard.VariableOption{
				Selected: cog.ToPtr(true),
				Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
			}).
			Multi(true).
			IncludeAll(true).
			AllValue(".*").
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc))
}

// query is a range query drawn as one series per label set, named by legend.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds()).Expr(expr).LegendFormat(legend).Range()
}

// instant is an instant query for stat, bar gauge and table panels.
func instant(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds()).RefId(refID).Expr(expr).LegendFormat(legend).Instant()
}

// tableQuery is an instant query whose labels become table columns.
func tableQuery(refID, expr string) *prometheus.DataqueryBuilder {
	return instant(refID, expr, "").Format(prometheus.PromQueryFormatTable)
}

// thresholds builds absolute thresholds from a base colour and (value, colour) steps.
func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		ts = append(ts, dashboard.Threshold{Value: cog.ToPtr(toFloat(steps[i])), Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	panic("thresholds: a step value must be an int or a float64")
}

// byThresholds colours a value by its panel's thresholds.
func byThresholds() *dashboard.FieldColorBuilder {
	return dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)
}

// newStat is a single-number panel coloured by thresholds.
func newStat(title, description, unit string, target *prometheus.DataqueryBuilder, th *dashboard.ThresholdsConfigBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds()).
		WithTarget(target).
		Unit(unit).
		Thresholds(th).
		ColorScheme(byThresholds()).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Orientation(common.VizOrientationAuto).
		NoValue("0").
		Height(4).
		Span(6)
}

// newTimeseries is a line graph, one line per series, with a table legend that shows the
// last and largest value of each.
func newTimeseries(title, description, unit string, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds()).
		Unit(unit).
		Min(0).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending)).
		Height(8).
		Span(12)
	for _, t := range targets {
		p.WithTarget(t)
	}
	return p
}

// withLimit draws a panel's thresholds as dashed lines: the line an alert fires at.
func withLimit(p *timeseries.PanelBuilder, th *dashboard.ThresholdsConfigBuilder) *timeseries.PanelBuilder {
	return p.Thresholds(th).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

// fixedColor pins the colour of the series (or table column) called name.
func fixedColor(name, color string) (string, []dashboard.DynamicConfigValue) {
	return name, []dashboard.DynamicConfigValue{{
		Id:    "color",
		Value: map[string]any{"mode": "fixed", "fixedColor": color},
	}}
}

// newTable is a table panel built from instant table queries joined on their labels.
func newTable(title, description string, organize map[string]any, targets ...*prometheus.DataqueryBuilder) *table.PanelBuilder {
	p := table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds()).
		CellHeight(common.TableCellHeightSm).
		Filterable(true).
		Height(8).
		Span(24)
	for _, t := range targets {
		p.WithTarget(t)
	}
	// Each instant query is a frame with a Time column, its labels and a "Value #<refId>"
	// column; merge joins the frames on the shared labels, organize renames and hides.
	p.WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
	p.WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: organize})
	return p
}

// columnUnit sets the unit and thresholds of one table column and colours its cell by them.
func columnUnit(name, unit string, th *dashboard.ThresholdsConfigBuilder) (string, []dashboard.DynamicConfigValue) {
	props := []dashboard.DynamicConfigValue{
		{Id: "unit", Value: unit},
		{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
	}
	if th != nil {
		built, err := th.Build()
		if err != nil {
			panic(err)
		}
		props = append(props, dashboard.DynamicConfigValue{Id: "thresholds", Value: built})
	}
	return name, props
}

// valueMapping maps exact values to a text and a colour, e.g. 1 to "UP" in green.
func valueMapping(pairs ...[3]string) []dashboard.ValueMapping {
	options := map[string]dashboard.ValueMappingResult{}
	for i, p := range pairs {
		options[p[0]] = dashboard.ValueMappingResult{Text: cog.ToPtr(p[1]), Color: cog.ToPtr(p[2]), Index: cog.ToPtr(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: options}}}
}

// row starts a collapsible group of panels.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title)
}
