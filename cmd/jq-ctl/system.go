package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/jqhq/jq/internal/buildinfo"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// systemStatusCommand is `jq-ctl system status`.
type systemStatusCommand struct{ app *app }

func (c *systemStatusCommand) spec() spec {
	return spec{
		name:  "status",
		short: "server version, leadership, health of PostgreSQL, Redis and Kafka, worker and job counts",
		long: `Exits 0 whenever jq-server answers, even if a component is unhealthy: the first line
says "healthy" or "DEGRADED" and names the unhealthy components ("healthy": false in -o json).
An unconfigured component (Redis and Kafka are optional) does not count.`,
		examples: []string{
			"jq-ctl system status",
			"jq-ctl system status -o json | jq -e .healthy",
		},
	}
}

// systemView is system status's document.
type systemView struct {
	Healthy          bool            `json:"healthy"`
	ServerVersion    string          `json:"server_version"`
	ServerCommit     string          `json:"server_commit"`
	ServerTime       *string         `json:"server_time"`
	Leader           bool            `json:"leader"`
	OnlineWorkers    int32           `json:"online_workers"`
	PendingJobs      int64           `json:"pending_jobs"`
	RunningJobs      int64           `json:"running_jobs"`
	DeadLetteredJobs int64           `json:"dead_lettered_jobs"`
	Components       []componentView `json:"components"`
}

// componentView is one dependency in systemView.
type componentView struct {
	Name       string  `json:"name"`
	Configured bool    `json:"configured"`
	Healthy    bool    `json:"healthy"`
	Version    string  `json:"version"`
	LatencyMS  float64 `json:"latency_ms"`
	Detail     string  `json:"detail"`
}

func (c *systemStatusCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("system status", args); err != nil {
		return err
	}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := call(ctx, cl, cl.admin.GetSystemStatus, &jqv1.GetSystemStatusRequest{})
	if err != nil {
		return err
	}
	v := systemView{
		Healthy: true, ServerVersion: st.GetServerVersion(), ServerCommit: st.GetServerCommit(),
		ServerTime: rfc3339(st.GetServerTime()), Leader: st.GetLeader(), OnlineWorkers: st.GetOnlineWorkers(),
		PendingJobs: st.GetPendingJobs(), RunningJobs: st.GetRunningJobs(), DeadLetteredJobs: st.GetDeadLetteredJobs(),
		Components: make([]componentView, 0, len(st.GetComponents())),
	}
	var unhealthy []string
	for _, comp := range st.GetComponents() {
		v.Components = append(v.Components, componentView{
			Name: comp.GetName(), Configured: comp.GetConfigured(), Healthy: comp.GetHealthy(), Version: comp.GetVersion(),
			LatencyMS: float64(comp.GetLatency().AsDuration().Microseconds()) / 1000, Detail: comp.GetDetail(),
		})
		if comp.GetConfigured() && !comp.GetHealthy() {
			v.Healthy = false
			unhealthy = append(unhealthy, comp.GetName())
		}
	}
	return c.app.emit(v, func(w io.Writer) {
		health := "healthy"
		if !v.Healthy {
			health = "DEGRADED: " + strings.Join(unhealthy, ", ") + " unhealthy"
		}
		row(w, "STATUS", health)
		row(w, "SERVER", fmt.Sprintf("%s (commit %s) at %s", st.GetServerVersion(), st.GetServerCommit(), c.app.g.serverAddr))
		row(w, "LEADER", yesNo(st.GetLeader())+" (runs the maintenance loops)")
		row(w, "WORKERS", fmt.Sprintf("%d online", st.GetOnlineWorkers()))
		row(w, "JOBS", fmt.Sprintf("%d pending, %d running, %d dead-lettered", st.GetPendingJobs(), st.GetRunningJobs(), st.GetDeadLetteredJobs()))
		fmt.Fprintln(w)
		row(w, "COMPONENT", "CONFIGURED", "HEALTHY", "VERSION", "LATENCY", "DETAIL")
		for _, comp := range st.GetComponents() {
			healthy, latency := "-", "-"
			if comp.GetConfigured() {
				healthy = yesNo(comp.GetHealthy())
				latency = roundLatency(comp.GetLatency().AsDuration()).String()
			}
			row(w, comp.GetName(), yesNo(comp.GetConfigured()), healthy, dash(comp.GetVersion()), latency,
				summary([]byte(comp.GetDetail()), 120))
		}
	})
}

// roundLatency keeps three significant digits or so: 1.23ms, 512µs.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// systemVersionCommand is `jq-ctl system version`.
type systemVersionCommand struct{ app *app }

func (c *systemVersionCommand) spec() spec {
	return spec{
		name:  "version",
		short: "versions of jq-ctl and of jq-server",
		long: `Prints jq-ctl's version, then asks jq-server for its own. When the server cannot be reached
the client's version is still printed (with "server": null in -o json) and the exit code
says why.`,
		examples: []string{
			"jq-ctl system version",
			"jq-ctl system version -o json",
		},
	}
}

// versionView is system version's document.
type versionView struct {
	Client clientVersion  `json:"client"`
	Server *serverVersion `json:"server"` // null when the server did not answer
}

type clientVersion struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

type serverVersion struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

func (c *systemVersionCommand) Run(ctx context.Context, args []string) error {
	if err := wantArgs("system version", args); err != nil {
		return err
	}
	v := versionView{Client: clientVersion{Version: buildinfo.Version, Commit: buildinfo.Commit, Date: buildinfo.Date, Go: runtime.Version()}}
	cl, err := c.app.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	st, rpcErr := call(ctx, cl, cl.admin.GetSystemStatus, &jqv1.GetSystemStatusRequest{})
	if rpcErr == nil {
		v.Server = &serverVersion{Version: st.GetServerVersion(), Commit: st.GetServerCommit()}
	}
	err = c.app.emit(v, func(w io.Writer) {
		row(w, "CLIENT", buildinfo.String("jq-ctl"))
		if v.Server != nil {
			row(w, "SERVER", fmt.Sprintf("jq-server %s (commit %s) at %s", v.Server.Version, v.Server.Commit, c.app.g.serverAddr))
		}
	})
	if rpcErr != nil {
		return rpcErr
	}
	return err
}
