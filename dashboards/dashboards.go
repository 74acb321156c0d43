package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Dashboard is one generated dashboard and the file it is written to under json/.
//
//nolint:staticcheck // the v1 schema on purpose: Grafana 11 (docker-compose.yml pins 11.3) cannot load v2 dashboards
type Dashboard struct {
	File  string
	Build func() (dashboard.Dashboard, error)
}

// All lists every jq dashboard.
func All() []Dashboard {
	return []Dashboard{
		{File: "job-queue-overview.json", Build: Overview},
		{File: "worker-health.json", Build: WorkerHealth},
		{File: "infrastructure.json", Build: Infrastructure},
	}
}

// Render builds d and returns its JSON as committed: indented, with a final newline.
func Render(d Dashboard) ([]byte, error) {
	built, err := d.Build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.File, err)
	}
	numberPanels(&built)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep PromQL's < and > readable in the committed JSON
	if err := enc.Encode(built); err != nil {
		return nil, fmt.Errorf("%s: %w", d.File, err)
	}
	return buf.Bytes(), nil
}

// numberPanels gives every panel and row a unique id, in layout order: Grafana uses the id in
// links to a panel (viewPanel=) and in its edit state.
//
//nolint:staticcheck // the v1 schema on purpose: Grafana 11 (docker-compose.yml pins 11.3) cannot load v2 dashboards
func numberPanels(d *dashboard.Dashboard) {
	for i := range d.Panels {
		id := uint32(i + 1)
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
}
