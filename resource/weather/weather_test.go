package weather

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	seattleLat, seattleLon = 47.6062, -122.3321
	berlinLat, berlinLon   = 52.52, 13.405
	torontoLat, torontoLon = 43.6532, -79.3832 // inside the contiguous-US box
)

func TestNewMode(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		wantErr string
	}{
		{name: "empty is auto", mode: ""},
		{name: "auto", mode: ModeAuto},
		{name: "nws", mode: ModeNWS},
		{name: "open-meteo", mode: ModeOpenMeteo},
		{name: "offline", mode: ModeOffline},
		{name: "unknown", mode: "metoffice", wantErr: `unknown weather mode "metoffice": use one of auto, nws, open-meteo, offline`},
		{name: "case matters", mode: "NWS", wantErr: "use one of auto, nws, open-meteo, offline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Config{Mode: tt.mode})
			if tt.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("New(%q) = %v, %v; want a provider", tt.mode, p, err)
				}
				return
			}
			if !errorContains(err, tt.wantErr) {
				t.Fatalf("New(%q) error = %v, want it to contain %q", tt.mode, err, tt.wantErr)
			}
		})
	}
}

func TestNewBaseURL(t *testing.T) {
	for _, raw := range []string{"ftp://api.weather.gov", "api.weather.gov", "http://"} {
		t.Run(raw, func(t *testing.T) {
			if _, err := New(Config{NWSBaseURL: raw}); err == nil {
				t.Errorf("New(NWSBaseURL: %q): got no error, want one", raw)
			}
		})
	}
}

// TestForecast checks each mode's choice of source and the decoded answer
// against a golden file.
func TestForecast(t *testing.T) {
	tests := []struct {
		name         string
		mode         string
		lat, lon     float64
		wantSource   string
		wantNWSPaths []string
		wantOMCalls  int
		golden       string
	}{
		{
			name: "nws Seattle", mode: ModeNWS, lat: seattleLat, lon: seattleLon,
			wantSource:   SourceNWS,
			wantNWSPaths: []string{"/points/47.6062,-122.3321", "/gridpoints/SEW/125,68/forecast"},
			golden:       "forecast_nws_seattle.golden.json",
		},
		{
			name: "open-meteo Berlin", mode: ModeOpenMeteo, lat: berlinLat, lon: berlinLon,
			wantSource: SourceOpenMeteo, wantOMCalls: 1,
			golden: "forecast_openmeteo_berlin.golden.json",
		},
		{
			name: "open-meteo Seattle", mode: ModeOpenMeteo, lat: seattleLat, lon: seattleLon,
			wantSource: SourceOpenMeteo, wantOMCalls: 1,
		},
		{
			name: "auto US point asks nws", mode: ModeAuto, lat: seattleLat, lon: seattleLon,
			wantSource:   SourceNWS,
			wantNWSPaths: []string{"/points/47.6062,-122.3321", "/gridpoints/SEW/125,68/forecast"},
		},
		{
			name: "auto Berlin asks open-meteo only", mode: ModeAuto, lat: berlinLat, lon: berlinLon,
			wantSource: SourceOpenMeteo, wantOMCalls: 1,
		},
		{
			name: "auto Toronto: nws 404, then open-meteo", mode: ModeAuto, lat: torontoLat, lon: torontoLon,
			wantSource:   SourceOpenMeteo,
			wantNWSPaths: []string{"/points/43.6532,-79.3832"},
			wantOMCalls:  1,
		},
		{
			name: "offline Seattle", mode: ModeOffline, lat: seattleLat, lon: seattleLon,
			wantSource: SourceOffline,
			golden:     "forecast_offline_seattle.golden.json",
		},
		{
			name: "offline Berlin", mode: ModeOffline, lat: berlinLat, lon: berlinLon,
			wantSource: SourceOffline,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			got, err := u.provider(t, tt.mode).Forecast(t.Context(), tt.lat, tt.lon)
			if err != nil {
				t.Fatalf("Forecast: %v", err)
			}
			if got.Source != tt.wantSource {
				t.Errorf("Source = %q, want %q", got.Source, tt.wantSource)
			}
			if wantSample := tt.wantSource == SourceOffline; got.Sample != wantSample {
				t.Errorf("Sample = %v, want %v", got.Sample, wantSample)
			}
			if len(got.Periods) == 0 {
				t.Errorf("no periods")
			}
			if diff := cmp.Diff(tt.wantNWSPaths, u.nws.paths()); diff != "" {
				t.Errorf("nws calls (-want +got):\n%s", diff)
			}
			if n := len(u.om.Calls()); n != tt.wantOMCalls {
				t.Errorf("open-meteo got %d calls, want %d", n, tt.wantOMCalls)
			}
			if tt.golden != "" {
				golden(t, tt.golden, got)
			}
		})
	}
}

