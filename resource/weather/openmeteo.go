package weather

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// openMeteoDaily are the daily variables asked of Open-Meteo, in the
// order of its documentation (https://open-meteo.com/en/docs).
const openMeteoDaily = "weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max,wind_speed_10m_max,wind_direction_10m_dominant"

// openMeteo asks the Open-Meteo forecast API: GET /v1/forecast for seven
// daily periods anywhere on Earth, with no API key. It has no alerts.
type openMeteo struct {
	base  *url.URL
	fetch *fetcher
}

func (o *openMeteo) forecast(ctx context.Context, lat, lon float64) (Forecast, error) {
	u := o.base.JoinPath("v1", "forecast")
	u.RawQuery = url.Values{
		"latitude":      {formatCoord(lat)},
		"longitude":     {formatCoord(lon)},
		"daily":         {openMeteoDaily},
		"timezone":      {"auto"},
		"forecast_days": {"7"},
	}.Encode()
	body, err := o.fetch.get(ctx, u, "application/json")
	if err != nil {
		return Forecast{}, err
	}
	return decodeOpenMeteo(body, lat, lon)
}

// decodeOpenMeteo decodes a /v1/forecast answer with the openMeteoDaily
// variables into one period per day.
func decodeOpenMeteo(body []byte, lat, lon float64) (Forecast, error) {
	var doc struct {
		Timezone         string            `json:"timezone"`
		TimezoneAbbrev   string            `json:"timezone_abbreviation"`
		UTCOffsetSeconds int               `json:"utc_offset_seconds"`
		DailyUnits       map[string]string `json:"daily_units"`
		Daily            struct {
			Time       []string   `json:"time"`
			Code       []*float64 `json:"weather_code"`
			TempMax    []*float64 `json:"temperature_2m_max"`
			TempMin    []*float64 `json:"temperature_2m_min"`
			PrecipProb []*float64 `json:"precipitation_probability_max"`
			WindMax    []*float64 `json:"wind_speed_10m_max"`
			WindDir    []*float64 `json:"wind_direction_10m_dominant"`
		} `json:"daily"`
	}
	const what = "open-meteo forecast"
	if err := decodeJSON(body, &doc, what); err != nil {
		return Forecast{}, err
	}
	if doc.UTCOffsetSeconds < -18*3600 || doc.UTCOffsetSeconds > 18*3600 {
		return Forecast{}, fmt.Errorf("%s: utc_offset_seconds %d is out of range", what, doc.UTCOffsetSeconds)
	}
	loc := time.FixedZone(doc.TimezoneAbbrev, doc.UTCOffsetSeconds)
	if doc.Timezone != "" {
		// Prefer the real zone, so a daylight-saving change within the week
		// lands right; fall back to the fixed offset without tzdata.
		if l, err := time.LoadLocation(doc.Timezone); err == nil {
			loc = l
		}
	}
	tempUnit := "C"
	if strings.Contains(doc.DailyUnits["temperature_2m_max"], "F") {
		tempUnit = "F"
	}
	windUnit := doc.DailyUnits["wind_speed_10m_max"]
	if windUnit == "" {
		windUnit = "km/h"
	}
	d := doc.Daily
	var periods []Period
	for i, day := range d.Time {
		date, err := time.ParseInLocation(time.DateOnly, day, loc)
		if err != nil {
			return Forecast{}, fmt.Errorf("%s: daily.time[%d]: not a date: %q", what, i, truncate(day, 40))
		}
		high := at(d.TempMax, i)
		if high == nil {
			continue // a day without a forecast yet
		}
		p := Period{
			Name:  dayName(date, i),
			Start: date.Format(time.RFC3339),
			End:   date.AddDate(0, 0, 1).Format(time.RFC3339),
		}
		p.setTemperature(*high, tempUnit)
		if low := at(d.TempMin, i); low != nil {
			p.setLow(*low, tempUnit)
		}
		p.PrecipitationProbability = percent(at(d.PrecipProb, i))
		if w := at(d.WindMax, i); w != nil {
			p.Wind = "up to " + formatNumber(*w) + " " + windUnit
			if dir := at(d.WindDir, i); dir != nil {
				p.Wind += " " + compass(*dir)
			}
		}
		p.ShortForecast = wmoText(at(d.Code, i))
		p.DetailedForecast = dailyDetail(p)
		periods = append(periods, p)
	}
	if len(periods) == 0 {
		return Forecast{}, fmt.Errorf("%s: the answer has no daily forecast", what)
	}
	return Forecast{
		Source:    SourceOpenMeteo,
		Location:  formatCoord(lat) + ", " + formatCoord(lon),
		Latitude:  lat,
		Longitude: lon,
		Timezone:  doc.Timezone,
		Periods:   periods,
	}, nil
}

