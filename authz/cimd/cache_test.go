package cimd

import (
	"net/http"
	"testing"
	"time"
)

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	httpTime := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"no headers", http.Header{}, 0},
		{"max-age", http.Header{"Cache-Control": {"public, max-age=3600"}}, time.Hour},
		{"quoted max-age", http.Header{"Cache-Control": {`max-age="60"`}}, time.Minute},
		{"upper-case directive", http.Header{"Cache-Control": {"Max-Age=60"}}, time.Minute},
		{"max-age minus age", http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"600"}}, 50 * time.Minute},
		{"age beyond max-age", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"600"}}, -9 * time.Minute},
		{"s-maxage wins", http.Header{"Cache-Control": {"max-age=60, s-maxage=120"}}, 2 * time.Minute},
		{"no-store", http.Header{"Cache-Control": {"no-store, max-age=3600"}}, 0},
		{"no-cache", http.Header{"Cache-Control": {"max-age=3600", "no-cache"}}, 0},
		{"invalid max-age", http.Header{"Cache-Control": {"max-age=soon"}}, 0},
		{"negative max-age", http.Header{"Cache-Control": {"max-age=-5"}}, 0},
		{"huge max-age", http.Header{"Cache-Control": {"max-age=99999999999999999999999"}}, maxDeltaSeconds * time.Second},
		{"max-age beats expires", http.Header{"Cache-Control": {"max-age=60"}, "Expires": {httpTime(time.Hour)}}, time.Minute},
		{"expires minus date", http.Header{"Expires": {httpTime(2 * time.Hour)}, "Date": {httpTime(-time.Hour)}}, 3 * time.Hour},
		{"expires minus now", http.Header{"Expires": {httpTime(2 * time.Hour)}}, 2 * time.Hour},
		{"invalid expires", http.Header{"Expires": {"0"}}, 0},
		{"past expires", http.Header{"Expires": {httpTime(-time.Hour)}}, -time.Hour},
		{"other directives only", http.Header{"Cache-Control": {"public, immutable"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := freshness(tt.header, now); got != tt.want {
				t.Errorf("freshness(%v) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestDocCache(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	doc := func(id string, ttl time.Duration) Document {
		return Document{ClientID: id, ExpiresAt: now.Add(ttl)}
	}
	c := newDocCache(2)
	c.put("a", doc("a", time.Hour))
	c.put("b", doc("b", time.Minute))
	c.put("a", doc("a", time.Hour)) // refreshed: now newer than b
	c.put("c", doc("c", time.Hour)) // evicts b, the oldest
	tests := []struct {
		name string
		key  string
		at   time.Time
		want bool
	}{
		{"refreshed entry kept", "a", now, true},
		{"oldest evicted", "b", now, false},
		{"newest kept", "c", now, true},
		{"fresh just before expiry", "c", now.Add(time.Hour - time.Nanosecond), true},
		{"stale at expiry", "c", now.Add(time.Hour), false},
		{"stale entry was dropped", "c", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := c.get(tt.key, tt.at); got != tt.want {
				t.Errorf("get(%q) at %v: got %v, want %v", tt.key, tt.at, got, tt.want)
			}
		})
	}
	if got := c.len(); got != 1 {
		t.Errorf("len: got %d, want 1", got)
	}
}
