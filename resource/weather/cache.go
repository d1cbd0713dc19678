package weather

import (
	"sync"
	"time"
)

// cacheSize bounds the cache: enough for a developer's session, small
// enough never to matter.
const cacheSize = 256

// cache keeps upstream answers for a while. It is bounded: when full, it
// drops expired entries and then the oldest. It never holds errors or
// fallback answers; the provider only puts successes.
type cache struct {
	mu      sync.Mutex
	ttl     time.Duration
	size    int
	now     func() time.Time
	entries map[string]cacheEntry
}

type cacheEntry struct {
	value   any
	stored  time.Time
	expires time.Time
}

func newCache(size int, ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, entries: make(map[string]cacheEntry)}
}

// get returns the value under key unless it has expired. A nil cache is
// always empty.
func (c *cache) get(key string) (any, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, key)
		return nil, false
	}
	return e.value, true
}

// put stores value under key for the TTL. A nil cache drops it.
func (c *cache) put(key string, value any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{value: value, stored: now, expires: now.Add(c.ttl)}
}

// evict makes room for one entry: expired entries go first, then the
// oldest.
func (c *cache) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			continue
		}
		if oldestKey == "" || e.stored.Before(oldest) {
			oldestKey, oldest = k, e.stored
		}
	}
	if len(c.entries) >= c.size {
		delete(c.entries, oldestKey)
	}
}

// len returns the number of entries, expired or not.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
