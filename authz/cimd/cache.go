package cimd

import (
	"container/list"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDeltaSeconds is the value RFC 9111 §1.2.2 says to use for a
// delta-seconds too large to represent.
const maxDeltaSeconds = 2147483648

// freshness returns how long a response with header h, received at now,
// may be reused, following the basics of RFC 9111 §4.2.1: s-maxage, then
// max-age (each less the Age header), then Expires minus Date (or minus
// now). The caller clamps the result to [MinTTL, MaxTTL].
//
// no-store and no-cache yield 0, which the clamp turns into MinTTL: the
// copy is kept just long enough for one authorization (the /authorize
// and /token steps) instead of being fetched on every step, which is what
// the draft's "within the AS's own bounds" allows; revalidate marks such
// documents, so that each new authorization request fetches them again. Invalid values and
// responses without any freshness information also yield 0.
func freshness(h http.Header, now time.Time) time.Duration {
	var maxAge, sMaxAge int64 = -1, -1
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				maxAge = deltaSeconds(value)
			case "s-maxage":
				sMaxAge = deltaSeconds(value)
			}
		}
	}
	age := int64(0)
	if a := deltaSeconds(h.Get("Age")); a > 0 {
		age = a
	}
	switch {
	case sMaxAge >= 0:
		return seconds(sMaxAge - age)
	case maxAge >= 0:
		return seconds(maxAge - age)
	}
	if v := h.Get("Expires"); v != "" {
		exp, err := http.ParseTime(v)
		if err != nil {
			return 0 // RFC 9111 §5.3: an invalid Expires means already expired
		}
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		return exp.Sub(base) - seconds(age)
	}
	return 0
}

// revalidate reports whether header h asks that the response not be
// reused without asking the server again: Cache-Control no-store,
// no-cache, max-age=0 or s-maxage=0 (RFC 9111 §5.2.2). A response with no
// freshness information at all is not such a request; it is kept for
// MinTTL like any other.
func revalidate(h http.Header) bool {
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return true
			case "max-age", "s-maxage":
				if deltaSeconds(value) == 0 {
					return true
				}
			}
		}
	}
	return false
}

// deltaSeconds parses an RFC 9111 delta-seconds; -1 if s is not one.
func deltaSeconds(s string) int64 {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return -1
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxDeltaSeconds {
		return maxDeltaSeconds
	}
	return n
}

// seconds converts a (bounded) count of seconds to a Duration.
func seconds(n int64) time.Duration {
	return time.Duration(n) * time.Second
}

// clamp bounds d to [lo, hi].
func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// docCache holds validated documents by URL, at most max of them; when
// full, the entry stored longest ago is evicted. It is not safe for
// concurrent use; the Resolver's mutex guards it.
type docCache struct {
	max     int
	entries map[string]*list.Element // of cacheEntry, front = oldest
	order   *list.List
}

// cacheEntry is one document and the key it is stored under.
type cacheEntry struct {
	key string
	doc Document
}

// newDocCache returns an empty cache for up to max documents.
func newDocCache(max int) *docCache {
	return &docCache{max: max, entries: make(map[string]*list.Element), order: list.New()}
}

// get returns the document for key if it is still fresh at now; a stale one
// is dropped.
func (c *docCache) get(key string, now time.Time) (Document, bool) {
	e, ok := c.entries[key]
	if !ok {
		return Document{}, false
	}
	d := e.Value.(cacheEntry).doc
	if !now.Before(d.ExpiresAt) {
		c.order.Remove(e)
		delete(c.entries, key)
		return Document{}, false
	}
	return d, true
}

// put stores d under key, replacing any older entry and evicting the
// oldest entries beyond the bound.
func (c *docCache) put(key string, d Document) {
	if e, ok := c.entries[key]; ok {
		c.order.Remove(e)
	}
	c.entries[key] = c.order.PushBack(cacheEntry{key: key, doc: d})
	for c.order.Len() > c.max {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(cacheEntry).key)
	}
}

// len returns the number of entries, fresh or not.
func (c *docCache) len() int { return c.order.Len() }
