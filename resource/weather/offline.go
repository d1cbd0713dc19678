package weather

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// sampleJSON is the offline dataset: made-up daily forecasts for a few
// cities around the world and made-up alerts for a few states. It is laid
// out relative to the clock, so the same instant always gives the same
// answer.
//
//go:embed sample.json
var sampleJSON []byte

// sampleLabel starts every sample alert's headline and every sample
// period's detailed forecast, so that no part of a sample reads as real.
const sampleLabel = "Sample data, not real: "

type sampleDataset struct {
	Locations []sampleLocation         `json:"locations"`
	Alerts    map[string][]sampleAlert `json:"alerts"`
}

type sampleLocation struct {
	Name             string      `json:"name"`
	Latitude         float64     `json:"latitude"`
	Longitude        float64     `json:"longitude"`
	Timezone         string      `json:"timezone"`
	UTCOffsetMinutes int         `json:"utc_offset_minutes"`
	Days             []sampleDay `json:"days"`
}

type sampleDay struct {
	WeatherCode              float64 `json:"weather_code"`
	HighC                    float64 `json:"high_c"`
	LowC                     float64 `json:"low_c"`
	PrecipitationProbability float64 `json:"precipitation_probability"`
	WindMaxKMH               float64 `json:"wind_max_kmh"`
	WindDirection            float64 `json:"wind_direction"`
}

type sampleAlert struct {
	Event          string `json:"event"`
	Severity       string `json:"severity"`
	Urgency        string `json:"urgency"`
	Certainty      string `json:"certainty"`
	Headline       string `json:"headline"`
	Description    string `json:"description"`
	Instruction    string `json:"instruction"`
	Area           string `json:"area"`
	Sender         string `json:"sender"`
	EffectiveHours int    `json:"effective_hours"`
	ExpiresHours   int    `json:"expires_hours"`
}

// offline answers from the embedded dataset.
type offline struct {
	data sampleDataset
	now  func() time.Time
}

func loadOffline(now func() time.Time) (*offline, error) {
	var data sampleDataset
	if err := json.Unmarshal(sampleJSON, &data); err != nil {
		return nil, fmt.Errorf("offline sample dataset: %w", err)
	}
	if len(data.Locations) == 0 {
		return nil, fmt.Errorf("offline sample dataset: no locations")
	}
	return &offline{data: data, now: now}, nil
}

// forecast answers with the days of the sample location nearest to the
// point, starting today in that location's (fixed) UTC offset.
func (o *offline) forecast(lat, lon float64, note string) Forecast {
	loc, km := o.nearest(lat, lon)
	zone := time.FixedZone(loc.Timezone, loc.UTCOffsetMinutes*60)
	y, m, d := o.now().In(zone).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, zone)
	periods := make([]Period, 0, len(loc.Days))
	for i, day := range loc.Days {
		date := today.AddDate(0, 0, i)
		p := Period{
			Name:  dayName(date, i),
			Start: date.Format(time.RFC3339),
			End:   date.AddDate(0, 0, 1).Format(time.RFC3339),
		}
		p.setTemperature(day.HighC, "C")
		p.setLow(day.LowC, "C")
		p.PrecipitationProbability = percent(&day.PrecipitationProbability)
		p.Wind = "up to " + formatNumber(day.WindMaxKMH) + " km/h " + compass(day.WindDirection)
		code := day.WeatherCode
		p.ShortForecast = wmoText(&code)
		p.DetailedForecast = sampleLabel + dailyDetail(p)
		periods = append(periods, p)
	}
	return Forecast{
		Source:    SourceOffline,
		Sample:    true,
		Note:      note,
		Location:  sampleLocationName(loc.Name, km),
		Latitude:  lat,
		Longitude: lon,
		Timezone:  loc.Timezone,
		Periods:   periods,
	}
}

// alerts answers with the sample alerts of a state, which for most states
// are none.
func (o *offline) alerts(code, note string) Alerts {
	now := o.now().UTC().Truncate(time.Hour)
	samples := o.data.Alerts[code]
	alerts := make([]Alert, 0, len(samples))
	for _, s := range samples {
		alerts = append(alerts, Alert{
			Event:       s.Event,
			Severity:    s.Severity,
			Urgency:     s.Urgency,
			Certainty:   s.Certainty,
			Headline:    sampleLabel + s.Headline,
			Description: s.Description,
			Instruction: s.Instruction,
			Area:        s.Area,
			Effective:   now.Add(time.Duration(s.EffectiveHours) * time.Hour).Format(time.RFC3339),
			Expires:     now.Add(time.Duration(s.ExpiresHours) * time.Hour).Format(time.RFC3339),
			Sender:      s.Sender,
		})
	}
	name, _ := StateName(code)
	return Alerts{
		State:     code,
		StateName: name,
		Source:    SourceOffline,
		Sample:    true,
		Note:      note,
		Count:     len(alerts),
		Alerts:    alerts,
	}
}

func sampleLocationName(name string, km float64) string {
	if km < 1 {
		return name + " (sample location)"
	}
	return fmt.Sprintf("%s (the nearest sample location, %.0f km away)", name, km)
}

// nearest returns the sample location closest to the point and its
// great-circle distance in kilometres; ties go to the first listed.
func (o *offline) nearest(lat, lon float64) (sampleLocation, float64) {
	best, bestKM := o.data.Locations[0], math.Inf(1)
	for _, l := range o.data.Locations {
		if km := distanceKM(lat, lon, l.Latitude, l.Longitude); km < bestKM {
			best, bestKM = l, km
		}
	}
	return best, bestKM
}

// distanceKM is the haversine distance between two points.
func distanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusKM = 6371
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKM * math.Asin(math.Min(1, math.Sqrt(a)))
}
