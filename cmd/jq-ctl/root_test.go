package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/buildinfo"
)

// every command path, for the tests that go through them all.
var commandPaths = [][]string{
	{},
	{"job"}, {"job", "submit"}, {"job", "status"}, {"job", "cancel"}, {"job", "list"}, {"job", "logs"}, {"job", "retry"},
	{"queue"}, {"queue", "list"}, {"queue", "create"}, {"queue", "delete"}, {"queue", "stats"},
	{"queue", "pause"}, {"queue", "resume"}, {"queue", "update"},
	{"worker"}, {"worker", "list"}, {"worker", "drain"}, {"worker", "shutdown"},
	{"system"}, {"system", "status"}, {"system", "version"},
	{"key"}, {"key", "create"}, {"key", "list"}, {"key", "revoke"},
	{"audit"}, {"audit", "list"},
	{"schedule"}, {"schedule", "create"}, {"schedule", "list"}, {"schedule", "delete"}, {"schedule", "pause"},
	{"schedule", "resume"}, {"schedule", "trigger"},
	{"workflow"}, {"workflow", "submit"}, {"workflow", "status"},
}

func TestHelp_EveryCommand(t *testing.T) {
	t.Parallel()
	for _, path := range commandPaths {
		name := strings.Join(append([]string{"jq-ctl"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ctl(t, "", append(path, "--help")...)
			r.requireCode(t, exitOK)
			require.Empty(t, r.stderr)
			require.True(t, strings.HasPrefix(r.stdout, name+" - "), "help starts with %q:\n%s", name, r.stdout)
			require.Contains(t, r.stdout, "Usage:")
			require.Contains(t, r.stdout, "Examples:\n  jq-ctl ")
			require.Equal(t, r.stdout, ctl(t, "", append(path, "-h")...).stdout, "-h and --help differ")
		})
	}
}

func TestHelp_RootListsFlagsCommandsAndExitCodes(t *testing.T) {
	t.Parallel()
	r := ctl(t, "", "--help")
	r.requireCode(t, exitOK)
	for _, want := range []string{
		"  --server-addr HOST:PORT", "default localhost:50051; env JQ_SERVER_ADDR",
		"  --tls-ca FILE", "env JQ_TLS_CA", "  --tls-cert FILE", "env JQ_TLS_CERT", "  --tls-key FILE", "env JQ_TLS_KEY",
		"  --tls-server-name NAME", "env JQ_TLS_SERVER_NAME",
		"  --timeout DURATION", "default 10s; env JQ_TIMEOUT",
		"  -o, --output FORMAT", "default table; env JQ_OUTPUT",
		"  --log-level LEVEL", "default info; env JQ_LOG_LEVEL",
		"  --version", "  -h, --help",
		"Exit codes:", "  3    not found", "  7    job submit --wait: the job was dead-lettered",
	} {
		require.Contains(t, r.stdout, want)
	}
	for _, path := range commandPaths {
		if len(path) == 2 {
			require.Contains(t, r.stdout, "  "+path[0]+" "+path[1]+" ", "root help lists %v", path)
		}
	}
}

func TestHelp_AfterArguments(t *testing.T) {
	t.Parallel()
	r := ctl(t, "", "job", "status", "0191e3a0-7c1d-7000-8000-000000000001", "--help")
	r.requireCode(t, exitOK)
	require.True(t, strings.HasPrefix(r.stdout, "jq-ctl job status - "))
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := ctl(t, "", "--version")
	r.requireCode(t, exitOK)
	require.Equal(t, buildinfo.String("jq-ctl")+"\n", r.stdout)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t) // nothing is sent: a usage error is found before dialling
	for name, tc := range map[string]struct {
		args []string
		want string // in the message
		help string // the --help it points at
	}{
		"NoCommand":        {nil, "missing command", "jq-ctl --help"},
		"UnknownCommand":   {[]string{"jobs"}, `unknown command "jobs"`, "jq-ctl --help"},
		"NoSubcommand":     {[]string{"job"}, "missing command: one of submit, status", "jq-ctl job --help"},
		"UnknownSub":       {[]string{"queue", "purge"}, `unknown command "purge"`, "jq-ctl queue --help"},
		"UnknownFlag":      {[]string{"--no-such-flag"}, "no-such-flag", "jq-ctl --help"},
		"UnknownLeafFlag":  {[]string{"job", "list", "--no-such-flag"}, "no-such-flag", "jq-ctl job list --help"},
		"FlagAfterArg":     {[]string{"job", "status", "0191e3a0-7c1d-7000-8000-000000000001", "--bogus"}, "bogus", "jq-ctl job status --help"},
		"WrongType":        {[]string{"job", "submit", "--priority", "high", "--", "true"}, "priority", "jq-ctl job submit --help"},
		"MissingID":        {[]string{"job", "status"}, "missing JOB_ID", "jq-ctl job status --help"},
		"ExtraArg":         {[]string{"job", "cancel", "a", "b"}, `unexpected argument "b"`, "jq-ctl job cancel --help"},
		"ListArg":          {[]string{"job", "list", "x"}, `unexpected argument "x"`, "jq-ctl job list --help"},
		"MissingName":      {[]string{"queue", "create"}, "missing NAME", "jq-ctl queue create --help"},
		"MissingWorker":    {[]string{"worker", "drain"}, "missing WORKER_ID", "jq-ctl worker drain --help"},
		"NoPayload":        {[]string{"job", "submit", "-q", "default"}, "missing payload", "jq-ctl job submit --help"},
		"TwoPayloads":      {[]string{"job", "submit", "--payload", "{}", "--", "echo"}, "give one payload, not --payload and a command", "jq-ctl job submit --help"},
		"DelayAndTime":     {[]string{"job", "submit", "--delay", "1m", "--not-before", "2030-01-01T00:00:00Z", "--", "true"}, "--delay or --not-before", "jq-ctl job submit --help"},
		"BadOutput":        {[]string{"-o", "xml", "queue", "list"}, `--output "xml" is not one of table, json, yaml`, "jq-ctl --help"},
		"BadLogLevel":      {[]string{"--log-level", "loud", "queue", "list"}, "--log-level", "jq-ctl --help"},
		"NegativeTimeout":  {[]string{"--timeout", "-1s", "queue", "list"}, "--timeout -1s is negative", "jq-ctl --help"},
		"GlobalFlagNoArgs": {[]string{"--server-addr"}, "flag needs an argument", "jq-ctl --help"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ctl(t, "", append([]string{"--server-addr", addr}, tc.args...)...)
			r.requireCode(t, exitUsage)
			require.Empty(t, r.stdout)
			require.Contains(t, r.stderr, tc.want)
			require.Contains(t, r.stderr, "(see "+tc.help+")")
		})
	}
}

