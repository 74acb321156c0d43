// Package health answers the liveness and readiness probes of a jq binary.
//
// GET /healthz answers 200 whenever the process can answer at all. GET /readyz runs every
// registered Check concurrently, each under its own timeout, and answers 200 only when all of
// them pass and the process is not shutting down; otherwise it answers 503 and names what
// failed, so that a load balancer stops sending traffic and an operator can see why.
//
// A Component describes one dependency and how to check it, so that a process lists its
// dependencies once and reports them the same way everywhere: /readyz (Health.AddComponent), a
// status API and a dry run (Component.Probe).
package health
