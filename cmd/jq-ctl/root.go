package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/config"
)

// app is one invocation of jq-ctl: its streams, its global flags and its command tree.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time

	g      globals
	logger *slog.Logger

	// What the flag package writes while parsing (the help asked for, or an error followed by
	// the usage) and the command whose flags it was parsing, for the "see … --help" hint.
	parseOut  bytes.Buffer
	parsePath string

	// globalDefs are the global flags as the root --help shows them.
	globalDefs []flagDef
}

// globals are the flags every command accepts, before or after the command's name.
type globals struct {
	serverAddr    string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	token         string
	tokenFile     string
	timeout       time.Duration
	output        string
	logLevel      string
	version       bool
}

const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// envPrefix makes --server-addr read JQ_SERVER_ADDR, as jq-worker does.
const envPrefix = "JQ"

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, logger: slog.New(slog.DiscardHandler)}
}

// registerGlobals adds the global flags to f. The environment is read through a flag set
// without the one-letter aliases, so that -o does not read JQ_O.
func (a *app) registerGlobals(f *flagSet, aliases bool) {
	g := &a.g
	output := "output"
	if aliases {
		output = "o,output"
	}
	start := len(f.defs)
	f.String(&g.serverAddr, "server-addr", "HOST:PORT", config.Default(config.ServiceCtl).Worker.ServerAddr, "address of jq-server")
	f.String(&g.tlsCA, "tls-ca", "FILE", "", "CA certificates that sign the server's (system roots when empty); any --tls-* flag turns TLS on")
	f.String(&g.tlsCert, "tls-cert", "FILE", "", "client certificate, for mutual TLS")
	f.String(&g.tlsKey, "tls-key", "FILE", "", "key of --tls-cert")
	f.String(&g.tlsServerName, "tls-server-name", "NAME", "", "name the server's certificate must hold, if not the host of --server-addr")
	f.String(&g.token, "token", "KEY", "", "API key sent to jq-server (prefer --token-file: a command line is visible to other users)")
	f.String(&g.tokenFile, "token-file", "FILE", "", "file holding the API key; wins over --token (with neither: ~/.config/jq/token, when it exists)")
	f.Duration(&g.timeout, "timeout", "DURATION", 10*time.Second, "deadline of each call to jq-server; 0 for none", "10s")
	f.String(&g.output, output, "FORMAT", outputTable, "output format: table, json or yaml")
	f.String(&g.logLevel, "log-level", "LEVEL", "info", "debug, info, warn or error; debug logs each call to jq-server on stderr")
	for i := range f.defs[start:] {
		d := &f.defs[start+i]
		long := d.names[len(d.names)-1]
		d.env = envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(long, "-", "_"))
		if d.def == "" {
			d.def = `""`
		}
	}
}

// readEnv sets the global flags from their JQ_* variables. It runs after the command tree has
// registered its flags and before the command line is parsed, so that a flag beats its
// variable, which beats the default, wherever on the command line the flag is.
func (a *app) readEnv() error {
	fs := flag.NewFlagSet("jq-ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.registerGlobals(&flagSet{fs: fs}, false)
	if err := ff.Parse(fs, nil, ff.WithEnvVarPrefix(envPrefix)); err != nil {
		return &usageError{err: unwrapFF(err)}
	}
	return nil
}

// unwrapFF drops ff's "error parsing commandline arguments: " prefix.
func unwrapFF(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}

// execute parses args and runs the command they name.
func (a *app) execute(ctx context.Context, args []string) error {
	root := a.tree()
	if err := a.readEnv(); err != nil {
		return err
	}
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = a.parseOut.WriteTo(a.stdout)
			return errShown
		}
		return &usageError{path: a.parsePath, err: unwrapFF(err)}
	}
	if a.g.version {
		fmt.Fprintln(a.stdout, buildinfo.String("jq-ctl"))
		return errShown
	}
	return root.Run(ctx)
}