func TestOpenMeteoRequest(t *testing.T) {
	u := newUpstreams(t)
	if _, err := u.provider(t, ModeOpenMeteo).Forecast(t.Context(), berlinLat, berlinLon); err != nil {
		t.Fatal(err)
	}
	want := []string{"/v1/forecast?daily=weather_code%2Ctemperature_2m_max%2Ctemperature_2m_min%2Cprecipitation_probability_max%2Cwind_speed_10m_max%2Cwind_direction_10m_dominant&forecast_days=7&latitude=52.52&longitude=13.405&timezone=auto"}
	if diff := cmp.Diff(want, u.om.paths()); diff != "" {
		t.Errorf("open-meteo calls (-want +got):\n%s", diff)
	}
}

// TestRequestHeaders checks that upstream requests identify tenantless
// and carry no credentials of any kind.
func TestRequestHeaders(t *testing.T) {
	u := newUpstreams(t)
	ctx := t.Context()
	p := u.provider(t, ModeAuto)
	if _, err := p.Forecast(ctx, seattleLat, seattleLon); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forecast(ctx, berlinLat, berlinLon); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Alerts(ctx, "WA"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		f          *fake
		wantAccept string
	}{
		{name: "nws", f: u.nws, wantAccept: "application/geo+json"},
		{name: "open-meteo", f: u.om, wantAccept: "application/json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := tt.f.Calls()
			if len(calls) == 0 {
				t.Fatal("no calls")
			}
			for _, c := range calls {
				want := call{Path: c.Path, UserAgent: testUA, Accept: tt.wantAccept}
				if diff := cmp.Diff(want, c); diff != "" {
					t.Errorf("request (-want +got):\n%s", diff)
				}
			}
		})
	}
	t.Run("default User-Agent", func(t *testing.T) {
		u := newUpstreams(t)
		p := u.provider(t, ModeNWS, func(c *Config) { c.UserAgent = "" })
		if _, err := p.Alerts(ctx, "WA"); err != nil {
			t.Fatal(err)
		}
		if got := u.nws.Calls()[0].UserAgent; got != DefaultUserAgent {
			t.Errorf("User-Agent = %q, want %q", got, DefaultUserAgent)
		}
	})
}

func TestCoordinatesRounded(t *testing.T) {
	tests := []struct {
		name     string
		lat, lon float64
		wantPath string
	}{
		{name: "more than 4 decimals", lat: 47.606249, lon: -122.33214, wantPath: "/points/47.6062,-122.3321"},
		{name: "trailing zeros dropped", lat: 40.5, lon: -100.25, wantPath: "/points/40.5,-100.25"},
		{name: "no negative zero", lat: 40, lon: -0.00001, wantPath: "/points/40,0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			u.provider(t, ModeNWS).Forecast(t.Context(), tt.lat, tt.lon)
			if got := u.nws.paths(); len(got) == 0 || got[0] != tt.wantPath {
				t.Errorf("nws calls = %v, want first %q", got, tt.wantPath)
			}
		})
	}
}

