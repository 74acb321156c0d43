// Command jq-ctl is the jq operator CLI.
package main

import (
	"io"

	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/config"
)

var program = cli.Program{
	Service: config.ServiceCtl,
	Summary: "the jq operator CLI",
	Usage:   []string{"jq-ctl [flags] COMMAND"},
	Bound: []cli.Bound{
		{Flag: "server-addr", Path: "worker.server_addr"},
	},
}

func main() { cli.Main(program.Service, run) }

func run(args []string, stdout, _ io.Writer) error {
	setup, err := program.Parse(args, stdout)
	if err != nil {
		return err
	}
	_ = setup
	return &cli.UsageError{Err: errNoCommands}
}

var errNoCommands = errorString("no commands yet: job, queue, worker and system arrive with the jq-server API")

type errorString string

func (e errorString) Error() string { return string(e) }
