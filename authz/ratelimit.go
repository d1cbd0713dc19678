package authz

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimits configures abuse limits. The zero value turns them all on
// with loopback addresses exempt from the per-address limits: on a laptop
// every local client shares 127.0.0.1, and an attacker there already has
// the machine. The per-account sign-in limit always applies.
type RateLimits struct {
	// Off disables every limit (for load tests).
	Off bool
	// IncludeLoopback applies the per-address limits to loopback
	// addresses too.
	IncludeLoopback bool
}

// Limits, as token buckets (rate per second, burst):
//   - sign-in failures per account: 10 a minute, bursts of 10, so a
//     brute force gets at most 10 guesses a minute, and the account opens
//     again seconds after an attack stops (never a permanent lockout);
//   - sign-in attempts per address: 30 a minute;
//   - token requests per address: 20 a second, bursts of 100;
//   - registrations per address: 60 an hour, bursts of 20;
//   - metadata-document fetches per address: 30 a minute, bursts of 10.
//
// The account limit is kept in the store (storage.Store.TakeAttempt), so
// that it holds across every instance on one database; the per-address
// limits are per instance.
var loginAccountLimit = struct {
	every time.Duration
	burst int
}{6 * time.Second, 10}

var (
	loginAddressLimit = bucket{rate.Every(2 * time.Second), 30}
	tokenLimit        = bucket{20, 100}
	registerLimit     = bucket{rate.Every(time.Minute), 20}
	cimdFetchLimit    = bucket{rate.Every(2 * time.Second), 10}
)

type bucket struct {
	r     rate.Limit
	burst int
}

// limiter is a set of token buckets keyed by client address or account.
type limiter struct {
	b       bucket
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]*limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxLimiterKeys bounds the memory one limiter uses; idle buckets (full
// again) are dropped first.
const maxLimiterKeys = 100000

func newLimiter(b bucket, now func() time.Time) *limiter {
	return &limiter{b: b, now: now, entries: map[string]*limiterEntry{}}
}

func (l *limiter) get(key string, now time.Time) *rate.Limiter {
	e, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= maxLimiterKeys {
			l.prune(now)
		}
		e = &limiterEntry{lim: rate.NewLimiter(l.b.r, l.b.burst)}
		l.entries[key] = e
	}
	e.seen = now
	return e.lim
}

// prune drops buckets idle long enough to be full again.
func (l *limiter) prune(now time.Time) {
	refill := time.Duration(float64(l.b.burst) / float64(l.b.r) * float64(time.Second))
	for k, e := range l.entries {
		if now.Sub(e.seen) > refill {
			delete(l.entries, k)
		}
	}
}

// allow takes a token for key, or reports how long until one is free.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim := l.get(key, now)
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limits holds the server's limiters.
type limits struct {
	cfg          RateLimits
	loginAddress *limiter
	token        *limiter
	register     *limiter
	cimdFetch    *limiter
}

func newLimits(cfg RateLimits, now func() time.Time) *limits {
	return &limits{
		cfg:          cfg,
		loginAddress: newLimiter(loginAddressLimit, now),
		token:        newLimiter(tokenLimit, now),
		register:     newLimiter(registerLimit, now),
		cimdFetch:    newLimiter(cimdFetchLimit, now),
	}
}

// byAddress takes a token from l for the request's client address.
// Loopback addresses pass unless IncludeLoopback is set.
func (ls *limits) byAddress(l *limiter, r *http.Request) (bool, time.Duration) {
	if ls.cfg.Off {
		return true, 0
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && !ls.cfg.IncludeLoopback {
		return true, 0
	}
	return l.allow(host)
}

// retryAfter sets the Retry-After header (whole seconds, at least 1).
func retryAfter(w http.ResponseWriter, d time.Duration) int {
	secs := int(math.Ceil(d.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// tooManyJSON answers an API request over its limit.
func tooManyJSON(w http.ResponseWriter, r *http.Request, d time.Duration) {
	secs := retryAfter(w, d)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, http.StatusTooManyRequests, "application/json", map[string]string{
		"error":             "rate_limited",
		"error_description": fmt.Sprintf("too many requests from this address; retry in %d s", secs),
	})
}
