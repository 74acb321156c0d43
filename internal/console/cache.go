package console

import (
	"context"
	"sync"
	"time"
)

const (
	// cacheTTL is how long counts and charts are reused: many operators watching live pages
	// cost the database one computation per cacheTTL, not one per page view.
	cacheTTL = 5 * time.Second
	// loadTimeout bounds one computation, which every waiting page shares.
	loadTimeout = 10 * time.Second
	// maxCacheEntries bounds a cache keyed by queue scope (one per distinct set of queues).
	maxCacheEntries = 1000
)

// cache keeps values for ttl; concurrent misses of one key share a single load.
type cache[T any] struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry[T]
}

type cacheEntry[T any] struct {
	done chan struct{}
	val  T
	err  error
	at   time.Time
}

func newCache[T any](ttl time.Duration, now func() time.Time) *cache[T] {
	return &cache[T]{ttl: ttl, now: now, entries: map[string]*cacheEntry[T]{}}
}

// get returns the value of key, loading it when missing or older than ttl, and when it was
// computed. A failed load is not kept.
func (c *cache[T]) get(ctx context.Context, key string, load func(ctx context.Context) (T, error)) (T, time.Time, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.done:
			if c.now().Sub(e.at) >= c.ttl {
				ok = false
			}
		default: // loading: wait for it
		}
	}
	if !ok {
		if len(c.entries) >= maxCacheEntries {
			c.sweep()
		}
		e = &cacheEntry[T]{done: make(chan struct{})}
		c.entries[key] = e
		// The load outlives the request that started it: others may be waiting on it.
		go c.load(context.WithoutCancel(ctx), key, e, load)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.at, e.err
	case <-ctx.Done():
		var zero T
		return zero, time.Time{}, ctx.Err()
	}
}

func (c *cache[T]) load(ctx context.Context, key string, e *cacheEntry[T], load func(ctx context.Context) (T, error)) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	e.val, e.err = load(ctx)
	e.at = c.now()
	if e.err != nil {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	close(e.done)
}

// sweep drops the finished entries (called with mu held when the map is full).
func (c *cache[T]) sweep() {
	for k, e := range c.entries {
		select {
		case <-e.done:
			delete(c.entries, k)
		default:
		}
	}
}
