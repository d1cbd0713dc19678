package resource

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tenantless/tenantless/resource/schemacheck"
	"github.com/tenantless/tenantless/resource/weather"
)

// The -update flag rewrites golden files. It is defined here only if no
// other test file of the package defines it first (package-level flag
// variables are set up before init runs).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
}

func toolsUpdateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// toolsStub is a weather.Provider with canned answers that records what
// it was asked.
type toolsStub struct {
	forecast weather.Forecast
	alerts   weather.Alerts
	err      error

	mu    sync.Mutex
	calls []string
}

func (s *toolsStub) Forecast(_ context.Context, lat, lon float64) (weather.Forecast, error) {
	s.record("Forecast", lat, lon)
	return s.forecast, s.err
}

func (s *toolsStub) Alerts(_ context.Context, state string) (weather.Alerts, error) {
	s.record("Alerts", state)
	return s.alerts, s.err
}

func (s *toolsStub) record(args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(args)
	s.calls = append(s.calls, string(b))
}

func (s *toolsStub) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

var _ weather.Provider = (*toolsStub)(nil)

func seattleForecast() weather.Forecast {
	pop := 20
	return weather.Forecast{
		Source:    weather.SourceNWS,
		Location:  "Seattle, WA",
		Latitude:  47.6062,
		Longitude: -122.3321,
		Timezone:  "America/Los_Angeles",
		Updated:   "2025-01-15T23:10:44Z",
		Periods: []weather.Period{{
			Name:                     "Tonight",
			Start:                    "2025-01-15T18:00:00-08:00",
			End:                      "2025-01-16T06:00:00-08:00",
			Temperature:              38,
			TemperatureUnit:          "F",
			TemperatureC:             3.3,
			TemperatureF:             38,
			PrecipitationProbability: &pop,
			Wind:                     "5 mph S",
			ShortForecast:            "Slight Chance Light Rain",
			DetailedForecast:         "A slight chance of rain after 4am. Mostly cloudy, with a low around 38.",
		}},
	}
}

func washingtonAlerts() weather.Alerts {
	return weather.Alerts{
		State:     "WA",
		StateName: "Washington",
		Source:    weather.SourceNWS,
		Count:     1,
		Alerts: []weather.Alert{{
			Event:       "Winter Weather Advisory",
			Severity:    "Moderate",
			Urgency:     "Expected",
			Certainty:   "Likely",
			Headline:    "Winter Weather Advisory issued January 15 at 2:03PM PST until January 16 at 10:00AM PST by NWS Seattle WA",
			Description: "* WHAT...Snow expected above 2500 feet.",
			Instruction: "Slow down and use caution while traveling.",
			Area:        "West Slopes Central Cascades and Passes",
			Effective:   "2025-01-15T14:03:00-08:00",
			Expires:     "2025-01-16T10:00:00-08:00",
			Sender:      "NWS Seattle WA",
		}},
	}
}

// toolsSession connects a client to a server with AddTools(p) over
// in-memory transports.
func toolsSession(t testing.TB, p weather.Provider) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	s := mcp.NewServer(&mcp.Implementation{Name: "tenantless-weather", Version: "test"}, nil)
	AddTools(s, p)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "test"}, nil)
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

