// Package ttlcache keeps values for a fixed time, for lookups that may be
// a little stale: what a replica looked up in the shared store (an API
// token, an EST credential) is trusted for that long before it asks again,
// so that a deletion takes effect everywhere within it.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values found at some time, each good for TTL from
// then. It holds at most Max entries; past that it starts over. The zero
// value is not usable; set TTL and Max. A Cache is safe for concurrent
// use.
type Cache[K comparable, V any] struct {
	TTL time.Duration
	Max int

	mu sync.Mutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	v     V
	until time.Time
}

// Get returns the value of k if it was put less than TTL before now.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v, found at now, under k.
func (c *Cache[K, V]) Put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.Max {
		c.m = make(map[K]entry[V])
	}
	c.m[k] = entry[V]{v: v, until: now.Add(c.TTL)}
}

// Clear forgets every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}
