package metrics_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jqhq/jq/internal/metrics"
)

func ExampleNew() {
	reg := metrics.NewRegistry()
	m := metrics.New(reg)

	m.JobTotal.WithLabelValues("emails", "succeeded", "completed").Inc()
	m.MaintenanceRows.WithLabelValues("prune").Add(120)

	fmt.Println(testutil.ToFloat64(m.JobTotal.WithLabelValues("emails", "succeeded", "completed")))
	fmt.Println(testutil.ToFloat64(m.MaintenanceRows.WithLabelValues("prune")))
	// Output:
	// 1
	// 120
}
