package weather

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Modes a Provider can run in; Config.Mode takes one of them.
const (
	// ModeAuto asks the National Weather Service for US points and alerts
	// and Open-Meteo elsewhere, and answers with the offline sample when the
	// upstream does not answer in time or fails with a 5xx.
	ModeAuto = "auto"
	// ModeNWS asks only api.weather.gov (United States only).
	ModeNWS = "nws"
	// ModeOpenMeteo asks only Open-Meteo (worldwide forecasts, no alerts).
	ModeOpenMeteo = "open-meteo"
	// ModeOffline answers from the embedded sample dataset and never
	// touches the network.
	ModeOffline = "offline"
)

// Sources a result can come from; the Source field of Forecast and Alerts
// holds one of them.
const (
	// SourceNWS is the National Weather Service API, api.weather.gov.
	SourceNWS = "nws"
	// SourceOpenMeteo is the Open-Meteo forecast API, api.open-meteo.com.
	SourceOpenMeteo = "open-meteo"
	// SourceOffline is the embedded sample dataset; such results have
	// Sample set.
	SourceOffline = "offline"
)

// Defaults for the optional Config fields.
const (
	// DefaultNWSBaseURL is the National Weather Service API.
	DefaultNWSBaseURL = "https://api.weather.gov"
	// DefaultOpenMeteoBaseURL is the Open-Meteo forecast API.
	DefaultOpenMeteoBaseURL = "https://api.open-meteo.com"
	// DefaultTimeout bounds each upstream call.
	DefaultTimeout = 4 * time.Second
	// DefaultCacheTTL is how long an upstream answer is reused.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultUserAgent identifies tenantless upstream when Config.UserAgent
	// is empty; cmd should set one with the version in it.
	DefaultUserAgent = "tenantless (+https://github.com/tenantless/tenantless)"
)

// kindError is an error whose message reads well on its own (it reaches
// the LLM as a tool error) and which still matches sentinel kinds with
// errors.Is.
type kindError struct {
	msg   string
	kinds []error
}

func (e *kindError) Error() string   { return e.msg }
func (e *kindError) Unwrap() []error { return e.kinds }

func notAvailable(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kinds: []error{ErrNotAvailable}}
}

func invalidArgument(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kinds: []error{ErrInvalidArgument}}
}

// errOutsideNWS marks api.weather.gov's 404 for a point it does not cover,
// which sends auto mode on to Open-Meteo.
var errOutsideNWS = errors.New("outside api.weather.gov coverage")

// ErrNotAvailable reports that the configured source cannot answer the
// question at all, e.g. a forecast from api.weather.gov for a point outside
// the United States, or alerts from Open-Meteo. Errors of this kind carry a
// message that says what to do instead; test for them with errors.Is.
var ErrNotAvailable = errors.New("not available")

// ErrInvalidArgument reports a latitude, longitude or state outside what the
// tools accept. Errors of this kind carry a message naming the argument
// and the allowed values; test for them with errors.Is.
var ErrInvalidArgument = errors.New("invalid argument")

// Provider answers forecasts and alerts from one or more weather sources.
// Implementations are safe for concurrent use.
type Provider interface {
	// Forecast returns the forecast for the next periods at a point given
	// in decimal degrees (WGS 84).
	Forecast(ctx context.Context, latitude, longitude float64) (Forecast, error)
	// Alerts returns the active weather alerts for a US state or territory,
	// given by its two-letter code (see StateCodes); case does not matter.
	Alerts(ctx context.Context, state string) (Alerts, error)
}

