package authz

import (
	"sync"
	"time"
)

// maxCacheEntries bounds each ttlCache.
const maxCacheEntries = 10000

// ttlCache is a bounded map whose entries expire. It serves the server's
// two caches of what the store says (verified access tokens, client
// records); the server drops an entry when it changes what the entry
// came from. Every drop bumps a generation counter, and put refuses a
// value read from the store before a drop (get returns the generation
// to pass to put): a read racing with a change never caches the state
// from before it. The zero value is empty and ready to use.
type ttlCache[K comparable, V any] struct {
	mu      sync.Mutex
	gen     uint64
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v     V
	until time.Time
}

// get returns the live entry for k, and the generation for a put after a
// miss.
func (c *ttlCache[K, V]) get(k K, now time.Time) (V, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && now.Before(e.until) {
		return e.v, c.gen, true
	}
	if ok {
		delete(c.entries, k)
	}
	var zero V
	return zero, c.gen, false
}

// put stores v under k until until, unless something was dropped since
// get returned gen. A full cache first forgets its expired entries, then
// arbitrary ones down to nine tenths.
func (c *ttlCache[K, V]) put(k K, v V, gen uint64, until, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil {
		c.entries = make(map[K]ttlEntry[V])
	}
	if len(c.entries) >= maxCacheEntries {
		for key, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < maxCacheEntries*9/10 {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = ttlEntry[V]{v: v, until: until}
}

// drop forgets k.
func (c *ttlCache[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, k)
}

// dropIf forgets every entry whose value matches.
func (c *ttlCache[K, V]) dropIf(match func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if match(e.v) {
			delete(c.entries, k)
		}
	}
}

// clear forgets every entry.
func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
}