// setup checks the global flags, once the command line is parsed, and makes the logger.
func (a *app) setup() error {
	switch a.g.output {
	case outputTable, outputJSON, outputYAML:
	default:
		return &usageError{err: fmt.Errorf("--output %q is not one of table, json, yaml", a.g.output)}
	}
	if a.g.timeout < 0 {
		return &usageError{err: fmt.Errorf("--timeout %s is negative", a.g.timeout)}
	}
	level, err := config.ParseLevel(a.g.logLevel)
	if err != nil {
		return &usageError{err: fmt.Errorf("--log-level %w", err)}
	}
	a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// command is one jq-ctl command: its flags and help (spec) and what it does (Run).
type command interface {
	spec() spec
	// Run runs the command with its positional arguments.
	Run(ctx context.Context, args []string) error
}

// spec describes a command for the parser and for --help.
type spec struct {
	name  string
	args  string // positional arguments in the usage line, e.g. "JOB_ID"
	short string // one line, shown in the parent's list
	long  string
	// usage replaces the generated usage lines when set.
	usage    []string
	examples []string
	// verbatim keeps the positional arguments as they are (job submit's command): flags
	// after the first one are not looked for.
	verbatim bool
	flags    func(f *flagSet)
}

// tree builds the command tree.
func (a *app) tree() *ffcli.Command {
	return a.group("", "the jq operator CLI", rootLong,
		[]string{
			"jq-ctl --server-addr jq.internal:50051 system status",
			"jq-ctl job submit -q default -- echo hi",
			"jq-ctl job list --status dead_lettered -o json",
		},
		a.group("job", "submit, inspect, cancel and retry jobs", "", []string{
			"jq-ctl job submit -q default --wait -- echo hi",
			"jq-ctl job status 0191e3a0-7c1d-7000-8000-000000000001",
		},
			a.leaf("job", &jobSubmitCommand{app: a}),
			a.leaf("job", &jobStatusCommand{app: a}),
			a.leaf("job", &jobCancelCommand{app: a}),
			a.leaf("job", &jobListCommand{app: a}),
			a.leaf("job", &jobLogsCommand{app: a}),
			a.leaf("job", &jobRetryCommand{app: a}),
		),
		a.group("queue", "list, create, delete, pause and limit queues; show their statistics", "", []string{
			"jq-ctl queue create emails --max-retries 5 --ttl 24h",
			"jq-ctl queue pause emails",
			"jq-ctl queue update emails --max-running 20 --rate 100/1s",
			"jq-ctl queue stats",
		},
			a.leaf("queue", &queueListCommand{app: a}),
			a.leaf("queue", &queueCreateCommand{app: a}),
			a.leaf("queue", &queueDeleteCommand{app: a}),
			a.leaf("queue", &queueStatsCommand{app: a}),
			a.leaf("queue", &queuePauseCommand{app: a}),
			a.leaf("queue", &queuePauseCommand{app: a, resume: true}),
			a.leaf("queue", &queueUpdateCommand{app: a}),
		),
		a.group("worker", "list workers, drain them or shut them down", "", []string{
			"jq-ctl worker list --status online",
			"jq-ctl worker drain 0191e3a0-7c1d-7000-8000-000000000002",
		},
			a.leaf("worker", &workerListCommand{app: a}),
			a.leaf("worker", &workerDrainCommand{app: a}),
			a.leaf("worker", &workerShutdownCommand{app: a}),
		),
		a.group("system", "health and versions of jq-server and its dependencies", "", []string{
			"jq-ctl system status",
			"jq-ctl system version -o json",
		},
			a.leaf("system", &systemStatusCommand{app: a}),
			a.leaf("system", &systemVersionCommand{app: a}),
		),
		a.group("key", "create, list and revoke API keys (admin only)", "", []string{
			"jq-ctl key create ci --role submitter --queues deploys",
			"jq-ctl key revoke ci",
		},
			a.leaf("key", &keyCreateCommand{app: a}),
			a.leaf("key", &keyListCommand{app: a}),
			a.leaf("key", &keyRevokeCommand{app: a}),
		),
		a.group("audit", "the audit trail of operator actions (admin only)", "", []string{
			"jq-ctl audit list --action queue.delete",
		},
			a.leaf("audit", &auditListCommand{app: a}),
		),
		a.group("schedule", "periodic schedules: create, list, delete, pause, resume, trigger", "", []string{
			"jq-ctl schedule create nightly --cron '0 3 * * *' -q reports -- make report",
			"jq-ctl schedule list",
		},
			a.leaf("schedule", &scheduleCreateCommand{app: a}),
			a.leaf("schedule", &scheduleListCommand{app: a}),
			a.leaf("schedule", &scheduleActionCommand{app: a, action: "delete"}),
			a.leaf("schedule", &scheduleActionCommand{app: a, action: "pause"}),
			a.leaf("schedule", &scheduleActionCommand{app: a, action: "resume"}),
			a.leaf("schedule", &scheduleActionCommand{app: a, action: "trigger"}),
		),
		a.group("workflow", "submit a DAG of jobs that wait for each other, and follow it", "", []string{
			"jq-ctl workflow submit etl.yaml",
			"jq-ctl workflow status 0191e3a0-7c1d-7000-8000-0000000000aa",
		},
			a.leaf("workflow", &workflowSubmitCommand{app: a}),
			a.leaf("workflow", &workflowStatusCommand{app: a}),
		),
		a.group("events", "follow the job lifecycle events jq publishes to Kafka", "", []string{
			"jq-ctl events tail --kafka-brokers kafka:9092",
		},
			a.leaf("events", &eventsTailCommand{app: a}),
		),
	)
}

const rootLong = `jq-ctl talks to jq-server over gRPC. Global flags go before or after the command
(jq-ctl -o json job list, jq-ctl job list -o json); every command has its own --help.
jq-server refuses calls without an API key: give one with --token-file or JQ_TOKEN_FILE (or
--token, JQ_TOKEN); jq-server auth create-key makes the first admin key.`

// newFlagSet makes the flag set of the command at path, with the global flags.
func (a *app) newFlagSet(path string) *flagSet {
	fs := flag.NewFlagSet(commandName(path), flag.ContinueOnError)
	fs.SetOutput(parseOutput{a: a, path: path})
	f := &flagSet{fs: fs}
	a.registerGlobals(f, true)
	return f
}

// parseOutput records what the flag package prints and for which command.
type parseOutput struct {
	a    *app
	path string
}

func (w parseOutput) Write(p []byte) (int, error) {
	w.a.parsePath = w.path
	return w.a.parseOut.Write(p)
}

// group makes a command that only holds subcommands. path is its full path ("job"; "" for
// the root).
func (a *app) group(path, short, long string, examples []string, subs ...*ffcli.Command) *ffcli.Command {
	f := a.newFlagSet(path)
	if path == "" {
		a.globalDefs = f.defs
		f.Bool(&a.g.version, "version", "print the version and exit")
	}
	name := path
	if i := strings.LastIndexByte(path, ' '); i >= 0 {
		name = path[i+1:]
	}
	c := &ffcli.Command{
		Name:        name,
		ShortHelp:   short,
		FlagSet:     f.fs,
		Subcommands: subs,
	}
	c.UsageFunc = func(*ffcli.Command) string { return a.groupHelp(path, short, long, examples, c) }
	c.Exec = func(_ context.Context, args []string) error {
		var choices []string
		for _, s := range subs {
			choices = append(choices, s.Name)
		}
		if len(args) == 0 {
			return usagef(path, "missing command: one of %s", strings.Join(choices, ", "))
		}
		return usagef(path, "unknown command %q: want one of %s", args[0], strings.Join(choices, ", "))
	}
	return c
}

// leaf makes the ffcli command of cmd, under the group parent.
func (a *app) leaf(parent string, cmd command) *ffcli.Command {
	s := cmd.spec()
	path := parent + " " + s.name
	f := a.newFlagSet(path)
	globals := len(f.defs)
	if s.flags != nil {
		s.flags(f)
	}
	own := f.defs[globals:]
	c := &ffcli.Command{
		Name:      s.name,
		ShortHelp: s.short,
		FlagSet:   f.fs,
	}
	c.UsageFunc = func(*ffcli.Command) string { return a.leafHelp(path, s, own) }
	c.Exec = func(ctx context.Context, args []string) error {
		if !s.verbatim {
			var err error
			if args, err = parseInterspersed(f.fs, args); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					_, _ = a.parseOut.WriteTo(a.stdout)
					return errShown
				}
				return &usageError{path: path, err: err}
			}
		}
		if err := a.setup(); err != nil {
			return err
		}
		return cmd.Run(ctx, args)
	}
	return c
}

