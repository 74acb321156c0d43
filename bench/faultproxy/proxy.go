// Package faultproxy is a TCP proxy that can make a network path go silent: no FIN, no RST,
// no error, just nothing, as a partition, a dead NAT entry or a failed-over database looks
// from the client's side. jq-bench chaos puts it between jq-server and PostgreSQL and between
// workers and jq-server.
//
// A silence (Blackhole) stops forwarding in both directions and stops reading from either
// socket, so the senders' kernel buffers fill and their writes eventually block, as they do
// when the peer stops acknowledging; every socket stays open. Connections accepted during a
// silence are held the same way (the client's connect succeeds, nothing answers). Restore ends
// the silence and the held bytes flow on, as TCP retransmission delivers them after a short
// partition. RestoreNewOnly ends it for new connections only: the ones that lived through the
// silence stay silent toward their client until it gives up and closes them (their upstream
// side is closed at once), which is what a client sees when its peer went away for good
// behind a silent path — a database failover, a NAT table flushed, a host powered off.
//
// TCP keepalive probes cannot detect a silence made by this proxy: its own kernel
// acknowledges them. Only the clients' own timeouts can, which is what the chaos scenarios
// measure.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards the connections it accepts on its address to a target address.
type Proxy struct {
	target string
	lis    net.Listener

	mu     sync.Mutex
	cond   *sync.Cond // broadcast on every change of silent, closed or a link's state
	silent bool
	closed bool
	links  map[*link]struct{}
	wg     sync.WaitGroup

	accepted atomic.Int64
}

// link is one proxied connection: the client's socket and, once dialled, the target's.
type link struct {
	client   net.Conn
	upstream net.Conn // nil until dialled
	// orphaned links lived through a silence that ended with RestoreNewOnly: they never
	// forward again.
	orphaned bool
}

// Listen starts a proxy on a free loopback port toward target (host:port).
func Listen(target string) (*Proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{target: target, lis: lis, links: map[*link]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's address (host:port): point clients at it instead of the target.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Accepted is how many connections the proxy has accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Open is how many proxied connections are open now (silent ones included).
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Blackhole silences the path: from now on nothing is forwarded or read in either direction
// and no socket is closed, until Restore or RestoreNewOnly.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.silent = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Restore ends a silence: every connection forwards again, held bytes first.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.silent = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// RestoreNewOnly ends a silence for connections made from now on. The connections open now
// stay silent toward their clients for good; their upstream sockets are closed, so the
// target frees what it held for them.
func (p *Proxy) RestoreNewOnly() {
	p.mu.Lock()
	var ups []net.Conn
	for l := range p.links {
		l.orphaned = true
		if l.upstream != nil {
			ups = append(ups, l.upstream)
		}
	}
	p.silent = false
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range ups {
		_ = c.Close()
	}
}

// Close stops accepting, closes every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var conns []net.Conn
	for l := range p.links {
		conns = append(conns, l.client)
		if l.upstream != nil {
			conns = append(conns, l.upstream)
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.lis.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return // closed
		}
		p.accepted.Add(1)
		l := &link{client: c}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(l)
	}
}

// serve dials the target once the path is open, then pumps both ways.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	if !p.waitOpen(l) {
		p.drainOrphan(l)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = l.client.Close() // the target refuses: so does the proxy
		return
	}
	p.mu.Lock()
	if p.closed || l.orphaned {
		p.mu.Unlock()
		_ = up.Close()
		p.drainOrphan(l)
		return
	}
	l.upstream = up
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { p.pump(l, up, l.client) })
	wg.Go(func() { p.pump(l, l.client, up) })
	wg.Wait()
	_ = l.client.Close()
	_ = up.Close()
}

// pump copies src to dst while the path is open. A silence stops it between reads and
// writes; an end of src (EOF or error) is passed on as a half-close, once the path is open.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if !p.waitOpen(l) {
			p.orphanPump(l, dst, src)
			return
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if !p.waitOpen(l) {
				p.orphanPump(l, dst, src)
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
		}
		if rerr != nil {
			if !p.waitOpen(l) {
				p.orphanPump(l, dst, src)
				return
			}
			if errors.Is(rerr, io.EOF) {
				closeWrite(dst)
			} else {
				_ = dst.Close()
			}
			return
		}
	}
}

// orphanPump is the rest of a pump on an orphaned link: the client side is read and
// discarded until the client closes it (so the proxy notices and frees the socket), and
// nothing is ever written to it.
func (p *Proxy) orphanPump(l *link, dst, src net.Conn) {
	if src == l.client {
		_, _ = io.Copy(io.Discard, src)
		_ = src.Close()
		return
	}
	// The upstream side: already closed by RestoreNewOnly or Close.
	_ = src.Close()
	_ = dst // the client side is left to its reader
}

// drainOrphan keeps an orphaned link's client socket open and silent until the client closes
// it.
func (p *Proxy) drainOrphan(l *link) {
	_, _ = io.Copy(io.Discard, l.client)
	_ = l.client.Close()
}

// waitOpen blocks while the path is silent. It returns false when the link can never forward
// again: the proxy closed, or the link was orphaned.
func (p *Proxy) waitOpen(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.silent && !p.closed && !l.orphaned {
		p.cond.Wait()
	}
	return !p.closed && !l.orphaned
}

func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = c.Close()
}