func TestForecastErrors(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		lat, lon float64
		nws      []http.HandlerFunc // queued before the routes
		om       []http.HandlerFunc
		wantIs   error
		wantMsg  []string
	}{
		{
			name: "nws rejects a point outside the US", mode: ModeNWS, lat: berlinLat, lon: berlinLon,
			wantIs:  ErrNotAvailable,
			wantMsg: []string{"api.weather.gov has no forecast for 52.52,13.405: it covers only the United States; use --weather open-meteo or auto"},
		},
		{
			name: "latitude out of range", mode: ModeAuto, lat: 123, lon: 0,
			wantIs: ErrInvalidArgument, wantMsg: []string{"latitude 123 is out of range", "between -90 and 90"},
		},
		{
			name: "longitude out of range", mode: ModeOffline, lat: 0, lon: -180.5,
			wantIs: ErrInvalidArgument, wantMsg: []string{"longitude -180.5 is out of range", "between -180 and 180"},
		},
		{
			name: "nws 503 is an error in nws mode", mode: ModeNWS, lat: seattleLat, lon: seattleLon,
			nws:     []http.HandlerFunc{status(http.StatusServiceUnavailable)},
			wantMsg: []string{"answered 503 Service Unavailable"},
		},
		{
			name: "nws invalid JSON", mode: ModeAuto, lat: seattleLat, lon: seattleLon,
			nws:     []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"properties":`)) }},
			wantMsg: []string{"api.weather.gov /points: invalid JSON"},
		},
		{
			name: "nws forecast URL on another host", mode: ModeNWS, lat: seattleLat, lon: seattleLon,
			nws: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"properties":{"forecast":"https://evil.example/gridpoints/SEW/1,1/forecast"}}`))
			}},
			wantMsg: []string{`unexpected forecast URL "https://evil.example/gridpoints/SEW/1,1/forecast"`},
		},
		{
			name: "nws forecast without periods", mode: ModeNWS, lat: seattleLat, lon: seattleLon,
			nws: []http.HandlerFunc{
				nil, // /points from the routes
				func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"properties":{"periods":[]}}`)) },
			},
			wantMsg: []string{"api.weather.gov forecast: the answer has no periods"},
		},
		{
			name: "open-meteo 400 with reason", mode: ModeOpenMeteo, lat: berlinLat, lon: berlinLon,
			om: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":true,"reason":"Cannot initialize WeatherVariable from invalid String value temperature_2m_maxx for key daily"}`))
			}},
			wantMsg: []string{"answered 400 Bad Request: Cannot initialize WeatherVariable"},
		},
		{
			name: "open-meteo invalid JSON", mode: ModeOpenMeteo, lat: berlinLat, lon: berlinLon,
			om:      []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`<html>`)) }},
			wantMsg: []string{"open-meteo forecast: invalid JSON"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			for _, h := range tt.nws {
				if h == nil {
					h = u.nws.routes.ServeHTTP
				}
				u.nws.then(h)
			}
			u.om.then(tt.om...)
			f, err := u.provider(t, tt.mode).Forecast(t.Context(), tt.lat, tt.lon)
			if err == nil {
				t.Fatalf("Forecast = %+v, want an error", f)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if !errorContains(err, tt.wantMsg...) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

// TestAutoFallback checks that auto mode answers with labelled sample
// data, saying why, when the upstream is slow, down or failing.
func TestAutoFallback(t *testing.T) {
	tests := []struct {
		name     string
		lat, lon float64
		alerts   bool
		nws, om  http.HandlerFunc
		closed   bool // the upstream is not listening at all
		hangs    bool // the upstream never answers: use a tiny timeout
		wantNote string
	}{
		{name: "nws hangs", lat: seattleLat, lon: seattleLon, nws: hang, hangs: true, wantNote: "did not answer within 50ms; this is offline sample data instead, not a real forecast"},
		{name: "nws 503", lat: seattleLat, lon: seattleLon, nws: status(http.StatusServiceUnavailable), wantNote: "answered 503 Service Unavailable; this is offline sample data instead"},
		{name: "nws 500", lat: seattleLat, lon: seattleLon, nws: status(http.StatusInternalServerError), wantNote: "answered 500 Internal Server Error"},
		{name: "nws 429", lat: seattleLat, lon: seattleLon, nws: status(http.StatusTooManyRequests), wantNote: "answered 429 Too Many Requests"},
		{name: "nws unreachable", lat: seattleLat, lon: seattleLon, closed: true, wantNote: "could not be reached"},
		{name: "open-meteo hangs", lat: berlinLat, lon: berlinLon, om: hang, hangs: true, wantNote: "did not answer within 50ms"},
		{name: "open-meteo 502", lat: berlinLat, lon: berlinLon, om: status(http.StatusBadGateway), wantNote: "answered 502 Bad Gateway"},
		{name: "alerts: nws hangs", alerts: true, nws: hang, hangs: true, wantNote: "did not answer within 50ms; this is offline sample data instead, not real alerts"},
		{name: "alerts: nws 504", alerts: true, nws: status(http.StatusGatewayTimeout), wantNote: "answered 504 Gateway Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			if tt.nws != nil {
				u.nws.then(tt.nws)
			}
			if tt.om != nil {
				u.om.then(tt.om)
			}
			if tt.closed {
				u.nws.Close()
			}
			timeout := 10 * time.Second // generous: these answers are immediate
			if tt.hangs {
				timeout = 50 * time.Millisecond
			}
			p := u.provider(t, ModeAuto, func(c *Config) { c.Timeout = timeout })
			var (
				source, note string
				sample       bool
			)
			if tt.alerts {
				a, err := p.Alerts(t.Context(), "WA")
				if err != nil {
					t.Fatalf("Alerts: %v", err)
				}
				source, note, sample = a.Source, a.Note, a.Sample
				for _, al := range a.Alerts {
					if !strings.HasPrefix(al.Headline, sampleLabel) {
						t.Errorf("sample alert headline %q does not start with %q", al.Headline, sampleLabel)
					}
				}
			} else {
				f, err := p.Forecast(t.Context(), tt.lat, tt.lon)
				if err != nil {
					t.Fatalf("Forecast: %v", err)
				}
				source, note, sample = f.Source, f.Note, f.Sample
			}
			if source != SourceOffline || !sample {
				t.Errorf("source, sample = %q, %v; want %q, true", source, sample, SourceOffline)
			}
			if !strings.Contains(note, tt.wantNote) {
				t.Errorf("note = %q, want it to contain %q", note, tt.wantNote)
			}
		})
	}
}

