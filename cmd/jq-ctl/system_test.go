package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/config"
)

func TestSystem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	newTestWorker(t, b)
	b.submit(t, "-q", "default", "--delay", "1h", "--", "true")

	t.Run("StatusTable", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "system", "status")
		r.requireCode(t, exitOK)
		require.Regexp(t, `(?m)^STATUS\s+healthy$`, r.stdout)
		require.Regexp(t, `(?m)^SERVER\s+`+buildinfo.Version+` \(commit `+buildinfo.Commit+`\) at `+b.addr+`$`, r.stdout)
		require.Regexp(t, `(?m)^LEADER\s+(yes|no) `, r.stdout)
		require.Regexp(t, `(?m)^WORKERS\s+1 online$`, r.stdout)
		require.Regexp(t, `(?m)^JOBS\s+1 pending, 0 running, 0 dead-lettered$`, r.stdout)
		require.Regexp(t, `(?m)^COMPONENT\s+CONFIGURED\s+HEALTHY\s+VERSION\s+LATENCY\s+DETAIL$`, r.stdout)
		require.Regexp(t, `(?m)^postgresql\s+yes\s+yes\s+\S.*\s+\S+s\s+-$`, r.stdout)
		require.Regexp(t, `(?m)^redis\s+no\s+-\s+-\s+-\s+not configured$`, r.stdout)
	})

	t.Run("StatusJSON", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "system", "status", "-o", "json")
		r.requireCode(t, exitOK)
		var v systemView
		r.decode(t, &v)
		require.True(t, v.Healthy)
		require.Equal(t, buildinfo.Version, v.ServerVersion)
		require.Equal(t, int32(1), v.OnlineWorkers)
		require.Equal(t, int64(1), v.PendingJobs)
		require.NotNil(t, v.ServerTime)
		names := map[string]componentView{}
		for _, c := range v.Components {
			names[c.Name] = c
		}
		require.True(t, names["postgresql"].Configured)
		require.True(t, names["postgresql"].Healthy)
		require.NotEmpty(t, names["postgresql"].Version)
		require.Greater(t, names["postgresql"].LatencyMS, 0.0)
		require.False(t, names["redis"].Configured)
		require.Contains(t, names, "kafka")

		var m map[string]any
		r.decode(t, &m)
		for _, key := range []string{"healthy", "server_version", "server_commit", "server_time", "leader", "online_workers",
			"pending_jobs", "running_jobs", "dead_lettered_jobs", "components"} {
			require.Contains(t, m, key)
		}
	})

	t.Run("StatusYAML", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "system", "status", "-o", "yaml")
		r.requireCode(t, exitOK)
		var m map[string]any
		r.decodeYAML(t, &m)
		require.Equal(t, true, m["healthy"])
		require.Len(t, m["components"], 3)
	})

	t.Run("VersionTable", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "system", "version")
		r.requireCode(t, exitOK)
		require.Regexp(t, `(?m)^CLIENT\s+jq-ctl `+buildinfo.Version+` \(commit `, r.stdout)
		require.Regexp(t, `(?m)^SERVER\s+jq-server `+buildinfo.Version+` \(commit `+buildinfo.Commit+`\) at `+b.addr+`$`, r.stdout)
	})

	t.Run("VersionJSON", func(t *testing.T) {
		t.Parallel()
		r := b.ctl(t, "system", "version", "-o", "json")
		r.requireCode(t, exitOK)
		var v versionView
		r.decode(t, &v)
		require.Equal(t, clientVersion{Version: buildinfo.Version, Commit: buildinfo.Commit, Date: buildinfo.Date, Go: runtime.Version()}, v.Client)
		require.Equal(t, &serverVersion{Version: buildinfo.Version, Commit: buildinfo.Commit}, v.Server)
	})
}

func TestSystemStatus_DegradedStillExitsZero(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Redis.Addr = "127.0.0.1:1" }) // configured, nothing listens

	r := b.ctl(t, "system", "status")
	r.requireCode(t, exitOK)
	require.Regexp(t, `(?m)^STATUS\s+DEGRADED: redis unhealthy$`, r.stdout)
	require.Regexp(t, `(?m)^redis\s+yes\s+no\s+`, r.stdout)

	r = b.ctl(t, "system", "status", "-o", "json")
	r.requireCode(t, exitOK)
	var v systemView
	r.decode(t, &v)
	require.False(t, v.Healthy)
	for _, c := range v.Components {
		if c.Name == "redis" {
			require.True(t, c.Configured)
			require.False(t, c.Healthy)
			require.NotEmpty(t, c.Detail)
		}
	}
}