// at returns s[i] when it is there, not null and finite.
func at(s []*float64, i int) *float64 {
	if i >= len(s) || s[i] == nil || !finite(*s[i]) {
		return nil
	}
	return s[i]
}

func dayName(date time.Time, i int) string {
	if i == 0 {
		return "Today"
	}
	return date.Weekday().String()
}

// dailyDetail writes a whole-day period as a sentence or two, the way the
// National Weather Service's detailedForecast reads.
func dailyDetail(p Period) string {
	var b strings.Builder
	b.WriteString(p.ShortForecast)
	b.WriteString(". High ")
	b.WriteString(formatTemp(p.TemperatureC, p.TemperatureF))
	if p.LowC != nil {
		b.WriteString(", low ")
		b.WriteString(formatTemp(*p.LowC, *p.LowF))
	}
	b.WriteString(".")
	if p.PrecipitationProbability != nil {
		fmt.Fprintf(&b, " Chance of precipitation %d%%.", *p.PrecipitationProbability)
	}
	if p.Wind != "" {
		fmt.Fprintf(&b, " Wind %s.", p.Wind)
	}
	return b.String()
}

func formatTemp(c, f float64) string {
	return formatNumber(c) + " °C (" + formatNumber(f) + " °F)"
}

func formatNumber(x float64) string {
	return strconv.FormatFloat(round1(x), 'f', -1, 64)
}

// compass names a direction in degrees on a 16-point compass.
func compass(deg float64) string {
	points := [...]string{"N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"}
	i := int(math.Round(math.Mod(math.Mod(deg, 360)+360, 360)/22.5)) % len(points)
	return points[i]
}

// wmoText describes a WMO weather interpretation code (WW), as listed in
// Open-Meteo's documentation.
func wmoText(code *float64) string {
	if code == nil {
		return "No summary"
	}
	switch int(*code) {
	case 0:
		return "Clear sky"
	case 1:
		return "Mainly clear"
	case 2:
		return "Partly cloudy"
	case 3:
		return "Overcast"
	case 45:
		return "Fog"
	case 48:
		return "Depositing rime fog"
	case 51:
		return "Light drizzle"
	case 53:
		return "Moderate drizzle"
	case 55:
		return "Dense drizzle"
	case 56:
		return "Light freezing drizzle"
	case 57:
		return "Dense freezing drizzle"
	case 61:
		return "Slight rain"
	case 63:
		return "Moderate rain"
	case 65:
		return "Heavy rain"
	case 66:
		return "Light freezing rain"
	case 67:
		return "Heavy freezing rain"
	case 71:
		return "Slight snowfall"
	case 73:
		return "Moderate snowfall"
	case 75:
		return "Heavy snowfall"
	case 77:
		return "Snow grains"
	case 80:
		return "Slight rain showers"
	case 81:
		return "Moderate rain showers"
	case 82:
		return "Violent rain showers"
	case 85:
		return "Slight snow showers"
	case 86:
		return "Heavy snow showers"
	case 95:
		return "Thunderstorm"
	case 96:
		return "Thunderstorm with slight hail"
	case 99:
		return "Thunderstorm with heavy hail"
	default:
		return fmt.Sprintf("Weather code %d", int(*code))
	}
}