// Forecast is the forecast at one point.
type Forecast struct {
	// Source is the data source: SourceNWS, SourceOpenMeteo or SourceOffline.
	Source string `json:"source" jsonschema:"where the data came from: nws (National Weather Service, api.weather.gov), open-meteo (Open-Meteo) or offline (the embedded sample dataset)"`
	// Sample is true for offline sample data, which is not a real forecast.
	Sample bool `json:"sample" jsonschema:"true when this is offline sample data and not a real forecast"`
	// Note says why the data came from a fallback source, when it did.
	Note string `json:"note,omitempty" jsonschema:"why the data came from a fallback or sample source, when it did"`
	// Location describes the place, e.g. "Seattle, WA".
	Location string `json:"location" jsonschema:"a description of the place, e.g. Seattle, WA"`
	// Latitude is the point asked for, rounded to 4 decimals.
	Latitude float64 `json:"latitude" jsonschema:"latitude of the point, rounded to 4 decimals"`
	// Longitude is the point asked for, rounded to 4 decimals.
	Longitude float64 `json:"longitude" jsonschema:"longitude of the point, rounded to 4 decimals"`
	// Timezone is the IANA time zone of the place, when known.
	Timezone string `json:"timezone,omitempty" jsonschema:"IANA time zone of the place, e.g. America/Los_Angeles"`
	// Updated is when the source last updated the forecast (RFC 3339), when known.
	Updated string `json:"updated,omitempty" jsonschema:"when the source last updated the forecast (RFC 3339)"`
	// Periods are the forecast periods in time order.
	Periods []Period `json:"periods" jsonschema:"the forecast periods in time order"`
}

// Period is one forecast period: half a day from the National Weather
// Service, a whole day from Open-Meteo and the sample dataset.
type Period struct {
	// Name names the period, e.g. "Tonight", "Tuesday" or "Tuesday Night".
	Name string `json:"name" jsonschema:"name of the period, e.g. Tonight, Tuesday or Tuesday Night"`
	// Start is the start of the period (RFC 3339).
	Start string `json:"start" jsonschema:"start of the period (RFC 3339)"`
	// End is the end of the period (RFC 3339).
	End string `json:"end" jsonschema:"end of the period (RFC 3339)"`
	// Temperature is the period's temperature in TemperatureUnit: the high
	// for daytime and whole-day periods, the low for night periods.
	Temperature float64 `json:"temperature" jsonschema:"temperature in temperature_unit: the high for daytime and whole-day periods, the low for night periods"`
	// TemperatureUnit is the unit the source reported, "F" or "C".
	TemperatureUnit string `json:"temperature_unit" jsonschema:"unit of temperature as the source reported it: F or C"`
	// TemperatureC is Temperature in degrees Celsius.
	TemperatureC float64 `json:"temperature_c" jsonschema:"the temperature in degrees Celsius"`
	// TemperatureF is Temperature in degrees Fahrenheit.
	TemperatureF float64 `json:"temperature_f" jsonschema:"the temperature in degrees Fahrenheit"`
	// LowC is the low of a whole-day period in degrees Celsius, when known.
	LowC *float64 `json:"low_c,omitempty" jsonschema:"for whole-day periods, the low in degrees Celsius"`
	// LowF is the low of a whole-day period in degrees Fahrenheit, when known.
	LowF *float64 `json:"low_f,omitempty" jsonschema:"for whole-day periods, the low in degrees Fahrenheit"`
	// PrecipitationProbability is the chance of precipitation in percent,
	// when the source gives one.
	PrecipitationProbability *int `json:"precipitation_probability,omitempty" jsonschema:"chance of precipitation in percent, when known"`
	// Wind is the wind speed and direction, e.g. "5 to 10 mph SW".
	Wind string `json:"wind,omitempty" jsonschema:"wind speed and direction, e.g. 5 to 10 mph SW"`
	// ShortForecast is a few words, e.g. "Chance Light Rain".
	ShortForecast string `json:"short_forecast" jsonschema:"a few words, e.g. Chance Light Rain"`
	// DetailedForecast is a sentence or two about the period.
	DetailedForecast string `json:"detailed_forecast" jsonschema:"a sentence or two about the period"`
}

