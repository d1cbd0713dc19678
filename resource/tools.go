package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tenantless/tenantless/resource/weather"
)

// Scope names the tools require.
const (
	// ScopeRead lets a client call get_forecast.
	ScopeRead = "weather:read"
	// ScopeAlerts lets a client call get_alerts.
	ScopeAlerts = "weather:alerts"
)

const (
	toolForecast = "get_forecast"
	toolAlerts   = "get_alerts"
)

// ToolScopes maps each tool name to the scope a tools/call of it needs.
func ToolScopes() map[string]string {
	return map[string]string{toolForecast: ScopeRead, toolAlerts: ScopeAlerts}
}

// ForecastInput are the arguments of get_forecast.
type ForecastInput struct {
	// Latitude in decimal degrees, -90 to 90.
	Latitude float64 `json:"latitude" jsonschema:"latitude in decimal degrees (WGS 84), from -90 (south) to 90 (north), e.g. 47.6062 for Seattle"`
	// Longitude in decimal degrees, -180 to 180.
	Longitude float64 `json:"longitude" jsonschema:"longitude in decimal degrees (WGS 84), from -180 (west) to 180 (east), e.g. -122.3321 for Seattle"`
}

// AlertsInput are the arguments of get_alerts.
type AlertsInput struct {
	// State is a two-letter US state or territory code; case does not
	// matter.
	State string `json:"state" jsonschema:"two-letter code of a US state, DC or a US territory (AS, GU, MP, PR, VI), e.g. WA, TX or PR"`
}

// AddTools registers get_forecast and get_alerts on s, answered by p.
//
// Both tools return the provider's result as structured content (with an
// output schema) and a readable summary as text content; the summary of
// offline sample data says so on its first line. Invalid arguments are
// tool errors (isError) naming the argument. AddTools also adds a
// receiving middleware to s that upper-cases get_alerts' state before the
// SDK validates it against the schema's enum, so "wa" works as "WA".
func AddTools(s *mcp.Server, p weather.Provider) {
	mcp.AddTool(s, &mcp.Tool{
		Name:  toolForecast,
		Title: "Weather forecast",
		Description: "Get the weather forecast for the coming days at a point on Earth, given as latitude and longitude " +
			"in decimal degrees; look up the coordinates first if you only have a place name. " +
			"US points come from the National Weather Service (half-day periods such as Tonight and Thursday), " +
			"other points from Open-Meteo (one period per day with a high and a low), depending on the server's configuration. " +
			"Each period gives the temperature in both °C and °F, wind, the chance of precipitation when known, and a forecast text. " +
			"The result's source field names the data source; when sample is true the data is offline sample data, " +
			"not a real forecast, and must not be presented as one.",
		InputSchema:  forecastInputSchema(),
		OutputSchema: outputSchema[weather.Forecast](weather.SourceNWS, weather.SourceOpenMeteo, weather.SourceOffline),
		Annotations:  annotations("Weather forecast"),
	}, forecastHandler(p))

	mcp.AddTool(s, &mcp.Tool{
		Name:  toolAlerts,
		Title: "Active weather alerts",
		Description: "Get the active weather alerts (warnings, watches, advisories and statements) that the US National " +
			"Weather Service has issued for one US state or territory, given as its two-letter code, e.g. WA, TX, DC or PR. " +
			"Each alert has its event, severity, urgency, certainty, headline, affected area, effective and expiry times, " +
			"description and instructions. Only the United States is covered; for other countries there are no alerts here. " +
			"The result's source field names the data source; when sample is true the alerts are offline sample data, " +
			"not real ones, and must not be presented as real.",
		InputSchema:  alertsInputSchema(),
		OutputSchema: outputSchema[weather.Alerts](weather.SourceNWS, weather.SourceOffline),
		Annotations:  annotations("Active weather alerts"),
	}, alertsHandler(p))

	s.AddReceivingMiddleware(upperCaseState)
}

// annotations are the same for both tools: they only read, asking again
// gives the same kind of answer, and they reach out to weather services.
func annotations(title string) *mcp.ToolAnnotations {
	openWorld := true
	return &mcp.ToolAnnotations{
		Title:          title,
		ReadOnlyHint:   true,
		IdempotentHint: true,
		OpenWorldHint:  &openWorld,
	}
}

