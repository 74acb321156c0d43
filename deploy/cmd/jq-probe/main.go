// Command jq-probe is the health check of the jq images: it asks the health listener of the
// jq-server or jq-worker running in the same container for /readyz (or another path) and exits 0
// on HTTP 200, 1 otherwise.
//
// It exists because the server and jq-ctl images have no shell, curl or wget (they are built
// FROM scratch), yet Docker's HEALTHCHECK and Compose's healthcheck run a command inside the
// container. It speaks just enough HTTP/1.0 over a plain TCP connection to read the status line,
// so it imports neither net/http nor crypto: the binary stays near 2 MB.
//
//	jq-probe                 GET http://127.0.0.1:$JQ_HEALTH_PORT/readyz (port 8080 when unset)
//	jq-probe /healthz        another path
//	jq-probe /readyz 8081    another port
//
// It must build with the standard library alone: the Dockerfiles compile this one file outside
// any module, so that building the images never downloads the ops module's dependencies.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultPort is jq-server's default health port (config.Default: health.port). jq-worker's
// image sets JQ_HEALTH_PORT to its own default instead.
const defaultPort = "8080"

// timeout bounds the whole probe: Docker kills a health check at its own timeout anyway, but a
// probe that returns first says why it failed.
const timeout = 3 * time.Second

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "jq-probe:", err)
		os.Exit(1)
	}
}

// run probes the path and port that args and the environment name; nil means HTTP 200.
func run(args []string, getenv func(string) string) error {
	path, port := "/readyz", getenv("JQ_HEALTH_PORT")
	if port == "" || port == "0" {
		port = defaultPort
	}
	switch len(args) {
	case 2:
		port = args[1]
		fallthrough
	case 1:
		path = args[0]
	case 0:
	default:
		return errors.New("usage: jq-probe [PATH [PORT]]")
	}
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q must start with /", path)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a port number", port)
	}
	return probe(net.JoinHostPort("127.0.0.1", port), path)
}

// probe sends one HTTP/1.0 GET to addr and checks the status code of the reply.
func probe(addr, path string) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close() }() // read-only use: a close error changes nothing
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	// HTTP/1.0 without keep-alive: the server closes the connection after the reply.
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: jq-probe\r\n\r\n", path, addr); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	status, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	fields := strings.Fields(status)
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "HTTP/") {
		return fmt.Errorf("malformed status line %q", strings.TrimSpace(status))
	}
	if fields[1] != "200" {
		return fmt.Errorf("GET %s: status %s, want 200", path, strings.Join(fields[1:], " "))
	}
	return nil
}
