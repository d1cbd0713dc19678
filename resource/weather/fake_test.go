package weather

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testUA is the User-Agent the tests configure.
const testUA = "tenantless/1.2.3 (+https://github.com/tenantless/tenantless)"

// t0 is the tests' clock start: a Wednesday evening in Seattle.
var t0 = time.Date(2025, 1, 16, 2, 0, 0, 0, time.UTC)

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// call is one request a fake upstream received.
type call struct {
	Path          string // path and query
	UserAgent     string
	Accept        string
	Authorization string
	Cookie        string
}

// fake is an upstream on 127.0.0.1 that records its calls. Handlers queued
// with then answer the next requests; after them, the routes answer.
type fake struct {
	*httptest.Server
	routes *http.ServeMux

	mu    sync.Mutex
	calls []call
	queue []http.HandlerFunc
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{routes: http.NewServeMux()}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, call{
		Path:          r.URL.RequestURI(),
		UserAgent:     r.UserAgent(),
		Accept:        r.Header.Get("Accept"),
		Authorization: r.Header.Get("Authorization"),
		Cookie:        r.Header.Get("Cookie"),
	})
	var h http.HandlerFunc
	if len(f.queue) > 0 {
		h, f.queue = f.queue[0], f.queue[1:]
	}
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	f.routes.ServeHTTP(w, r)
}

// then queues handlers for the next requests.
func (f *fake) then(hs ...http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, hs...)
}

func (f *fake) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fake) paths() []string {
	var ps []string
	for _, c := range f.Calls() {
		ps = append(ps, c.Path)
	}
	return ps
}

// fixture answers with a file from testdata, with the real API's base URL
// replaced by the fake's.
func (f *fake) fixture(t *testing.T, name string, status int, contentType string) http.HandlerFunc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body := bytes.ReplaceAll(b, []byte("https://api.weather.gov"), []byte(f.URL))
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write(body)
	}
}

// status answers with code and a short problem document.
func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"title":%q,"status":%d}`, http.StatusText(code), code)
	}
}

// hang answers only when the request is given up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// newNWS is a fake api.weather.gov that knows Seattle (47.6062,-122.3321),
// answers 404 for Berlin and Toronto, and has alerts for WA (none for WY).
func newNWS(t *testing.T) *fake {
	f := newFake(t)
	const geo = "application/geo+json"
	outside := f.fixture(t, "nws_points_outside.json", http.StatusNotFound, "application/problem+json")
	f.routes.HandleFunc("GET /points/{where}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("where") {
		case "47.6062,-122.3321":
			f.fixture(t, "nws_points_seattle.json", http.StatusOK, geo)(w, r)
		default:
			outside(w, r)
		}
	})
	f.routes.HandleFunc("GET /gridpoints/SEW/125,68/forecast", f.fixture(t, "nws_forecast_seattle.json", http.StatusOK, geo))
	f.routes.HandleFunc("GET /alerts/active", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("area") {
		case "WA":
			f.fixture(t, "nws_alerts_wa.json", http.StatusOK, geo)(w, r)
		default:
			w.Header().Set("Content-Type", geo)
			w.Write([]byte(`{"type":"FeatureCollection","features":[],"title":"Current watches, warnings, and advisories","updated":"2025-01-15T22:05:00+00:00"}`))
		}
	})
	return f
}

// newOpenMeteo is a fake api.open-meteo.com that answers every point with
// the Berlin fixture.
func newOpenMeteo(t *testing.T) *fake {
	f := newFake(t)
	f.routes.HandleFunc("GET /v1/forecast", f.fixture(t, "openmeteo_berlin.json", http.StatusOK, "application/json; charset=utf-8"))
	return f
}

// upstreams are the fakes one provider talks to.
type upstreams struct {
	nws, om *fake
	clock   *clock
}

func newUpstreams(t *testing.T) *upstreams {
	return &upstreams{nws: newNWS(t), om: newOpenMeteo(t), clock: newClock()}
}

// provider returns a Provider in mode against the fakes; edit may adjust
// the Config.
func (u *upstreams) provider(t *testing.T, mode string, edit ...func(*Config)) Provider {
	t.Helper()
	cfg := Config{
		Mode:             mode,
		NWSBaseURL:       u.nws.URL,
		OpenMeteoBaseURL: u.om.URL,
		UserAgent:        testUA,
		Now:              u.clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

// golden compares got, as indented JSON, with testdata/name, or rewrites
// the file with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s mismatch (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// errorContains reports whether err's message contains every part.
func errorContains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
