// Command jq-ctl is the jq operator CLI: it submits, inspects, cancels and retries jobs,
// manages queues, drains workers and checks the system's health, over jq-server's gRPC API.
// docs/jq-ctl.md describes every command, the output formats and the exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs jq-ctl with args (without the program name) and returns its exit code, having
// printed any error as one line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := newApp(stdin, stdout, stderr).execute(withCorrelationID(ctx), args)
	code := exitCode(err)
	if code != exitOK {
		fmt.Fprintf(stderr, "jq-ctl: %s\n", oneLine(err.Error()))
	}
	return code
}