// toolText joins the text contents of a result.
func toolText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// structured decodes a result's structured content into v.
func structured(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

func TestToolsList(t *testing.T) {
	cs := toolsSession(t, &toolsStub{})
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(res.Tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "tools_list.golden.json")
	if toolsUpdateGolden() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("tools/list differs from %s (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

func TestToolScopes(t *testing.T) {
	want := map[string]string{"get_forecast": "weather:read", "get_alerts": "weather:alerts"}
	if diff := cmp.Diff(want, ToolScopes()); diff != "" {
		t.Errorf("ToolScopes() (-want +got):\n%s", diff)
	}
	cs := toolsSession(t, &toolsStub{})
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if _, ok := ToolScopes()[tool.Name]; !ok {
			t.Errorf("tool %s has no scope in ToolScopes", tool.Name)
		}
	}
	if len(names) != len(want) {
		t.Errorf("tools %v, want one per ToolScopes entry", names)
	}
}

func TestGetForecast(t *testing.T) {
	wantText := "Forecast for Seattle, WA at 47.6062, -122.3321\n" +
		"Source: National Weather Service (api.weather.gov)\n" +
		"Updated: 2025-01-15T23:10:44Z\n" +
		"\n" +
		"Tonight (38 °F / 3.3 °C): A slight chance of rain after 4am. Mostly cloudy, with a low around 38.\n"
	tests := []struct {
		name        string
		args        string
		providerErr error
		wantError   []string // parts of the error text; nil means success
		wantCalls   []string
	}{
		{
			name:      "Seattle",
			args:      `{"latitude": 47.6062, "longitude": -122.3321}`,
			wantCalls: []string{`["Forecast",47.6062,-122.3321]`},
		},
		{name: "latitude 123", args: `{"latitude": 123, "longitude": 0}`, wantError: []string{"latitude", "90"}},
		{name: "latitude -90.5", args: `{"latitude": -90.5, "longitude": 0}`, wantError: []string{"latitude"}},
		{name: "longitude 181", args: `{"latitude": 0, "longitude": 181}`, wantError: []string{"longitude", "180"}},
		{name: "longitude missing", args: `{"latitude": 10}`, wantError: []string{"longitude"}},
		{name: "latitude a string", args: `{"latitude": "47.6", "longitude": 0}`, wantError: []string{"latitude"}},
		{name: "unknown argument", args: `{"latitude": 1, "longitude": 2, "city": "Berlin"}`, wantError: []string{"city"}},
		{
			name:        "provider error",
			args:        `{"latitude": 52.52, "longitude": 13.405}`,
			providerErr: weather.ErrNotAvailable,
			wantError:   []string{"not available"},
			wantCalls:   []string{`["Forecast",52.52,13.405]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &toolsStub{forecast: seattleForecast(), err: tt.providerErr}
			cs := toolsSession(t, p)
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "get_forecast", Arguments: json.RawMessage(tt.args)})
			if err != nil {
				t.Fatalf("CallTool: protocol error %v, want a tool result", err)
			}
			text := toolText(res)
			if tt.wantError != nil {
				if !res.IsError {
					t.Fatalf("IsError = false, want true; text %q", text)
				}
				for _, part := range tt.wantError {
					if !strings.Contains(text, part) {
						t.Errorf("error text %q does not contain %q", text, part)
					}
				}
			} else {
				if res.IsError {
					t.Fatalf("IsError = true: %s", text)
				}
				if diff := cmp.Diff(wantText, text); diff != "" {
					t.Errorf("text (-want +got):\n%s", diff)
				}
				var got weather.Forecast
				structured(t, res, &got)
				if diff := cmp.Diff(seattleForecast(), got); diff != "" {
					t.Errorf("structured content (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantCalls, p.Calls()); diff != "" {
				t.Errorf("provider calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetAlerts(t *testing.T) {
	wantText := "Active weather alerts for Washington (WA): 1\n" +
		"Source: National Weather Service (api.weather.gov)\n" +
		"\n" +
		"1. Winter Weather Advisory (severity Moderate, urgency Expected, certainty Likely)\n" +
		"Winter Weather Advisory issued January 15 at 2:03PM PST until January 16 at 10:00AM PST by NWS Seattle WA\n" +
		"Area: West Slopes Central Cascades and Passes\n" +
		"In effect: 2025-01-15T14:03:00-08:00 until 2025-01-16T10:00:00-08:00\n" +
		"* WHAT...Snow expected above 2500 feet.\n" +
		"What to do: Slow down and use caution while traveling.\n"
	tests := []struct {
		name        string
		args        string
		providerErr error
		wantError   []string
		wantCalls   []string
	}{
		{name: "WA", args: `{"state": "WA"}`, wantCalls: []string{`["Alerts","WA"]`}},
		{name: "lower case", args: `{"state": "wa"}`, wantCalls: []string{`["Alerts","WA"]`}},
		{name: "spaces", args: `{"state": " Wa "}`, wantCalls: []string{`["Alerts","WA"]`}},
		{name: "unknown code", args: `{"state": "XX"}`, wantError: []string{"state", "XX"}},
		{name: "state name", args: `{"state": "Washington"}`, wantError: []string{"state"}},
		{name: "empty", args: `{"state": ""}`, wantError: []string{"state"}},
		{name: "missing", args: `{}`, wantError: []string{"state"}},
		{name: "a number", args: `{"state": 53}`, wantError: []string{"state"}},
		{
			name: "provider error", args: `{"state": "PR"}`,
			providerErr: weather.ErrNotAvailable, wantError: []string{"not available"},
			wantCalls: []string{`["Alerts","PR"]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &toolsStub{alerts: washingtonAlerts(), err: tt.providerErr}
			cs := toolsSession(t, p)
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "get_alerts", Arguments: json.RawMessage(tt.args)})
			if err != nil {
				t.Fatalf("CallTool: protocol error %v, want a tool result", err)
			}
			text := toolText(res)
			if tt.wantError != nil {
				if !res.IsError {
					t.Fatalf("IsError = false, want true; text %q", text)
				}
				for _, part := range tt.wantError {
					if !strings.Contains(text, part) {
						t.Errorf("error text %q does not contain %q", text, part)
					}
				}
			} else {
				if res.IsError {
					t.Fatalf("IsError = true: %s", text)
				}
				if diff := cmp.Diff(wantText, text); diff != "" {
					t.Errorf("text (-want +got):\n%s", diff)
				}
				var got weather.Alerts
				structured(t, res, &got)
				if diff := cmp.Diff(washingtonAlerts(), got); diff != "" {
					t.Errorf("structured content (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantCalls, p.Calls()); diff != "" {
				t.Errorf("provider calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestToolsOffline checks, with the real offline provider, that sample
// data is labelled in both the structured and the text content, and that
// the provider's own errors come through as tool errors.
func TestToolsOffline(t *testing.T) {
	now := time.Date(2025, 1, 16, 2, 0, 0, 0, time.UTC)
	p, err := weather.New(weather.Config{Mode: weather.ModeOffline, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cs := toolsSession(t, p)
	tests := []struct {
		name      string
		tool      string
		args      string
		wantFirst string // the text's first line starts with this
	}{
		{name: "forecast", tool: "get_forecast", args: `{"latitude": 52.52, "longitude": 13.405}`, wantFirst: "SAMPLE DATA, NOT A REAL FORECAST. offline mode"},
		{name: "alerts", tool: "get_alerts", args: `{"state": "wa"}`, wantFirst: "SAMPLE DATA, NOT REAL ALERTS. offline mode"},
		{name: "no alerts", tool: "get_alerts", args: `{"state": "VI"}`, wantFirst: "SAMPLE DATA, NOT REAL ALERTS."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: json.RawMessage(tt.args)})
			if err != nil {
				t.Fatal(err)
			}
			text := toolText(res)
			if res.IsError {
				t.Fatalf("IsError: %s", text)
			}
			if first, _, _ := strings.Cut(text, "\n"); !strings.HasPrefix(first, tt.wantFirst) {
				t.Errorf("first line %q, want it to start with %q", first, tt.wantFirst)
			}
			if !strings.Contains(text, "Source: offline sample dataset (not real data)") {
				t.Errorf("text does not name the offline source:\n%s", text)
			}
			var got struct {
				Source string `json:"source"`
				Sample bool   `json:"sample"`
				Note   string `json:"note"`
			}
			structured(t, res, &got)
			if got.Source != "offline" || !got.Sample || got.Note == "" {
				t.Errorf("structured source, sample, note = %q, %v, %q; want offline, true and a note", got.Source, got.Sample, got.Note)
			}
		})
	}
}

func TestToolsOpenMeteoAlerts(t *testing.T) {
	p, err := weather.New(weather.Config{Mode: weather.ModeOpenMeteo, OpenMeteoBaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	cs := toolsSession(t, p)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "get_alerts", Arguments: map[string]any{"state": "WA"}})
	if err != nil {
		t.Fatal(err)
	}
	if text := toolText(res); !res.IsError || !strings.Contains(text, "not available from open-meteo") {
		t.Errorf("IsError %v, text %q; want a tool error saying open-meteo has no alerts", res.IsError, text)
	}
}

// fuzzTool calls tool with raw JSON arguments through an in-memory client:
// nothing may panic, and a successful result must be well formed.
func fuzzTool(f *testing.F, tool string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	p, err := weather.New(weather.Config{Mode: weather.ModeOffline, Now: func() time.Time { return time.Unix(1736992800, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	cs := toolsSession(f, p)
	f.Fuzz(func(t *testing.T, args []byte) {
		if !json.Valid(args) {
			return // the client cannot send it
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
		if err != nil || res.IsError {
			return // errors are fine
		}
		var out struct {
			Source string `json:"source"`
			Sample bool   `json:"sample"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil || out.Source != weather.SourceOffline || !out.Sample {
			t.Errorf("arguments %s: structured content %s", args, b)
		}
		if !strings.HasPrefix(toolText(res), "SAMPLE DATA") {
			t.Errorf("arguments %s: text not labelled sample: %q", args, toolText(res))
		}
	})
}

func FuzzForecastInput(f *testing.F) {
	fuzzTool(f, "get_forecast",
		`{"latitude": 47.6062, "longitude": -122.3321}`,
		`{"latitude": 90, "longitude": -180}`,
		`{"latitude": 123, "longitude": 0}`,
		`{"latitude": 1e400, "longitude": 0}`,
		`{"latitude": -0, "longitude": 1e-320}`,
		`{"latitude": "1", "longitude": null}`,
		`{"latitude": 1, "longitude": 2, "latitude": 3}`,
		`[]`, `null`, `{}`, `"x"`)
}

func FuzzAlertsInput(f *testing.F) {
	fuzzTool(f, "get_alerts",
		`{"state": "WA"}`, `{"state": "wa"}`, `{"state": " dc\n"}`, `{"state": "XX"}`,
		`{"state": "ǅ"}`, `{"state": "\u0000"}`, `{"state": ["WA"]}`, `{"state": "WA", "extra": 1}`,
		`[]`, `null`, `{}`)
}

// TestToolSchemasSingleTyped walks every tool's input and output schema,
// as tools/list sends them, and fails on what single-type clients reject:
// type lists, a subschema without type, a $ref leaving the document.
func TestToolSchemasSingleTyped(t *testing.T) {
	cs := toolsSession(t, &toolsStub{})
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 2 {
		t.Fatalf("got %d tools, want 2", len(res.Tools))
	}
	for _, tool := range res.Tools {
		for kind, schema := range map[string]any{"input": tool.InputSchema, "output": tool.OutputSchema} {
			if schema == nil {
				t.Errorf("%s has no %s schema", tool.Name, kind)
				continue
			}
			for _, p := range schemacheck.Problems(schema) {
				t.Errorf("%s %s schema: %s", tool.Name, kind, p)
			}
		}
	}
}

// TestToolResultsMatchSingleTypes checks the other half of single-typed
// schemas: results with nothing in a list send [], and fields that are
// unknown are left out, never null.
func TestToolResultsMatchSingleTypes(t *testing.T) {
	stub := &toolsStub{
		forecast: weather.Forecast{Source: weather.SourceNWS, Location: "Nowhere"},
		alerts:   weather.Alerts{State: "WA", StateName: "Washington", Source: weather.SourceNWS},
	}
	cs := toolsSession(t, stub)
	for _, call := range []struct {
		tool string
		args map[string]any
		list string
	}{
		{toolForecast, map[string]any{"latitude": 47.6, "longitude": -122.3}, "periods"},
		{toolAlerts, map[string]any{"state": "WA"}, "alerts"},
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: call.tool, Arguments: call.args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %s", call.tool, err, toolText(res))
		}
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("%s structured content has a null: %s", call.tool, b)
		}
		if !strings.Contains(string(b), `"`+call.list+`":[]`) {
			t.Errorf("%s structured content %s, want %q as []", call.tool, b, call.list)
		}
	}
}
