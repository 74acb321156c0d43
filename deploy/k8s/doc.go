// Package k8s checks jq's Kubernetes manifests: both overlays render with the Kustomize API,
// every object decodes strictly into its typed struct (or, for External Secrets, validates
// against the vendored CRD schema), and policy tests hold them to what jq needs. The manifests
// themselves are the YAML files under base/ and overlays/; see README.md.
package k8s

//go:generate go run ./cmd/gen-prometheusrule -rules ../../rules -out base/monitoring/prometheusrule.yaml