// parseInterspersed parses the flags that follow positional arguments (jq-ctl job status ID -o
// json): the flag package stops at the first argument that is not a flag.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return positional, nil
}

// wantArgs checks the number of positional arguments of the command at path.
func wantArgs(path string, args []string, want ...string) error {
	switch {
	case len(args) < len(want):
		return usagef(path, "missing %s", strings.Join(want[len(args):], " "))
	case len(args) > len(want):
		return usagef(path, "unexpected argument %q", args[len(want)])
	}
	return nil
}

// groupHelp is the --help of a group of commands, and of jq-ctl itself.
func (a *app) groupHelp(path, short, long string, examples []string, c *ffcli.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s - %s\n\nUsage:\n", commandName(path), short)
	if path == "" {
		fmt.Fprintf(&b, "  jq-ctl [global flags] COMMAND SUBCOMMAND [flags] [ARGS]\n")
	} else {
		fmt.Fprintf(&b, "  %s SUBCOMMAND [flags] [ARGS]\n", commandName(path))
	}
	if long != "" {
		fmt.Fprintf(&b, "\n%s\n", long)
	}
	fmt.Fprintf(&b, "\nCommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, sub := range c.Subcommands {
		if len(sub.Subcommands) == 0 {
			fmt.Fprintf(tw, "  %s\t%s\n", sub.Name, sub.ShortHelp)
			continue
		}
		for _, leaf := range sub.Subcommands {
			fmt.Fprintf(tw, "  %s %s\t%s\n", sub.Name, leaf.Name, leaf.ShortHelp)
		}
	}
	_ = tw.Flush()
	if path == "" {
		fmt.Fprintf(&b, "\nGlobal flags (before or after the command):\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, d := range a.globalDefs {
			fmt.Fprintf(tw, "  %s\t%s\n", d.flagName(), d.help())
		}
		fmt.Fprintf(tw, "  --version\tprint the version and exit\n")
		fmt.Fprintf(tw, "  -h, --help\tprint this help and exit; every command has its own\n")
		_ = tw.Flush()
		b.WriteString(exitCodesHelp)
	} else {
		fmt.Fprintf(&b, "\nGlobal flags: %s.\n", globalsSummary)
	}
	writeExamples(&b, examples)
	return strings.TrimRight(b.String(), "\n")
}