// forecastInputSchema is the schema inferred from ForecastInput with the
// coordinate ranges added: the jsonschema tag carries only a description.
func forecastInputSchema() *jsonschema.Schema {
	s := mustSchema[ForecastInput]()
	setRange(s.Properties["latitude"], -90, 90)
	setRange(s.Properties["longitude"], -180, 180)
	return s
}

// alertsInputSchema is the schema inferred from AlertsInput with the
// valid codes as an enum.
func alertsInputSchema() *jsonschema.Schema {
	s := mustSchema[AlertsInput]()
	for _, code := range weather.StateCodes() {
		s.Properties["state"].Enum = append(s.Properties["state"].Enum, code)
	}
	return s
}

// outputSchema is the schema inferred from T with the enum of its source
// field.
func outputSchema[T any](sources ...string) *jsonschema.Schema {
	s := mustSchema[T]()
	for _, src := range sources {
		s.Properties["source"].Enum = append(s.Properties["source"].Enum, src)
	}
	return s
}

// mustSchema infers T's schema, single-typed; it fails only for a type
// that cannot have one, a programming error every test would catch.
func mustSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(fmt.Sprintf("resource: schema for %T: %v", *new(T), err))
	}
	singleTyped(s)
	return s
}

// singleTyped replaces the ["null", T] types that inference gives pointer
// and slice fields with T, throughout s. Many clients accept only one
// type per schema (MCP Inspector warns, Gemini's function declarations
// refuse); the results keep to it: a nil pointer field is omitted
// (omitempty), and a nil list is sent as [] (the handlers see to it).
func singleTyped(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && (s.Types[0] == "null" || s.Types[1] == "null") {
		t := s.Types[0]
		if t == "null" {
			t = s.Types[1]
		}
		s.Type, s.Types = t, nil
	}
	for _, sub := range s.Properties {
		singleTyped(sub)
	}
	for _, sub := range s.Defs {
		singleTyped(sub)
	}
	for _, list := range [][]*jsonschema.Schema{s.PrefixItems, s.AllOf, s.AnyOf, s.OneOf} {
		for _, sub := range list {
			singleTyped(sub)
		}
	}
	singleTyped(s.Items)
	singleTyped(s.AdditionalProperties)
}

func setRange(s *jsonschema.Schema, lo, hi float64) {
	s.Minimum, s.Maximum = &lo, &hi
}

func forecastHandler(p weather.Provider) mcp.ToolHandlerFor[ForecastInput, weather.Forecast] {
	return func(ctx context.Context, _ *mcp.CallToolRequest, in ForecastInput) (*mcp.CallToolResult, weather.Forecast, error) {
		// The schema has the ranges too; this keeps the handler safe on
		// its own and gives the message the schema validator does not.
		if err := weather.ValidateCoordinates(in.Latitude, in.Longitude); err != nil {
			return nil, weather.Forecast{}, err
		}
		f, err := p.Forecast(ctx, in.Latitude, in.Longitude)
		if err != nil {
			return nil, weather.Forecast{}, err
		}
		if f.Periods == nil {
			f.Periods = []weather.Period{} // the schema says array, never null
		}
		return textResult(forecastText(f)), f, nil
	}
}

func alertsHandler(p weather.Provider) mcp.ToolHandlerFor[AlertsInput, weather.Alerts] {
	return func(ctx context.Context, _ *mcp.CallToolRequest, in AlertsInput) (*mcp.CallToolResult, weather.Alerts, error) {
		state, err := weather.ParseState(in.State)
		if err != nil {
			return nil, weather.Alerts{}, err
		}
		a, err := p.Alerts(ctx, state)
		if err != nil {
			return nil, weather.Alerts{}, err
		}
		if a.Alerts == nil {
			a.Alerts = []weather.Alert{} // the schema says array, never null
		}
		return textResult(alertsText(a)), a, nil
	}
}

// upperCaseState is a receiving middleware that normalises get_alerts'
// state argument (trimmed, upper case) before the SDK checks it against
// the enum. Anything it does not understand passes through unchanged for
// the SDK to reject.
func upperCaseState(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if r, ok := req.(*mcp.CallToolRequest); ok && r.Params != nil && r.Params.Name == toolAlerts {
			r.Params.Arguments = upperCaseStateArg(r.Params.Arguments)
		}
		return next(ctx, method, req)
	}
}