// Alerts are the active weather alerts for one state or territory.
type Alerts struct {
	// State is the two-letter code asked for, in upper case.
	State string `json:"state" jsonschema:"the two-letter state or territory code"`
	// StateName is the name of the state or territory, e.g. "Washington".
	StateName string `json:"state_name" jsonschema:"the name of the state or territory"`
	// Source is the data source: SourceNWS or SourceOffline.
	Source string `json:"source" jsonschema:"where the data came from: nws (National Weather Service, api.weather.gov) or offline (the embedded sample dataset)"`
	// Sample is true for offline sample data, which are not real alerts.
	Sample bool `json:"sample" jsonschema:"true when this is offline sample data and not real alerts"`
	// Note says why the data came from a fallback source, when it did.
	Note string `json:"note,omitempty" jsonschema:"why the data came from a fallback or sample source, when it did"`
	// Updated is when the source last updated the list (RFC 3339), when known.
	Updated string `json:"updated,omitempty" jsonschema:"when the source last updated the list (RFC 3339)"`
	// Count is len(Alerts).
	Count int `json:"count" jsonschema:"the number of active alerts"`
	// Alerts are the active alerts, in the order the source gave them.
	Alerts []Alert `json:"alerts" jsonschema:"the active alerts"`
}

// Alert is one active weather alert (a CAP message as the National Weather
// Service publishes it).
type Alert struct {
	// Event is the kind of alert, e.g. "Winter Storm Warning".
	Event string `json:"event" jsonschema:"the kind of alert, e.g. Winter Storm Warning"`
	// Severity is Extreme, Severe, Moderate, Minor or Unknown.
	Severity string `json:"severity" jsonschema:"Extreme, Severe, Moderate, Minor or Unknown"`
	// Urgency is Immediate, Expected, Future, Past or Unknown.
	Urgency string `json:"urgency" jsonschema:"Immediate, Expected, Future, Past or Unknown"`
	// Certainty is Observed, Likely, Possible, Unlikely or Unknown.
	Certainty string `json:"certainty" jsonschema:"Observed, Likely, Possible, Unlikely or Unknown"`
	// Headline is a one-line summary.
	Headline string `json:"headline" jsonschema:"a one-line summary"`
	// Description is the full text of the alert.
	Description string `json:"description" jsonschema:"the full text of the alert"`
	// Instruction says what people should do, when the alert says.
	Instruction string `json:"instruction,omitempty" jsonschema:"what people should do"`
	// Area lists the affected areas.
	Area string `json:"area" jsonschema:"the affected areas"`
	// Effective is when the alert takes effect (RFC 3339).
	Effective string `json:"effective,omitempty" jsonschema:"when the alert takes effect (RFC 3339)"`
	// Expires is when the alert expires (RFC 3339).
	Expires string `json:"expires,omitempty" jsonschema:"when the alert expires (RFC 3339)"`
	// Sender is the issuing office, e.g. "NWS Seattle WA".
	Sender string `json:"sender" jsonschema:"the issuing office, e.g. NWS Seattle WA"`
}

// Config configures New. Every field is optional.
type Config struct {
	// Mode is ModeAuto, ModeNWS, ModeOpenMeteo or ModeOffline; empty means
	// ModeAuto.
	Mode string
	// NWSBaseURL is the National Weather Service API; empty means
	// DefaultNWSBaseURL.
	NWSBaseURL string
	// OpenMeteoBaseURL is the Open-Meteo API; empty means
	// DefaultOpenMeteoBaseURL.
	OpenMeteoBaseURL string
	// HTTPClient makes the upstream calls; nil means a client of its own
	// with Timeout. It never carries the MCP client's credentials: the
	// provider builds every upstream request itself.
	HTTPClient *http.Client
	// Timeout bounds each upstream call; zero means DefaultTimeout.
	Timeout time.Duration
	// CacheTTL is how long an upstream answer is reused; zero means
	// DefaultCacheTTL, a negative value turns the cache off.
	CacheTTL time.Duration
	// UserAgent is sent upstream, as api.weather.gov asks every client to
	// identify itself, e.g. "tenantless/1.2.3 (+https://github.com/tenantless/tenantless)";
	// empty means DefaultUserAgent.
	UserAgent string
	// Now is the clock for cache expiry and the sample dataset's dates; nil
	// means time.Now.
	Now func() time.Time
	// Logger receives structured logs; nil means discard.
	Logger *slog.Logger
}

