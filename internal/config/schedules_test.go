package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
)

func TestSchedules_LoadAndValidate(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `
schedules:
  - name: nightly-report
    cron: "0 3 * * *"
    time_zone: Europe/Paris
    queue: reports
    command: ["make", "report"]
    overlap: skip
    catch_up: last
  - name: ping
    cron: "@every 30s"
    payload: {kind: ping, targets: [a, b], n: 2}
    priority: 9
    max_retries: 0
`)
	cfg, _ := load(t, config.ServiceServer, config.Source{File: path})
	require.NoError(t, cfg.Validate(config.ServiceServer))
	require.Len(t, cfg.Schedules, 2)
	nightly, ping := cfg.Schedules[0], cfg.Schedules[1]
	payload, err := nightly.JSONPayload()
	require.NoError(t, err)
	require.JSONEq(t, `{"command": ["make", "report"]}`, string(payload))
	payload, err = ping.JSONPayload()
	require.NoError(t, err)
	require.JSONEq(t, `{"kind": "ping", "targets": ["a", "b"], "n": 2}`, string(payload))
	require.Equal(t, "default", ping.QueueName())
	require.NotNil(t, ping.MaxRetries)
	require.Zero(t, *ping.MaxRetries)

	bad := writeFile(t, `
schedules:
  - name: a
    cron: "0 25 * * *"
    command: [x]
  - name: a
    cron: "@hourly"
    time_zone: Moon/Base
    payload: {}
    command: [y]
    overlap: sometimes
    catch_up: all
    priority: 12
  - cron: "@daily"
`)
	cfg, _ = load(t, config.ServiceServer, config.Source{File: bad})
	problems := config.Problems(cfg.Validate(config.ServiceServer))
	for _, want := range []string{
		"schedules[a].cron", "25", "two schedules are named a", "Moon/Base", "give command or payload, not both",
		"schedules[a].overlap", "schedules[a].catch_up", "schedules[a].priority", "schedules[2].name: required", "schedules[2].payload: required",
	} {
		require.Contains(t, joined(problems), want)
	}

	_, _, err = config.Load(config.ServiceServer, config.Source{File: writeFile(t, "schedules:\n  - name: a\n    crom: x\n"), LookupEnv: env{}.lookup})
	require.ErrorContains(t, err, "crom", "unknown keys of an entry are refused")
}

func joined(problems []string) string {
	out := ""
	for _, p := range problems {
		out += p + "\n"
	}
	return out
}
