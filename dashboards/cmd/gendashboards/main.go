// Command gendashboards writes jq's Grafana dashboards to a folder (json/ under dashboards/,
// which `make dashboards` passes).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jqhq/jq/dashboards"
)

func main() {
	out := flag.String("out", "json", "folder to write the dashboards to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, d := range dashboards.All() {
		b, err := dashboards.Render(d)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, d.File), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
