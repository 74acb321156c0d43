package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

func TestSchedule(t *testing.T) {
	t.Parallel()
	b := setup(t)

	r := b.ctl(t, "schedule", "create", "nightly", "--cron", "0 3 * * *", "--time-zone", "Europe/Paris", "--overlap", "skip",
		"--catch-up", "last", "--", "make", "report")
	r.requireCode(t, exitOK)
	require.Equal(t, "schedule nightly created: \"0 3 * * *\" (Europe/Paris) to queue default\n", r.stdout)
	r = b.ctl(t, "schedule", "create", "nightly", "--cron", "@hourly", "--payload", "{}")
	r.requireCode(t, exitConflict)
	r = b.ctl(t, "schedule", "create", "nightly", "--cron", "@hourly", "--payload", "{}", "--replace", "-o", "json")
	r.requireCode(t, exitOK)
	var v scheduleView
	r.decode(t, &v)
	require.Equal(t, "@hourly", v.Cron)
	require.Equal(t, "allow", v.Overlap, "--replace takes the flags given: here the default")

	r = b.ctl(t, "schedule", "create", "bad", "--cron", "* * 32 * *", "--payload", "{}")
	r.requireCode(t, exitInvalid)
	require.Contains(t, r.stderr, "32")
	r = b.ctl(t, "schedule", "create", "bad", "--payload", "{}")
	r.requireCode(t, exitUsage)
	require.Contains(t, r.stderr, "--cron is required")

	r = b.ctl(t, "schedule", "list")
	r.requireCode(t, exitOK)
	require.Regexp(t, `(?m)^NAME\s+CRON\s+TIME ZONE\s+QUEUE\s+STATE\s+NEXT\s+LAST\s+LAST JOB\s+ERROR$`, r.stdout)
	require.Regexp(t, `(?m)^nightly\s+@hourly\s+UTC\s+default\s+active\s+`, r.stdout)

	r = b.ctl(t, "schedule", "trigger", "nightly")
	r.requireCode(t, exitOK)
	id := strings.TrimSpace(r.stdout)
	require.Equal(t, "PENDING", b.job(t, id).Status)

	b.ctl(t, "schedule", "pause", "nightly").requireCode(t, exitOK)
	r = b.ctl(t, "schedule", "list", "-o", "json")
	r.requireCode(t, exitOK)
	var list []scheduleView
	r.decode(t, &list)
	require.Len(t, list, 1)
	require.True(t, list[0].Paused)
	require.Equal(t, id, list[0].LastJobID)
	r = b.ctl(t, "schedule", "resume", "nightly")
	r.requireCode(t, exitOK)
	require.Equal(t, "schedule nightly active\n", r.stdout)
	b.ctl(t, "schedule", "delete", "nightly").requireCode(t, exitOK)
	b.ctl(t, "schedule", "delete", "nightly").requireCode(t, exitNotFound)
}

const etlWorkflow = `name: etl
jobs:
  - name: extract
    command: ["./extract"]
  - name: transform
    depends_on: [extract]
    payload: {"kind": "transform", "rows": 10}
  - name: load
    depends_on: [transform]
    command: ["./load"]
    priority: 5
    on_dependency_failure: run
`

func TestWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	file := filepath.Join(t.TempDir(), "etl.yaml")
	require.NoError(t, os.WriteFile(file, []byte(etlWorkflow), 0o600))

	r := b.ctl(t, "workflow", "submit", file, "-o", "json")
	r.requireCode(t, exitOK)
	var sub workflowSubmitView
	r.decode(t, &sub)
	require.Len(t, sub.Jobs, 3)
	require.Equal(t, []string{"extract"}, sub.Jobs[1].DependsOn)

	r = b.ctl(t, "workflow", "status", sub.WorkflowID)
	r.requireCode(t, exitOK)
	require.Contains(t, r.stdout, "workflow "+sub.WorkflowID+" (etl)")
	require.Regexp(t, `(?m)^NODE\s+STATUS\s+JOB ID\s+DEPENDS ON\s+PROGRESS\s+ERROR$`, r.stdout)
	require.Regexp(t, `(?m)^extract\s+PENDING\s+`+sub.Jobs[0].JobID+`\s+-\s+-\s+-$`, r.stdout)
	require.Regexp(t, `(?m)^load\s+WAITING\s+`+sub.Jobs[2].JobID+`\s+transform\s+`, r.stdout)

	r = b.ctl(t, "workflow", "status", sub.WorkflowID, "-o", "json")
	r.requireCode(t, exitOK)
	var st workflowView
	r.decode(t, &st)
	require.Equal(t, "etl", st.Name)
	require.Equal(t, "WAITING", st.Jobs[1].Job.Status)
	require.Equal(t, map[string]any{"kind": "transform", "rows": float64(10)}, st.Jobs[1].Job.Payload)

	r = b.ctlIn(t, "name: loop\njobs:\n  - {name: a, command: [x], depends_on: [b]}\n  - {name: b, command: [x], depends_on: [a]}\n",
		"workflow", "submit", "-")
	r.requireCode(t, exitInvalid)
	require.Contains(t, r.stderr, "cycle: a → b → a")
	r = b.ctlIn(t, "name: typo\njobs:\n  - {name: a, comand: [x]}\n", "workflow", "submit", "-")
	r.requireCode(t, exitInvalid)
	require.Contains(t, r.stderr, "comand")
	b.ctl(t, "workflow", "status", uuid.NewString()).requireCode(t, exitNotFound)
}

