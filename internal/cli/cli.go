// Package cli is the start-up every jq binary shares: flags (parsed with ff), --help and
// --version, loading and validating the configuration, and the logger.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3"

	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
)

// ErrExit0 is returned by Parse when it has already done what was asked (--help, --version):
// the program exits 0.
var ErrExit0 = errors.New("done")

// UsageError is a mistake on the command line; programs exit 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Bound is a flag that sets a configuration field.
type Bound struct {
	Flag string // flag name without dashes, e.g. "grpc-port"
	Path string // dotted config path, e.g. "grpc.port"
}

// Program describes a binary's command line.
type Program struct {
	Service config.Service
	// Summary is the first line of --help.
	Summary string
	// Usage lines, without "Usage:".
	Usage []string
	// Bound flags, in the order --help lists them (after --config and --log-level).
	Bound []Bound
	// Extra registers flags that are not configuration (e.g. --dry-run).
	Extra func(fs *flag.FlagSet)
	// Footer is printed at the end of --help (examples, notes).
	Footer string
	// LookupEnv replaces os.LookupEnv (tests).
	LookupEnv func(string) (string, bool)
}

// Setup is what a binary starts with.
type Setup struct {
	Config *config.Config
	Logger *slog.Logger
	// Args are the positional arguments left after the flags.
	Args []string
	// Flags is the parsed flag set, for the Extra flags' values.
	Flags *flag.FlagSet
}

var commonBound = []Bound{{Flag: "log-level", Path: "logging.level"}}

// Parse reads args (without the program name), prints --help or --version to stdout when asked
// (returning ErrExit0), loads and validates the configuration, and builds the logger, which
// writes to stdout. Configuration warnings are logged at WARN.
func (p Program) Parse(args []string, stdout io.Writer) (*Setup, error) {
	return p.ParseLogTo(args, stdout, stdout)
}

// ParseLogTo is Parse with the logger writing to logs instead of stdout: for commands whose
// stdout is their result (jq-server auth create-key prints a key there, alone).
func (p Program) ParseLogTo(args []string, stdout, logs io.Writer) (*Setup, error) {
	lookup := p.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	defaults := config.Default(p.Service)
	fs := flag.NewFlagSet(string(p.Service), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "", "YAML config file")
	help := fs.Bool("help", false, "print this help and exit")
	version := fs.Bool("version", false, "print the version and exit")
	bound := append(append([]Bound{}, commonBound...), p.Bound...)
	for _, b := range bound {
		f, ok := defaults.Field(b.Path)
		if !ok {
			panic(fmt.Sprintf("cli: flag --%s bound to unknown setting %s", b.Flag, b.Path))
		}
		fs.String(b.Flag, f.String(), f.Help)
	}
	if p.Extra != nil {
		p.Extra(fs)
	}

	err := ff.Parse(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		*help = true
	case err != nil:
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // drop ff's "error parsing commandline arguments" prefix
		}
		return nil, &UsageError{Err: fmt.Errorf("%w (see %s --help)", err, p.Service)}
	}
	if *help {
		p.printHelp(stdout, fs, bound, defaults)
		return nil, ErrExit0
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.String(string(p.Service)))
		return nil, ErrExit0
	}

	src := config.Source{File: *configFile, LookupEnv: lookup, Flags: map[string]string{}}
	if src.File == "" {
		src.File, _ = lookup("JQ_CONFIG")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, b := range bound {
		if set[b.Flag] {
			src.Flags[b.Path] = fs.Lookup(b.Flag).Value.String()
		}
	}

	cfg, warnings, err := config.Load(p.Service, src)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(p.Service); err != nil {
		return nil, err
	}
	level, _ := config.ParseLevel(cfg.Logging.Level) // validated above
	logger := logging.New(logs, string(p.Service), logging.Options{Level: level, AddSource: cfg.Logging.AddSource})
	for _, w := range warnings {
		logger.Warn(w)
	}
	return &Setup{Config: cfg, Logger: logger, Args: fs.Args(), Flags: fs}, nil
}

func (p Program) printHelp(w io.Writer, fs *flag.FlagSet, bound []Bound, defaults *config.Config) {
	fmt.Fprintf(w, "%s - %s\n\nUsage:\n", p.Service, p.Summary)
	for _, u := range p.Usage {
		fmt.Fprintf(w, "  %s\n", u)
	}
	fmt.Fprintln(w, "\nFlags:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(name, usage, def, env string) {
		var notes []string
		if def != "" {
			notes = append(notes, "default "+def)
		}
		if env != "" {
			notes = append(notes, "env "+env)
		}
		if len(notes) > 0 {
			usage += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(tw, "  --%s\t%s\n", name, usage)
	}
	line("config PATH", "YAML config file", "", "JQ_CONFIG")
	listed := map[string]bool{"config": true, "help": true, "version": true}
	for _, b := range bound {
		f, _ := defaults.Field(b.Path)
		def := f.String()
		if def == "" {
			def = `""`
		}
		line(b.Flag+" "+strings.ToUpper(f.Kind()), f.Help, def, f.Env)
		listed[b.Flag] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if listed[f.Name] {
			return
		}
		def := f.DefValue
		if def == "false" || def == "" {
			def = ""
		}
		line(f.Name, f.Usage, def, "")
	})
	line("version", "print the version and exit", "", "")
	line("help", "print this help and exit", "", "")
	_ = tw.Flush()
	fmt.Fprintf(w, "\nEvery setting can also be set in the config file or with its JQ_* environment variable\n"+
		"(docs/config.md lists them all). Precedence: flag > environment > file > default.\n")
	if p.Footer != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(p.Footer, "\n"))
	}
}

// ExitCode maps an error returned by a program to its exit status: 0 for none or ErrExit0,
// 2 for a usage or configuration mistake, 1 otherwise.
func ExitCode(err error) int {
	var usage *UsageError
	var cfg *config.Error
	switch {
	case err == nil || errors.Is(err, ErrExit0):
		return 0
	case errors.As(err, &usage), errors.As(err, &cfg):
		return 2
	default:
		return 1
	}
}

// Main runs a program's run function and exits with its status, printing the error as one
// line (or a list, for configuration problems) on stderr.
func Main(service config.Service, run func(args []string, stdout, stderr io.Writer) error) {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if code := ExitCode(err); code != 0 {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(code)
	}
}
