package faultproxy_test

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/bench/faultproxy"
	"github.com/jqhq/jq/internal/testleak"
)

func TestMain(m *testing.M) { testleak.VerifyTestMain(m) }

// echoServer answers every line with the same line; closed reports each connection's end.
type echoServer struct {
	lis    net.Listener
	closed chan struct{}
	wg     sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &echoServer{lis: lis, closed: make(chan struct{}, 16)}
	s.wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() {
				defer func() { s.closed <- struct{}{} }()
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = lis.Close()
		s.wg.Wait()
	})
	return s
}

type fixture struct {
	echo  *echoServer
	proxy *faultproxy.Proxy
}

func setup(t *testing.T) fixture {
	t.Helper()
	echo := startEcho(t)
	p, err := faultproxy.Listen(echo.lis.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return fixture{echo: echo, proxy: p}
}

// client is a connection through the proxy that reads lines in the background.
type client struct {
	conn  net.Conn
	lines chan string
	ended chan error // receives the read error (io.EOF, a reset) when the connection ends
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c := &client{conn: conn, lines: make(chan string, 16), ended: make(chan error, 1)}
	go func() {
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				c.ended <- err
				return
			}
			c.lines <- line
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *client) send(t *testing.T, line string) {
	t.Helper()
	_, err := c.conn.Write([]byte(line + "\n"))
	require.NoError(t, err)
}

func (c *client) requireLine(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-c.lines:
		require.Equal(t, want+"\n", got)
	case err := <-c.ended:
		t.Fatalf("connection ended (%v) while waiting for %q", err, want)
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer %q within 5 s", want)
	}
}

// requireSilent checks that nothing arrives and the connection does not end for d.
func (c *client) requireSilent(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-c.lines:
		t.Fatalf("got %q through a silent path", got)
	case err := <-c.ended:
		t.Fatalf("the connection ended (%v): a silence must close nothing", err)
	case <-time.After(d):
	}
}

func TestProxy_Forwards(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := dial(t, f.proxy.Addr())
	c.send(t, "hello")
	c.requireLine(t, "hello")
	require.Equal(t, int64(1), f.proxy.Accepted())
	require.Equal(t, 1, f.proxy.Open())
}

// TestProxy_BlackholeIsSilentAndRestoreDeliversHeldBytes: during a silence nothing arrives and
// nothing closes; after Restore what was sent meanwhile arrives.
func TestProxy_BlackholeIsSilentAndRestoreDeliversHeldBytes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := dial(t, f.proxy.Addr())
	c.send(t, "before")
	c.requireLine(t, "before")

	f.proxy.Blackhole()
	c.send(t, "during")
	c.requireSilent(t, 300*time.Millisecond)
	// A connection made during the silence is accepted and held silent too.
	late := dial(t, f.proxy.Addr())
	late.send(t, "late")
	late.requireSilent(t, 200*time.Millisecond)

	f.proxy.Restore()
	c.requireLine(t, "during")
	late.requireLine(t, "late")
	c.send(t, "after")
	c.requireLine(t, "after")
}

// TestProxy_RestoreNewOnly: connections that lived through the silence never hear back and
// their upstream ends; new connections work.
func TestProxy_RestoreNewOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	old := dial(t, f.proxy.Addr())
	old.send(t, "ping")
	old.requireLine(t, "ping")

	f.proxy.Blackhole()
	old.send(t, "lost")
	f.proxy.RestoreNewOnly()
	select {
	case <-f.echo.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the orphaned connection's upstream side was not closed")
	}
	old.requireSilent(t, 300*time.Millisecond)

	fresh := dial(t, f.proxy.Addr())
	fresh.send(t, "new")
	fresh.requireLine(t, "new")

	// The client giving up frees the orphan.
	require.NoError(t, old.conn.Close())
	require.Eventually(t, func() bool { return f.proxy.Open() == 1 }, 5*time.Second, 10*time.Millisecond)
}

// TestProxy_ClosesPassOn: a client's close reaches the target, the target's close reaches the
// client.
func TestProxy_ClosesPassOn(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := dial(t, f.proxy.Addr())
	c.send(t, "x")
	c.requireLine(t, "x")
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	select {
	case err := <-c.ended:
		require.ErrorIs(t, err, io.EOF)
	case <-time.After(5 * time.Second):
		t.Fatal("the close did not travel through the proxy")
	}
	require.Eventually(t, func() bool { return f.proxy.Open() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestProxy_TargetDown: when the target refuses, the proxy closes the client's connection.
func TestProxy_TargetDown(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	p, err := faultproxy.Listen(addr)
	require.NoError(t, err)
	defer p.Close()
	c := dial(t, p.Addr())
	select {
	case <-c.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's connection stayed open although the target refused")
	}
}

// TestProxy_CloseEndsSilentConnections: Close does not wait for silent connections to wake.
func TestProxy_CloseEndsSilentConnections(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p, err := faultproxy.Listen(echo.lis.Addr().String())
	require.NoError(t, err)
	c := dial(t, p.Addr())
	c.send(t, "x")
	c.requireLine(t, "x")
	p.Blackhole()
	c.send(t, "y")
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a silent connection")
	}
	select {
	case <-c.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's connection stayed open after Close")
	}
}