// Modes lists the valid values of Config.Mode.
func Modes() []string {
	return []string{ModeAuto, ModeNWS, ModeOpenMeteo, ModeOffline}
}

// New returns a Provider for cfg.Mode. It fails for an unknown mode or an
// invalid base URL.
func New(cfg Config) (Provider, error) {
	mode := cfg.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if !slices.Contains(Modes(), mode) {
		return nil, fmt.Errorf("unknown weather mode %q: use one of %s", cfg.Mode, strings.Join(Modes(), ", "))
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ttl := cfg.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	nwsBase, err := baseURL(cfg.NWSBaseURL, DefaultNWSBaseURL)
	if err != nil {
		return nil, fmt.Errorf("nws base url: %w", err)
	}
	omBase, err := baseURL(cfg.OpenMeteoBaseURL, DefaultOpenMeteoBaseURL)
	if err != nil {
		return nil, fmt.Errorf("open-meteo base url: %w", err)
	}
	off, err := loadOffline(now)
	if err != nil {
		return nil, err
	}
	f := &fetcher{client: client, timeout: timeout, userAgent: ua, log: log}
	p := &provider{
		mode:    mode,
		nws:     &nws{base: nwsBase, fetch: f},
		om:      &openMeteo{base: omBase, fetch: f},
		offline: off,
		log:     log,
	}
	if ttl > 0 && mode != ModeOffline {
		p.cache = newCache(cacheSize, ttl, now)
	}
	return p, nil
}

func baseURL(raw, def string) (*url.URL, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return u, nil
}

// ValidateCoordinates reports, wrapping ErrInvalidArgument, a latitude
// outside [-90, 90] or a longitude outside [-180, 180], naming the argument.
func ValidateCoordinates(latitude, longitude float64) error {
	if math.IsNaN(latitude) || latitude < -90 || latitude > 90 {
		return invalidArgument("latitude %v is out of range: it must be between -90 and 90 degrees", latitude)
	}
	if math.IsNaN(longitude) || longitude < -180 || longitude > 180 {
		return invalidArgument("longitude %v is out of range: it must be between -180 and 180 degrees", longitude)
	}
	return nil
}

// round4 rounds to 4 decimals (about 11 m), the precision api.weather.gov
// accepts without a redirect; it also keys the cache.
func round4(x float64) float64 {
	r := math.Round(x*1e4) / 1e4
	if r == 0 {
		return 0 // no "-0" in URLs
	}
	return r
}

// provider is the Provider for every mode.
type provider struct {
	mode    string
	nws     *nws
	om      *openMeteo
	offline *offline
	cache   *cache // nil: no caching
	log     *slog.Logger
}

var _ Provider = (*provider)(nil)

func (p *provider) Forecast(ctx context.Context, latitude, longitude float64) (Forecast, error) {
	if err := ValidateCoordinates(latitude, longitude); err != nil {
		return Forecast{}, err
	}
	lat, lon := round4(latitude), round4(longitude)
	if p.mode == ModeOffline {
		return p.offline.forecast(lat, lon, "offline mode: this is embedded sample data, not a real forecast"), nil
	}
	key := fmt.Sprintf("forecast %.4f,%.4f", lat, lon)
	if v, ok := p.cache.get(key); ok {
		return cloneForecast(v.(Forecast)), nil
	}
	var (
		f   Forecast
		err error
	)
	switch p.mode {
	case ModeNWS:
		f, err = p.nws.forecast(ctx, lat, lon)
	case ModeOpenMeteo:
		f, err = p.om.forecast(ctx, lat, lon)
	default:
		f, err = p.autoForecast(ctx, lat, lon)
	}
	if err != nil {
		return Forecast{}, err
	}
	if !f.Sample { // a fallback is an error in disguise: retry next time
		p.cache.put(key, cloneForecast(f))
	}
	return f, nil
}

func (p *provider) Alerts(ctx context.Context, state string) (Alerts, error) {
	code, err := ParseState(state)
	if err != nil {
		return Alerts{}, err
	}
	switch p.mode {
	case ModeOffline:
		return p.offline.alerts(code, "offline mode: these are embedded sample alerts, not real ones"), nil
	case ModeOpenMeteo:
		return Alerts{}, notAvailable("weather alerts are not available from open-meteo: it has none; alerts come from api.weather.gov and cover only the United States (use --weather nws or auto)")
	}
	key := "alerts " + code
	if v, ok := p.cache.get(key); ok {
		return cloneAlerts(v.(Alerts)), nil
	}
	a, err := p.nws.alerts(ctx, code)
	if err != nil {
		var u *unavailableError
		if p.mode != ModeAuto || !errors.As(err, &u) {
			return Alerts{}, err
		}
		p.log.WarnContext(ctx, "weather upstream unavailable, answering with sample alerts", "host", u.host, "state", code, "err", err)
		return p.offline.alerts(code, fallbackNote(u, "not real alerts")), nil
	}
	p.cache.put(key, cloneAlerts(a))
	return a, nil
}

// autoForecast asks the National Weather Service for points that may be in
// the United States and Open-Meteo for the rest. The bounding boxes only
// save a round trip for points clearly elsewhere; for points inside them,
// api.weather.gov decides: its 404 for /points (e.g. Toronto or Tijuana)
// sends the question on to Open-Meteo.
func (p *provider) autoForecast(ctx context.Context, lat, lon float64) (Forecast, error) {
	var (
		f   Forecast
		err error
	)
	if mayBeUS(lat, lon) {
		f, err = p.nws.forecast(ctx, lat, lon)
		if errors.Is(err, errOutsideNWS) {
			f, err = p.om.forecast(ctx, lat, lon)
		}
	} else {
		f, err = p.om.forecast(ctx, lat, lon)
	}
	var u *unavailableError
	if errors.As(err, &u) {
		p.log.WarnContext(ctx, "weather upstream unavailable, answering with sample data", "host", u.host, "err", err)
		return p.offline.forecast(lat, lon, fallbackNote(u, "not a real forecast")), nil
	}
	return f, err
}

func fallbackNote(u *unavailableError, what string) string {
	return fmt.Sprintf("%s; this is offline sample data instead, %s", u.Error(), what)
}

// box is a latitude/longitude rectangle.
type box struct{ south, north, west, east float64 }

// usBoxes generously enclose the states and territories api.weather.gov
// covers. They may include some of Canada and Mexico: for points there,
// api.weather.gov's 404 decides.
var usBoxes = []box{
	{24.0, 50.0, -125.5, -66.0},    // contiguous states
	{51.0, 72.0, -180.0, -129.0},   // Alaska
	{51.0, 55.0, 172.0, 180.0},     // Aleutians west of 180°
	{18.5, 29.0, -178.5, -154.5},   // Hawaii
	{17.5, 18.7, -68.0, -64.5},     // Puerto Rico, US Virgin Islands
	{13.0, 21.0, 144.0, 146.5},     // Guam, Northern Mariana Islands
	{-14.7, -10.9, -171.2, -168.0}, // American Samoa
}

func mayBeUS(lat, lon float64) bool {
	for _, b := range usBoxes {
		if lat >= b.south && lat <= b.north && lon >= b.west && lon <= b.east {
			return true
		}
	}
	return false
}

func cloneForecast(f Forecast) Forecast {
	f.Periods = slices.Clone(f.Periods)
	return f
}

func cloneAlerts(a Alerts) Alerts {
	a.Alerts = slices.Clone(a.Alerts)
	return a
}