func TestInvalidValues_CaughtBeforeCalling(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t) // exit 4, not 5: nothing is sent
	file := t.TempDir() + "/payload.json"
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"JobID":          {[]string{"job", "status", "nope"}, `job id "nope" is not a UUID`},
		"CancelID":       {[]string{"job", "cancel", "0191"}, `job id "0191" is not a UUID`},
		"LogsID":         {[]string{"job", "logs", "x"}, "is not a UUID"},
		"RetryID":        {[]string{"job", "retry", "x"}, "is not a UUID"},
		"WorkerID":       {[]string{"worker", "drain", "w1"}, `worker id "w1" is not a UUID`},
		"ShutdownID":     {[]string{"worker", "shutdown", "w1"}, `worker id "w1" is not a UUID`},
		"Priority":       {[]string{"job", "submit", "--priority", "12", "--", "true"}, "--priority 12 is outside 0-9"},
		"NotJSON":        {[]string{"job", "submit", "--payload", "{"}, "--payload is not valid JSON"},
		"NoFile":         {[]string{"job", "submit", "--payload-file", file}, "--payload-file"},
		"NotBefore":      {[]string{"job", "submit", "--not-before", "tomorrow", "--", "true"}, `--not-before "tomorrow" is not an RFC 3339 time`},
		"NegativeDelay":  {[]string{"job", "submit", "--delay", "-1m", "--", "true"}, "--delay -1m0s is negative"},
		"EnvNotKV":       {[]string{"job", "submit", "--env", "NOEQUALS", "--", "true"}, `--env "NOEQUALS" is not KEY=VALUE`},
		"EnvOnArray":     {[]string{"job", "submit", "--env", "A=1", "--payload", "[1]"}, "need a payload that is a JSON object"},
		"JobStatus":      {[]string{"job", "list", "--status", "sleeping"}, `--status "sleeping" is not one of`},
		"WorkerStatus":   {[]string{"worker", "list", "--status", "busy"}, `--status "busy" is not one of online, offline, draining`},
		"Limit":          {[]string{"job", "list", "--limit", "0"}, "--limit 0"},
		"TTL":            {[]string{"queue", "create", "q", "--ttl", "1500ms"}, "--ttl 1.5s: want a whole number of seconds"},
		"MaxRetries":     {[]string{"job", "submit", "--max-retries", "-1", "--", "true"}, "--max-retries -1 is negative"},
		"TLSFileMissing": {[]string{"--tls-ca", file, "queue", "list"}, "payload.json"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ctl(t, "", append([]string{"--server-addr", addr}, tc.args...)...)
			r.requireCode(t, exitInvalid)
			require.Contains(t, r.stderr, tc.want)
		})
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()

	t.Run("NothingListens", func(t *testing.T) {
		t.Parallel()
		addr := closedAddr(t)
		for _, args := range [][]string{
			{"job", "status", "0191e3a0-7c1d-7000-8000-000000000001"},
			{"job", "submit", "--", "echo", "hi"},
			{"queue", "list"},
			{"worker", "list"},
			{"system", "status"},
		} {
			r := ctl(t, "", append([]string{"--server-addr", addr}, args...)...)
			r.requireCode(t, exitUnavailable)
			require.Contains(t, r.stderr, "jq-ctl: cannot reach jq-server at "+addr+": ")
			require.Contains(t, r.stderr, "connection refused")
		}
	})

	t.Run("NoAnswerWithinTimeout", func(t *testing.T) {
		t.Parallel()
		addr := silentAddr(t)
		r := ctl(t, "", "--server-addr", addr, "--timeout", "300ms", "queue", "list")
		r.requireCode(t, exitUnavailable)
		require.Contains(t, r.stderr, "jq-server at "+addr+" did not answer within 300ms (see --timeout)")
	})

	t.Run("VersionStillPrintsClient", func(t *testing.T) {
		t.Parallel()
		r := ctl(t, "", "--server-addr", closedAddr(t), "system", "version", "-o", "json")
		r.requireCode(t, exitUnavailable)
		var v versionView
		r.decode(t, &v)
		require.Equal(t, buildinfo.Version, v.Client.Version)
		require.Nil(t, v.Server)
	})
}

// TestEnvironment sets process environment variables, so it does not run in parallel (the
// parallel tests wait until it is done).
func TestEnvironment(t *testing.T) {
	b := setup(t)
	t.Setenv("JQ_SERVER_ADDR", b.addr)
	t.Setenv("JQ_TOKEN", b.srv.AdminKey)
	t.Setenv("JQ_OUTPUT", "json")
	t.Setenv("JQ_VERSION", "1.7.1") // the jq JSON tool's installers set this; jq-ctl must ignore it

	r := ctl(t, "", "queue", "list")
	r.requireCode(t, exitOK)
	var queues []queueView
	r.decode(t, &queues)
	require.NotEmpty(t, queues)

	r = ctl(t, "", "queue", "list", "-o", "table")
	r.requireCode(t, exitOK)
	require.True(t, strings.HasPrefix(r.stdout, "NAME"), "a flag beats its variable: %s", r.stdout)

	r = ctl(t, "", "--server-addr", closedAddr(t), "queue", "list")
	r.requireCode(t, exitUnavailable)

	t.Setenv("JQ_TIMEOUT", "soon")
	r = ctl(t, "", "queue", "list")
	r.requireCode(t, exitUsage)
	require.Contains(t, r.stderr, "JQ_TIMEOUT")
}
