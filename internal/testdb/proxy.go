package testdb

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of the test PostgreSQL, so a test can make the database
// vanish (Cut) and come back (Restore) under a live process, as a network partition or a
// database restart would.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string

	mu    sync.Mutex
	lis   net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy proxies the server of connString and returns the proxy and connString rewritten to
// go through it. The proxy stops when tb ends.
func NewProxy(tb testing.TB, connString string) (*Proxy, string) {
	tb.Helper()
	u, err := url.Parse(connString)
	if err != nil {
		tb.Fatalf("testdb: proxy: %v", err)
	}
	p := &Proxy{tb: tb, target: u.Host, conns: map[net.Conn]struct{}{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testdb: proxy: %v", err)
	}
	p.addr = lis.Addr().String()
	p.serve(lis)
	tb.Cleanup(p.Cut)
	u.Host = p.addr
	return p, u.String()
}

func (p *Proxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			if p.lis != lis { // Cut while this connection was being made: it never was
				p.mu.Unlock()
				_, _ = c.Close(), up.Close()
				return
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(pair[0], pair[1])
					_ = pair[0].Close()
					_ = pair[1].Close()
				}()
			}
		}
	}()
}

// Cut closes the listener and every proxied connection: the database is gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.lis != nil {
		_ = p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Wait()
}

// Restore listens again on the same address.
func (p *Proxy) Restore() {
	p.tb.Helper()
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("testdb: proxy restore: %v", err)
	}
	p.serve(lis)
}