func upperCaseStateArg(args json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil {
		return args
	}
	var state string
	if raw, ok := m["state"]; !ok || json.Unmarshal(raw, &state) != nil {
		return args
	}
	norm, err := json.Marshal(strings.ToUpper(strings.TrimSpace(state)))
	if err != nil {
		return args
	}
	m["state"] = norm
	out, err := json.Marshal(m)
	if err != nil {
		return args
	}
	return out
}

// textResult is a result whose text content is s; the SDK adds the
// structured content.
func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// sourceName names a source for people.
func sourceName(source string) string {
	switch source {
	case weather.SourceNWS:
		return "National Weather Service (api.weather.gov)"
	case weather.SourceOpenMeteo:
		return "Open-Meteo (open-meteo.com)"
	case weather.SourceOffline:
		return "offline sample dataset (not real data)"
	default:
		return source
	}
}

// forecastText is the readable summary of a forecast. Sample data says so
// on the first line.
func forecastText(f weather.Forecast) string {
	var b strings.Builder
	if f.Sample {
		fmt.Fprintf(&b, "SAMPLE DATA, NOT A REAL FORECAST. %s\n\n", f.Note)
	}
	point := number(f.Latitude) + ", " + number(f.Longitude)
	if f.Location == "" || f.Location == point {
		fmt.Fprintf(&b, "Forecast for %s\n", point)
	} else {
		fmt.Fprintf(&b, "Forecast for %s at %s\n", f.Location, point)
	}
	fmt.Fprintf(&b, "Source: %s\n", sourceName(f.Source))
	if !f.Sample && f.Note != "" {
		fmt.Fprintf(&b, "Note: %s\n", f.Note)
	}
	if f.Updated != "" {
		fmt.Fprintf(&b, "Updated: %s\n", f.Updated)
	}
	for _, p := range f.Periods {
		b.WriteString("\n")
		text := p.DetailedForecast
		if text == "" {
			text = p.ShortForecast
		}
		if p.LowC != nil {
			// Whole-day periods: the text already gives high and low in
			// both units.
			fmt.Fprintf(&b, "%s: %s\n", p.Name, text)
			continue
		}
		first, second := number(p.TemperatureF)+" °F", number(p.TemperatureC)+" °C"
		if p.TemperatureUnit == "C" {
			first, second = second, first
		}
		fmt.Fprintf(&b, "%s (%s / %s): %s\n", p.Name, first, second, text)
	}
	return b.String()
}

// alertsText is the readable summary of a state's alerts. Sample data says
// so on the first line.
func alertsText(a weather.Alerts) string {
	var b strings.Builder
	if a.Sample {
		fmt.Fprintf(&b, "SAMPLE DATA, NOT REAL ALERTS. %s\n\n", a.Note)
	}
	if a.Count == 0 {
		fmt.Fprintf(&b, "No active weather alerts for %s (%s).\n", a.StateName, a.State)
	} else {
		fmt.Fprintf(&b, "Active weather alerts for %s (%s): %d\n", a.StateName, a.State, a.Count)
	}
	fmt.Fprintf(&b, "Source: %s\n", sourceName(a.Source))
	if !a.Sample && a.Note != "" {
		fmt.Fprintf(&b, "Note: %s\n", a.Note)
	}
	for i, al := range a.Alerts {
		fmt.Fprintf(&b, "\n%d. %s (severity %s, urgency %s, certainty %s)\n", i+1, al.Event, al.Severity, al.Urgency, al.Certainty)
		if al.Headline != "" {
			fmt.Fprintf(&b, "%s\n", al.Headline)
		}
		fmt.Fprintf(&b, "Area: %s\n", al.Area)
		if al.Effective != "" || al.Expires != "" {
			fmt.Fprintf(&b, "In effect: %s until %s\n", orUnknown(al.Effective), orUnknown(al.Expires))
		}
		if al.Description != "" {
			fmt.Fprintf(&b, "%s\n", strings.TrimSpace(al.Description))
		}
		if al.Instruction != "" {
			fmt.Fprintf(&b, "What to do: %s\n", strings.TrimSpace(al.Instruction))
		}
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func number(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}
