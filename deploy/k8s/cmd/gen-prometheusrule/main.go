// Command gen-prometheusrule writes the PrometheusRule of the Kubernetes manifests from the
// Prometheus rule files in rules/ (see package rulegen). `make k8s-rules` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/jqhq/jq/deploy/k8s/rulegen"
)

func main() {
	rules := flag.String("rules", "../../rules", "folder of Prometheus rule files")
	out := flag.String("out", "base/monitoring/prometheusrule.yaml", "PrometheusRule manifest to write")
	flag.Parse()
	data, err := rulegen.Generate(*rules)
	if err == nil {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-prometheusrule:", err)
		os.Exit(1)
	}
}
