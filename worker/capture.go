package worker

import (
	"fmt"
	"sync"
)

// capped keeps the first max bytes written to it and counts the rest, so a chatty job cannot
// exhaust the worker's memory.
type capped struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int64
}

func newCapped(max int) *capped { return &capped{max: max} }

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.buf)
	if room >= len(p) {
		c.buf = append(c.buf, p...)
	} else {
		if room > 0 {
			c.buf = append(c.buf, p[:room]...)
		}
		c.dropped += int64(len(p) - max(room, 0))
	}
	return len(p), nil // never fail the child's write
}

// Bytes returns what was kept, with a marker when something was dropped.
func (c *capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == 0 {
		return append([]byte(nil), c.buf...)
	}
	return fmt.Appendf(append([]byte(nil), c.buf...), "\n…[truncated: %d more bytes]", c.dropped)
}
