// Package httpserve runs an http.Handler on a TCP address as a start/stop service, for the
// small side listeners of jq binaries: Prometheus metrics and the health probes.
package httpserve