func TestJobSubmit_UniqueAndDependencies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.submit(t, "--unique-key", "sync-42", "--unique-statuses", "pending,running", "--", "./sync")
	r := b.ctl(t, "job", "submit", "--unique-key", "sync-42", "--unique-statuses", "pending,running", "--", "./sync")
	r.requireCode(t, exitOK)
	require.Equal(t, first, strings.TrimSpace(r.stdout))
	require.Contains(t, r.stderr, `unique key "sync-42" matched job `+first)
	b.ctl(t, "job", "submit", "--unique-window", "1h", "--", "x").requireCode(t, exitUsage)
	b.ctl(t, "job", "submit", "--unique-key", "k", "--unique-statuses", "sleeping", "--", "x").requireCode(t, exitInvalid)

	child := b.submit(t, "--depends-on", first, "--on-dependency-failure", "run", "--", "./after")
	j := b.job(t, child)
	require.Equal(t, "WAITING", j.Status)
	require.Equal(t, []string{first}, j.DependsOn)
	r = b.ctl(t, "job", "status", child)
	r.requireCode(t, exitOK)
	require.Regexp(t, `(?m)^DEPENDS ON\s+`+first+`$`, r.stdout)
	require.Regexp(t, `(?m)^PROGRESS\s+-$`, r.stdout)
	r = b.ctl(t, "job", "submit", "--depends-on", uuid.NewString(), "--", "x")
	r.requireCode(t, exitNotFound)
	b.ctl(t, "job", "submit", "--depends-on", "nope", "--", "x").requireCode(t, exitInvalid)
}

// TestJobLogs_Follow: job logs --follow prints the transitions and the progress as they come,
// and ends when the job does.
func TestJobLogs_Follow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b)
	id := b.submit(t, "--", "./long")

	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--server-addr", b.addr, "--token", b.srv.AdminKey, "job", "logs", "--follow", "--interval",
			"50ms", id}, strings.NewReader(""), &stdout, &stderr)
	}()
	a := w.next()
	_, err := w.client.ReportProgress(context.Background(), &jqv1.ReportProgressRequest{WorkerId: w.id, JobId: id, Attempt: a.GetAttempt(),
		Progress: 40, Message: "copying files"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.job(t, id).Progress != nil }, 5*time.Second, 20*time.Millisecond)
	r := b.ctl(t, "job", "status", id)
	require.Regexp(t, `(?m)^PROGRESS\s+40% copying files \(`+recent+`\)$`, r.stdout)
	time.Sleep(200 * time.Millisecond) // the follower sees it before the end
	w.report(a, true, "ok", "")
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("job logs --follow did not end with the job")
	}
	out := stdout.String()
	require.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3}  - -> PENDING  SUBMITTED  attempt 0$`, out)
	require.Contains(t, out, "progress 40%  copying files")
	require.Regexp(t, `(?m)  RUNNING -> DONE  COMPLETED  attempt 1  worker `, out)
	require.Less(t, strings.Index(out, "progress 40%"), strings.Index(out, "-> DONE"), "in the order they happened")

	// On a finished job it prints what there is and ends; -o json gives one document per line.
	r = b.ctl(t, "job", "logs", "--follow", id, "-o", "json")
	r.requireCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Contains(t, lines[0], `"type":"event"`)
	require.Contains(t, lines[len(lines)-1], `"type":"progress"`)
	require.Contains(t, lines[len(lines)-1], `"progress":40`)
}
