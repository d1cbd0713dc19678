package weather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// nwsAccept is the media type api.weather.gov documents for its answers.
const nwsAccept = "application/geo+json"

// nws asks the National Weather Service API (https://www.weather.gov/documentation/services-web-api):
// GET /points/{lat},{lon} names the gridpoint forecast URL, which gives the
// periods; GET /alerts/active?area=XX gives a state's active alerts.
type nws struct {
	base  *url.URL
	fetch *fetcher
}

func (n *nws) forecast(ctx context.Context, lat, lon float64) (Forecast, error) {
	where := formatCoord(lat) + "," + formatCoord(lon)
	body, err := n.fetch.get(ctx, n.base.JoinPath("points", where), nwsAccept)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return Forecast{}, &kindError{
			msg:   fmt.Sprintf("api.weather.gov has no forecast for %s: it covers only the United States; use --weather open-meteo or auto", where),
			kinds: []error{ErrNotAvailable, errOutsideNWS},
		}
	}
	if err != nil {
		return Forecast{}, err
	}
	pt, err := decodeNWSPoint(body)
	if err != nil {
		return Forecast{}, err
	}
	fu, err := url.Parse(pt.forecast)
	if err != nil || fu.Scheme != n.base.Scheme || fu.Host != n.base.Host {
		// Only ever talk to the configured host, whatever the answer says.
		return Forecast{}, fmt.Errorf("api.weather.gov /points: unexpected forecast URL %q", pt.forecast)
	}
	body, err = n.fetch.get(ctx, fu, nwsAccept)
	if err != nil {
		return Forecast{}, err
	}
	periods, updated, err := decodeNWSForecast(body)
	if err != nil {
		return Forecast{}, err
	}
	return Forecast{
		Source:    SourceNWS,
		Location:  pt.location(lat, lon),
		Latitude:  lat,
		Longitude: lon,
		Timezone:  pt.timezone,
		Updated:   updated,
		Periods:   periods,
	}, nil
}

func (n *nws) alerts(ctx context.Context, code string) (Alerts, error) {
	u := n.base.JoinPath("alerts", "active")
	u.RawQuery = url.Values{"area": {code}}.Encode()
	body, err := n.fetch.get(ctx, u, nwsAccept)
	if err != nil {
		return Alerts{}, err
	}
	alerts, updated, err := decodeNWSAlerts(body)
	if err != nil {
		return Alerts{}, err
	}
	name, _ := StateName(code)
	return Alerts{
		State:     code,
		StateName: name,
		Source:    SourceNWS,
		Updated:   updated,
		Count:     len(alerts),
		Alerts:    alerts,
	}, nil
}

// formatCoord writes a coordinate with at most 4 decimals and no trailing
// zeros, the form api.weather.gov answers without redirecting.
func formatCoord(x float64) string {
	return strconv.FormatFloat(round4(x), 'f', -1, 64)
}

// nwsPoint is what we use of a /points answer.
type nwsPoint struct {
	forecast string
	timezone string
	city     string
	state    string
	distance float64 // metres from the point to city
}

func (p nwsPoint) location(lat, lon float64) string {
	switch {
	case p.city == "":
		return fmt.Sprintf("%s, %s", formatCoord(lat), formatCoord(lon))
	case p.distance > 2000:
		return fmt.Sprintf("near %s, %s", p.city, p.state)
	default:
		return fmt.Sprintf("%s, %s", p.city, p.state)
	}
}

// decodeNWSPoint decodes GET /points/{lat},{lon}.
func decodeNWSPoint(body []byte) (nwsPoint, error) {
	var doc struct {
		Properties struct {
			Forecast         string `json:"forecast"`
			TimeZone         string `json:"timeZone"`
			RelativeLocation struct {
				Properties struct {
					City     string        `json:"city"`
					State    string        `json:"state"`
					Distance nwsQuantValue `json:"distance"`
				} `json:"properties"`
			} `json:"relativeLocation"`
		} `json:"properties"`
	}
	if err := decodeJSON(body, &doc, "api.weather.gov /points"); err != nil {
		return nwsPoint{}, err
	}
	p := doc.Properties
	if p.Forecast == "" {
		return nwsPoint{}, errors.New("api.weather.gov /points: the answer has no forecast URL")
	}
	rl := p.RelativeLocation.Properties
	return nwsPoint{
		forecast: p.Forecast,
		timezone: p.TimeZone,
		city:     rl.City,
		state:    rl.State,
		distance: rl.Distance.value(),
	}, nil
}

// nwsQuantValue is a WMO quantitative value, {"unitCode": "wmoUnit:degC",
// "value": 12.5}; value may be null.
type nwsQuantValue struct {
	UnitCode string   `json:"unitCode"`
	Value    *float64 `json:"value"`
}

func (q nwsQuantValue) value() float64 {
	if q.Value == nil {
		return 0
	}
	return *q.Value
}

// nwsTemperature is a period's temperature: a bare number (the documented
// default) or a quantitative value (the "forecast_temperature_qv" feature
// flag).
type nwsTemperature struct {
	value *float64
	unit  string // "F" or "C" when the answer said so
}

