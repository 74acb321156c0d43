package console

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/apikey"
)

// chartMinutes is the span of the charts: the last hour, a bar per minute.
const chartMinutes = 60

// chartData is the last hour of one scope, minute by minute.
type chartData struct {
	Minutes []minute
	// Totals over the hour.
	Done, DeadLettered, Failed int64
}

// scopeOf is the queues p is limited to, or nil for every queue.
func scopeOf(p *jqgrpc.Principal) []string {
	if p.Role == apikey.RoleAdmin || len(p.Queues) == 0 { // as Principal.MayUse
		return nil
	}
	return slices.Sorted(slices.Values(p.Queues))
}

// chartsFor returns the last hour of the queues p may see, computed at most once per cacheTTL
// for each scope.
func (c *Console) chartsFor(ctx context.Context, p *jqgrpc.Principal) (*chartData, error) {
	scope := scopeOf(p)
	d, _, err := c.charts.get(ctx, strings.Join(scope, "\x00"), func(ctx context.Context) (*chartData, error) {
		return c.loadCharts(ctx, scope)
	})
	return d, err
}

func (c *Console) loadCharts(ctx context.Context, scope []string) (*chartData, error) {
	now := c.cfg.Now().UTC().Truncate(time.Minute)
	since := now.Add(-(chartMinutes - 1) * time.Minute)
	finished, err := c.db.finishedByMinute(ctx, since, scope)
	if err != nil {
		return nil, err
	}
	failed, err := c.db.failedByMinute(ctx, since, scope)
	if err != nil {
		return nil, err
	}
	d := &chartData{Minutes: make([]minute, chartMinutes)}
	for i := range d.Minutes {
		at := since.Add(time.Duration(i) * time.Minute)
		m := minute{At: at}
		if f := finished[at]; f != nil {
			m = *f
		}
		m.Failed = failed[at]
		d.Minutes[i] = m
		d.Done += m.Done
		d.DeadLettered += m.DeadLettered
		d.Failed += m.Failed
	}
	return d, nil
}

// chartSeries is one series of a chart; Class colours it (console.css).
type chartSeries struct {
	Name   string
	Class  string
	Values []float64
}

// Chart geometry, in the SVG's own units (it scales to its box).
const (
	chartW, chartH        = 480, 172
	plotLeft, plotRight   = 54, 470
	plotTop, plotBottom   = 10, 146
	plotWidth, plotHeight = plotRight - plotLeft, plotBottom - plotTop
	chartLabelY           = 166
)

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// svgChart renders series over the last hour as an accessible inline SVG: stacked bars, or
// lines when lines is set. unit formats the axis values.
func svgChart(title, summary string, lines bool, unit func(float64) string, series ...chartSeries) template.HTML {
	n := 0
	for _, s := range series {
		n = max(n, len(s.Values))
	}
	top := 0.0
	for i := range n {
		sum := 0.0
		for _, s := range series {
			if i < len(s.Values) {
				if lines {
					if !math.IsNaN(s.Values[i]) {
						top = math.Max(top, s.Values[i])
					}
				} else {
					sum += s.Values[i]
				}
			}
		}
		top = math.Max(top, sum)
	}
	top = niceMax(top)
	y := func(v float64) float64 { return plotBottom - v/top*plotHeight }
	step := float64(plotWidth) / float64(max(n, 1))

	id := "c" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, title)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d">`, chartW, chartH, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, html.EscapeString(title), id, html.EscapeString(summary))
	// Axes and grid: zero, half and top, labelled.
	for _, frac := range []float64{0, 0.5, 1} {
		yy := y(top * frac)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, plotLeft, yy, plotRight, yy)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, plotLeft-6, yy+4, html.EscapeString(unit(top*frac)))
	}
	for _, mins := range []int{60, 45, 30, 15, 0} {
		x := float64(plotRight) - float64(mins)/60*plotWidth
		label, anchor := fmt.Sprintf("−%dm", mins), "middle"
		if mins == 0 {
			label, anchor = "now", "end"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, chartLabelY, anchor, label)
	}
	if lines {
		// A minute without a value (no job finished) breaks the line instead of dropping to 0.
		for _, s := range series {
			var pts []string
			flush := func() {
				switch len(pts) {
				case 0:
				case 1:
					x, y, _ := strings.Cut(pts[0], ",")
					fmt.Fprintf(&b, `<circle class="dot %s" cx="%s" cy="%s" r="2.5"/>`, s.Class, x, y)
				default:
					fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, s.Class, strings.Join(pts, " "))
				}
				pts = pts[:0]
			}
			for i, v := range s.Values {
				if math.IsNaN(v) {
					flush()
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", float64(plotLeft)+(float64(i)+0.5)*step, y(v)))
			}
			flush()
		}
	} else {
		for i := range n {
			base := 0.0
			for _, s := range series {
				if i >= len(s.Values) || s.Values[i] <= 0 {
					continue
				}
				v := s.Values[i]
				fmt.Fprintf(&b, `<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
					s.Class, float64(plotLeft)+float64(i)*step+0.5, y(base+v), math.Max(step-1, 0.5), y(base)-y(base+v),
					html.EscapeString(s.Name), html.EscapeString(unit(v)))
				base += v
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped text only
}

// perMinute formats a count axis.
func perMinute(v float64) string { return formatCount(int64(math.Round(v))) }

// seconds formats a latency axis.
func seconds(v float64) string {
	if v == 0 {
		return "0"
	}
	return formatDuration(time.Duration(v * float64(time.Second)))
}

// charts are the overview's three charts of d.
func (d *chartData) charts() []template.HTML {
	var done, dead, failed, p50, p95 []float64
	maxP95 := 0.0
	for _, m := range d.Minutes {
		done = append(done, float64(m.Done))
		dead = append(dead, float64(m.DeadLettered))
		failed = append(failed, float64(m.Failed))
		if m.Done > 0 {
			p50 = append(p50, m.P50)
			p95 = append(p95, m.P95)
			maxP95 = math.Max(maxP95, m.P95)
		} else {
			p50 = append(p50, math.NaN())
			p95 = append(p95, math.NaN())
		}
	}
	return []template.HTML{
		svgChart("Throughput", fmt.Sprintf("%s jobs done in the last hour", formatCount(d.Done)), false, perMinute,
			chartSeries{Name: "done", Class: "s-done", Values: done}),
		svgChart("Failures", fmt.Sprintf("%s failed attempts and %s jobs dead-lettered in the last hour", formatCount(d.Failed), formatCount(d.DeadLettered)), false, perMinute,
			chartSeries{Name: "failed attempts", Class: "s-failed", Values: failed},
			chartSeries{Name: "dead-lettered", Class: "s-dead", Values: dead}),
		svgChart("Latency", fmt.Sprintf("submit to done, per minute: the highest 95th percentile of the hour is %s", seconds(maxP95)), true, seconds,
			chartSeries{Name: "p50", Class: "s-p50", Values: p50},
			chartSeries{Name: "p95", Class: "s-p95", Values: p95}),
	}
}
