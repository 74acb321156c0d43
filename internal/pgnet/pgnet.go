// Package pgnet sets how jq's PostgreSQL connections use the network: a bounded connection
// attempt and TCP keepalives on every socket (the pool, the claims pool, the LISTEN
// connection, the leader election's session). Keepalives find a peer whose host vanished
// (its kernel stops answering); they cannot find a path that still acknowledges but delivers
// nothing, so every call on those connections also carries a client-side deadline (the
// store's statement timeout, the listener's probe, the election's per-call timeout).
package pgnet

import (
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Keepalive timing of jq's PostgreSQL sockets: the first probe after 15 s of silence, then
// every 5 s, and the socket is dead after 3 unanswered probes (30 s in all), well below
// Linux's default of over two hours.
const (
	KeepaliveIdle     = 15 * time.Second
	KeepaliveInterval = 5 * time.Second
	KeepaliveCount    = 3
)

// Dialer returns the dialer of jq's PostgreSQL connections: connectTimeout bounds the TCP
// connect (0: none), and the socket sends keepalive probes.
func Dialer(connectTimeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: KeepaliveIdle, Interval: KeepaliveInterval, Count: KeepaliveCount,
		},
	}
}

// Configure makes c dial with Dialer and bounds a whole connection attempt (TCP, TLS and the
// startup exchange) by connectTimeout when it is set, else by c's own connect_timeout.
func Configure(c *pgconn.Config, connectTimeout time.Duration) {
	if connectTimeout > 0 {
		c.ConnectTimeout = connectTimeout
	}
	c.DialFunc = Dialer(c.ConnectTimeout).DialContext
}