// TestCallerCancel checks that a caller giving up is an error, not a
// reason to answer with sample data.
func TestCallerCancel(t *testing.T) {
	u := newUpstreams(t)
	ctx, cancel := context.WithCancel(t.Context())
	u.nws.then(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	_, err := u.provider(t, ModeAuto).Forecast(ctx, seattleLat, seattleLon)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Forecast error = %v, want context.Canceled", err)
	}
}

func TestOversizedBody(t *testing.T) {
	big := strings.Repeat(" ", maxBody) + "{}"
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{name: "declared length", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3000000")
			w.Write([]byte(big))
		}},
		{name: "chunked", h: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(big[:1024]))
			w.(http.Flusher).Flush()
			w.Write([]byte(big[1024:]))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			u.nws.then(tt.h)
			_, err := u.provider(t, ModeNWS).Alerts(t.Context(), "WA")
			if !errorContains(err, "2 MiB limit") {
				t.Errorf("Alerts error = %v, want one about the 2 MiB limit", err)
			}
		})
	}
}

func TestAlerts(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		state      string
		wantState  string
		wantSource string
		wantCount  int
		golden     string
	}{
		{name: "nws WA", mode: ModeNWS, state: "WA", wantState: "WA", wantSource: SourceNWS, wantCount: 2, golden: "alerts_nws_wa.golden.json"},
		{name: "auto lower case and space", mode: ModeAuto, state: " wa ", wantState: "WA", wantSource: SourceNWS, wantCount: 2},
		{name: "nws none", mode: ModeNWS, state: "WY", wantState: "WY", wantSource: SourceNWS},
		{name: "nws territory", mode: ModeAuto, state: "PR", wantState: "PR", wantSource: SourceNWS},
		{name: "offline WA", mode: ModeOffline, state: "wa", wantState: "WA", wantSource: SourceOffline, wantCount: 1, golden: "alerts_offline_wa.golden.json"},
		{name: "offline none", mode: ModeOffline, state: "DC", wantState: "DC", wantSource: SourceOffline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			got, err := u.provider(t, tt.mode).Alerts(t.Context(), tt.state)
			if err != nil {
				t.Fatalf("Alerts(%q): %v", tt.state, err)
			}
			if got.State != tt.wantState || got.Source != tt.wantSource || got.Count != tt.wantCount || len(got.Alerts) != tt.wantCount {
				t.Errorf("state, source, count, len = %q, %q, %d, %d; want %q, %q, %d, %d",
					got.State, got.Source, got.Count, len(got.Alerts), tt.wantState, tt.wantSource, tt.wantCount, tt.wantCount)
			}
			if got.Alerts == nil {
				t.Errorf("Alerts is nil, want an empty list (it marshals as [])")
			}
			if wantSample := tt.wantSource == SourceOffline; got.Sample != wantSample {
				t.Errorf("Sample = %v, want %v", got.Sample, wantSample)
			}
			if tt.mode == ModeOffline && len(u.nws.Calls()) != 0 {
				t.Errorf("offline mode called api.weather.gov: %v", u.nws.paths())
			}
			if tt.golden != "" {
				golden(t, tt.golden, got)
			}
		})
	}
}

