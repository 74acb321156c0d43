// Command gendashboards writes jq's Grafana dashboards to a folder (json/ under dashboards/,
// which `make dashboards` passes) and the same bytes to the Kustomize copy the cluster's Grafana
// loads (-k8s, by default deploy/k8s/base/monitoring/dashboards, seen from dashboards/):
// Kustomize reads no file outside its kustomization's folder.
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
	k8s := flag.String("k8s", "../deploy/k8s/base/monitoring/dashboards", "second folder to write them to (Kustomize's copy); empty: none")
	flag.Parse()
	dirs := []string{*out}
	if *k8s != "" {
		dirs = append(dirs, *k8s)
	}
	if err := run(dirs...); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
}

func run(dirs ...string) error {
	for _, d := range dashboards.All() {
		b, err := dashboards.Render(d)
		if err != nil {
			return err
		}
		for _, dir := range dirs {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, d.File), b, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", d.File, err)
			}
		}
	}
	return nil
}
