package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b, "default")
	idle := newTestWorker(t, b, "default")

	r := b.ctl(t, "worker", "list")
	r.requireCode(t, exitOK)
	require.Regexp(t, `(?m)^WORKER ID\s+HOSTNAME\s+STATUS\s+CONNECTED\s+JOBS\s+QUEUES\s+LAST HEARTBEAT\s+REGISTERED$`, r.stdout)
	require.Regexp(t, `(?m)^`+w.id+`\s+test-host\s+ONLINE\s+yes\s+0/1\s+default\s+`+recent+`\s+`+recent+`$`, r.stdout)

	r = b.ctl(t, "worker", "drain", w.id)
	r.requireCode(t, exitOK)
	require.Equal(t, "worker "+w.id+" is DRAINING\n", r.stdout)

	r = b.ctl(t, "worker", "list", "-o", "json")
	r.requireCode(t, exitOK)
	var workers []workerView
	r.decode(t, &workers)
	require.Len(t, workers, 2)
	status := map[string]workerView{}
	for _, v := range workers {
		status[v.WorkerID] = v
	}
	require.Equal(t, "DRAINING", status[w.id].Status)
	require.Equal(t, "ONLINE", status[idle.id].Status)
	require.Equal(t, []string{"default"}, status[w.id].Queues)
	require.True(t, status[w.id].Connected)
	require.NotNil(t, status[w.id].LastHeartbeat)

	r = b.ctl(t, "worker", "list", "--status", "draining", "-o", "yaml")
	r.requireCode(t, exitOK)
	var seq []map[string]any
	r.decodeYAML(t, &seq)
	require.Len(t, seq, 1)
	require.Equal(t, w.id, seq[0]["worker_id"])
	require.Equal(t, "DRAINING", seq[0]["status"])

	r = b.ctl(t, "worker", "shutdown", idle.id, "-o", "json")
	r.requireCode(t, exitOK)
	var v workerView
	r.decode(t, &v)
	require.Equal(t, idle.id, v.WorkerID)
	require.Equal(t, "DRAINING", v.Status)

	r = b.ctl(t, "worker", "shutdown", w.id)
	r.requireCode(t, exitOK)
	require.Contains(t, r.stdout, "will exit once its running jobs finish")

	missing := "0191e3a0-0000-7000-8000-00000000000f"
	r = b.ctl(t, "worker", "drain", missing)
	r.requireCode(t, exitNotFound)
	require.Contains(t, r.stderr, "jq-ctl: worker "+missing)
}