func TestAlertsErrors(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		state   string
		wantIs  error
		wantMsg string
	}{
		{name: "unknown code", mode: ModeAuto, state: "XX", wantIs: ErrInvalidArgument, wantMsg: `state "XX" is not a US state or territory code`},
		{name: "state name", mode: ModeNWS, state: "Washington", wantIs: ErrInvalidArgument, wantMsg: "use a two-letter code such as WA"},
		{name: "empty", mode: ModeOffline, state: "", wantIs: ErrInvalidArgument, wantMsg: `state ""`},
		{name: "marine zone", mode: ModeNWS, state: "PZ", wantIs: ErrInvalidArgument},
		{name: "open-meteo has none", mode: ModeOpenMeteo, state: "WA", wantIs: ErrNotAvailable, wantMsg: "not available from open-meteo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstreams(t)
			_, err := u.provider(t, tt.mode).Alerts(t.Context(), tt.state)
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("Alerts(%q) error = %v, want %v", tt.state, err, tt.wantIs)
			}
			if !errorContains(err, tt.wantMsg) {
				t.Errorf("Alerts(%q) error = %v, want it to contain %q", tt.state, err, tt.wantMsg)
			}
			if n := len(u.nws.Calls()); n != 0 {
				t.Errorf("api.weather.gov got %d calls, want none", n)
			}
		})
	}
}