func (t *nwsTemperature) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &t.value); err == nil {
		return nil
	}
	var q nwsQuantValue
	if err := json.Unmarshal(b, &q); err != nil {
		return errors.New("temperature is neither a number nor a quantitative value")
	}
	t.value = q.Value
	switch q.UnitCode {
	case "wmoUnit:degC":
		t.unit = "C"
	case "wmoUnit:degF":
		t.unit = "F"
	}
	return nil
}

// nwsText is a string field that the feature flags may turn into an
// object; anything but a string reads as "".
type nwsText string

func (t *nwsText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = nwsText(s)
	}
	return nil
}

// decodeNWSForecast decodes GET /gridpoints/{wfo}/{x},{y}/forecast into
// periods and the update time.
func decodeNWSForecast(body []byte) ([]Period, string, error) {
	var doc struct {
		Properties struct {
			UpdateTime string `json:"updateTime"`
			Periods    []struct {
				Name                       string         `json:"name"`
				StartTime                  string         `json:"startTime"`
				EndTime                    string         `json:"endTime"`
				Temperature                nwsTemperature `json:"temperature"`
				TemperatureUnit            string         `json:"temperatureUnit"`
				ProbabilityOfPrecipitation nwsQuantValue  `json:"probabilityOfPrecipitation"`
				WindSpeed                  nwsText        `json:"windSpeed"`
				WindDirection              nwsText        `json:"windDirection"`
				ShortForecast              string         `json:"shortForecast"`
				DetailedForecast           string         `json:"detailedForecast"`
			} `json:"periods"`
		} `json:"properties"`
	}
	const what = "api.weather.gov forecast"
	if err := decodeJSON(body, &doc, what); err != nil {
		return nil, "", err
	}
	if len(doc.Properties.Periods) == 0 {
		return nil, "", fmt.Errorf("%s: the answer has no periods", what)
	}
	periods := make([]Period, 0, len(doc.Properties.Periods))
	for i, dp := range doc.Properties.Periods {
		start, err := rfc3339(dp.StartTime)
		if err != nil {
			return nil, "", fmt.Errorf("%s: period %d: startTime: %w", what, i+1, err)
		}
		end, err := rfc3339(dp.EndTime)
		if err != nil {
			return nil, "", fmt.Errorf("%s: period %d: endTime: %w", what, i+1, err)
		}
		if dp.Temperature.value == nil || !finite(*dp.Temperature.value) {
			return nil, "", fmt.Errorf("%s: period %d: no temperature", what, i+1)
		}
		unit := dp.Temperature.unit
		if unit == "" {
			unit = dp.TemperatureUnit
		}
		if unit != "C" && unit != "F" {
			return nil, "", fmt.Errorf("%s: period %d: unknown temperatureUnit %q", what, i+1, unit)
		}
		p := Period{
			Name:             dp.Name,
			Start:            start,
			End:              end,
			Wind:             strings.TrimSpace(string(dp.WindSpeed) + " " + string(dp.WindDirection)),
			ShortForecast:    dp.ShortForecast,
			DetailedForecast: dp.DetailedForecast,
		}
		p.setTemperature(*dp.Temperature.value, unit)
		p.PrecipitationProbability = percent(dp.ProbabilityOfPrecipitation.Value)
		periods = append(periods, p)
	}
	updated, _ := rfc3339(doc.Properties.UpdateTime)
	return periods, updated, nil
}

// decodeNWSAlerts decodes GET /alerts/active into alerts and the update
// time.
func decodeNWSAlerts(body []byte) ([]Alert, string, error) {
	var doc struct {
		Updated  string `json:"updated"`
		Features []struct {
			Properties struct {
				Event       string  `json:"event"`
				Severity    string  `json:"severity"`
				Urgency     string  `json:"urgency"`
				Certainty   string  `json:"certainty"`
				Headline    *string `json:"headline"`
				Description *string `json:"description"`
				Instruction *string `json:"instruction"`
				AreaDesc    string  `json:"areaDesc"`
				Effective   *string `json:"effective"`
				Expires     *string `json:"expires"`
				SenderName  string  `json:"senderName"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := decodeJSON(body, &doc, "api.weather.gov alerts"); err != nil {
		return nil, "", err
	}
	alerts := make([]Alert, 0, len(doc.Features))
	for _, f := range doc.Features {
		p := f.Properties
		alerts = append(alerts, Alert{
			Event:       p.Event,
			Severity:    p.Severity,
			Urgency:     p.Urgency,
			Certainty:   p.Certainty,
			Headline:    deref(p.Headline),
			Description: deref(p.Description),
			Instruction: deref(p.Instruction),
			Area:        p.AreaDesc,
			Effective:   deref(p.Effective),
			Expires:     deref(p.Expires),
			Sender:      p.SenderName,
		})
	}
	updated, _ := rfc3339(doc.Updated)
	return alerts, updated, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// rfc3339 checks and normalises an RFC 3339 time.
func rfc3339(s string) (string, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", fmt.Errorf("not an RFC 3339 time: %q", truncate(s, 40))
	}
	return t.Format(time.RFC3339), nil
}