// leafHelp is the --help of one command.
func (a *app) leafHelp(path string, s spec, own []flagDef) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s - %s\n\nUsage:\n", commandName(path), s.short)
	usage := s.usage
	if len(usage) == 0 {
		line := commandName(path) + " [flags]"
		if s.args != "" {
			line += " " + s.args
		}
		usage = []string{line}
	}
	for _, u := range usage {
		fmt.Fprintf(&b, "  %s\n", u)
	}
	if s.long != "" {
		fmt.Fprintf(&b, "\n%s\n", s.long)
	}
	if len(own) > 0 {
		fmt.Fprintf(&b, "\nFlags:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, d := range own {
			fmt.Fprintf(tw, "  %s\t%s\n", d.flagName(), d.help())
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(&b, "\nGlobal flags: %s.\n", globalsSummary)
	writeExamples(&b, s.examples)
	return strings.TrimRight(b.String(), "\n")
}

const globalsSummary = "--server-addr, --token, --token-file, --tls-ca, --tls-cert, --tls-key, --tls-server-name, --timeout,\n" +
	"-o/--output table|json|yaml, --log-level (see jq-ctl --help for their defaults and JQ_* variables)"

const exitCodesHelp = `
Exit codes:
  0    success
  1    any other error (an internal error on the server, a local I/O error)
  2    usage: unknown command or flag, missing or extra argument, flag value of the wrong type
  3    not found: no such job, queue or worker
  4    invalid value, found by jq-ctl or jq-server: malformed UUID, priority outside 0-9,
       payload that is not JSON, bad time or status name
  5    jq-server unreachable, unavailable (e.g. PostgreSQL down) or slower than --timeout
  6    conflicts with the current state: cancel a finished job, delete a queue that has jobs,
       create a queue that exists
  7    job submit --wait: the job was dead-lettered or cancelled
  8    job submit --wait: --wait-timeout elapsed first
  9    refused: no API key, an unknown, expired or revoked one, or a role or queue it may not use
  130  interrupted (Ctrl-C)
Errors are one line on stderr: "jq-ctl: <message>".
`

func writeExamples(b *strings.Builder, examples []string) {
	if len(examples) == 0 {
		return
	}
	fmt.Fprintf(b, "\nExamples:\n")
	for _, e := range examples {
		fmt.Fprintf(b, "  %s\n", e)
	}
}