// TestCache checks hits, expiry by the injected clock, keys by rounded
// coordinates, and that errors and sample fallbacks are never cached.
func TestCache(t *testing.T) {
	ctx := t.Context()
	t.Run("hit, then expiry", func(t *testing.T) {
		u := newUpstreams(t)
		p := u.provider(t, ModeAuto, func(c *Config) { c.CacheTTL = time.Minute })
		first, err := p.Forecast(ctx, seattleLat, seattleLon)
		if err != nil {
			t.Fatal(err)
		}
		first.Periods[0].Name = "changed by the caller" // must not reach the cache
		u.clock.Advance(59 * time.Second)
		second, err := p.Forecast(ctx, 47.60621, -122.33209) // same after rounding
		if err != nil {
			t.Fatal(err)
		}
		if n := len(u.nws.Calls()); n != 2 {
			t.Errorf("after a cache hit: %d nws calls, want 2", n)
		}
		if second.Periods[0].Name != "Tonight" {
			t.Errorf("cached period name = %q, want Tonight", second.Periods[0].Name)
		}
		u.clock.Advance(time.Second)
		if _, err := p.Forecast(ctx, seattleLat, seattleLon); err != nil {
			t.Fatal(err)
		}
		if n := len(u.nws.Calls()); n != 4 {
			t.Errorf("after expiry: %d nws calls, want 4", n)
		}
	})
	t.Run("alerts hit", func(t *testing.T) {
		u := newUpstreams(t)
		p := u.provider(t, ModeNWS)
		for _, s := range []string{"WA", "wa", "WA"} {
			if _, err := p.Alerts(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(u.nws.Calls()); n != 1 {
			t.Errorf("%d nws calls, want 1", n)
		}
	})
	t.Run("errors are not cached", func(t *testing.T) {
		u := newUpstreams(t)
		u.nws.then(status(http.StatusServiceUnavailable))
		p := u.provider(t, ModeNWS)
		if _, err := p.Forecast(ctx, seattleLat, seattleLon); err == nil {
			t.Fatal("first Forecast: got no error, want the 503")
		}
		f, err := p.Forecast(ctx, seattleLat, seattleLon)
		if err != nil || f.Source != SourceNWS {
			t.Fatalf("second Forecast = %q, %v; want nws data", f.Source, err)
		}
	})
	t.Run("fallbacks are not cached", func(t *testing.T) {
		u := newUpstreams(t)
		u.nws.then(status(http.StatusServiceUnavailable))
		p := u.provider(t, ModeAuto)
		for i, want := range []string{SourceOffline, SourceNWS} {
			a, err := p.Alerts(ctx, "WA")
			if err != nil || a.Source != want {
				t.Fatalf("Alerts #%d = %q, %v; want %q", i+1, a.Source, err, want)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		u := newUpstreams(t)
		p := u.provider(t, ModeOpenMeteo, func(c *Config) { c.CacheTTL = -1 })
		for range 2 {
			if _, err := p.Forecast(ctx, berlinLat, berlinLon); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(u.om.Calls()); n != 2 {
			t.Errorf("%d open-meteo calls, want 2", n)
		}
	})
}

func TestCacheBounded(t *testing.T) {
	c := newClock()
	cache := newCache(2, time.Minute, c.Now)
	cache.put("a", 1)
	c.Advance(time.Second)
	cache.put("b", 2)
	c.Advance(time.Second)
	cache.put("c", 3) // evicts a, the oldest
	if n := cache.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
	for _, tt := range []struct {
		key  string
		want bool
	}{{"a", false}, {"b", true}, {"c", true}} {
		if _, ok := cache.get(tt.key); ok != tt.want {
			t.Errorf("get(%q) ok = %v, want %v", tt.key, ok, tt.want)
		}
	}
	c.Advance(time.Minute - time.Second) // b expires
	cache.put("d", 4)                    // drops the expired b, keeps c
	if _, ok := cache.get("c"); !ok {
		t.Errorf("c evicted, want the expired b to go first")
	}
}

// TestOfflineDeterministic checks that the sample dataset gives the same
// answer for the same clock, moves with the clock, and is well formed.
func TestOfflineDeterministic(t *testing.T) {
	ctx := t.Context()
	newAt := func(now time.Time) Provider {
		p, err := New(Config{Mode: ModeOffline, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := newAt(t0), newAt(t0)
	fa, _ := a.Forecast(ctx, 35.0, 139.0)
	fb, _ := b.Forecast(ctx, 35.0, 139.0)
	if diff := cmp.Diff(fa, fb); diff != "" {
		t.Errorf("same clock, different forecasts (-a +b):\n%s", diff)
	}
	aa, _ := a.Alerts(ctx, "CA")
	ab, _ := b.Alerts(ctx, "CA")
	if diff := cmp.Diff(aa, ab); diff != "" {
		t.Errorf("same clock, different alerts (-a +b):\n%s", diff)
	}

	later, _ := newAt(t0.Add(48*time.Hour)).Forecast(ctx, 35.0, 139.0)
	if later.Periods[0].Start != fa.Periods[2].Start || later.Periods[0].TemperatureC != fa.Periods[0].TemperatureC {
		t.Errorf("two days later: first period starts %s at %v °C, want %s at %v °C",
			later.Periods[0].Start, later.Periods[0].TemperatureC, fa.Periods[2].Start, fa.Periods[0].TemperatureC)
	}

	off, err := loadOffline(newClock().Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range off.data.Locations {
		if len(l.Days) != 7 {
			t.Errorf("sample location %s has %d days, want 7", l.Name, len(l.Days))
		}
		if err := ValidateCoordinates(l.Latitude, l.Longitude); err != nil {
			t.Errorf("sample location %s: %v", l.Name, err)
		}
	}
	for code, alerts := range off.data.Alerts {
		if _, ok := StateName(code); !ok {
			t.Errorf("sample alerts for unknown state %q", code)
		}
		for _, al := range alerts {
			if al.ExpiresHours <= al.EffectiveHours {
				t.Errorf("sample alert %s/%s expires before it takes effect", code, al.Event)
			}
		}
	}
}

func TestOfflineNearest(t *testing.T) {
	tests := []struct {
		name     string
		lat, lon float64
		want     string
	}{
		{name: "Seattle itself", lat: seattleLat, lon: seattleLon, want: "Seattle, WA (sample location)"},
		{name: "Portland", lat: 45.5152, lon: -122.6784, want: "Seattle, WA (the nearest sample location, 234 km away)"},
		{name: "Potsdam", lat: 52.3906, lon: 13.0645, want: "Berlin, Germany"},
		{name: "across the antimeridian", lat: -17.7134, lon: 178.065, want: "Sydney, Australia"},
		{name: "Washington DC", lat: 38.9072, lon: -77.0369, want: "New York, NY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := New(Config{Mode: ModeOffline, Now: newClock().Now})
			f, err := p.Forecast(t.Context(), tt.lat, tt.lon)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(f.Location, tt.want) {
				t.Errorf("Location = %q, want it to start with %q", f.Location, tt.want)
			}
			if f.Note == "" || !strings.Contains(f.Periods[0].DetailedForecast, "Sample data") {
				t.Errorf("offline forecast not labelled: note %q, detail %q", f.Note, f.Periods[0].DetailedForecast)
			}
		})
	}
}

func TestStateCodes(t *testing.T) {
	codes := StateCodes()
	if len(codes) != 56 {
		t.Errorf("%d codes, want 56 (50 states, DC, 5 territories)", len(codes))
	}
	for _, c := range []string{"DC", "PR", "VI", "GU", "AS", "MP", "WA", "AK", "HI"} {
		if _, ok := StateName(c); !ok {
			t.Errorf("StateName(%q) not ok", c)
		}
	}
}

func TestMayBeUS(t *testing.T) {
	tests := []struct {
		name     string
		lat, lon float64
		want     bool
	}{
		{"Seattle", seattleLat, seattleLon, true},
		{"Key West", 24.5551, -81.78, true},
		{"Anchorage", 61.2181, -149.9003, true},
		{"Attu", 52.9, 173.1, true},
		{"Honolulu", 21.3069, -157.8583, true},
		{"San Juan", 18.4655, -66.1057, true},
		{"Hagåtña", 13.4443, 144.7937, true},
		{"Pago Pago", -14.2756, -170.702, true},
		{"Berlin", berlinLat, berlinLon, false},
		{"Mexico City", 19.4326, -99.1332, false},
		{"Sydney", -33.8688, 151.2093, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayBeUS(tt.lat, tt.lon); got != tt.want {
				t.Errorf("mayBeUS(%v, %v) = %v, want %v", tt.lat, tt.lon, got, tt.want)
			}
		})
	}
}
