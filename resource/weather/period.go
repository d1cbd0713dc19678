package weather

import "math"

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// percent turns a probability in percent into a whole number, nil when
// unknown or out of range.
func percent(v *float64) *int {
	if v == nil || !finite(*v) || *v < 0 || *v > 100 {
		return nil
	}
	n := int(math.Round(*v))
	return &n
}

// setTemperature sets the temperature fields from a value in unit ("C" or
// "F").
func (p *Period) setTemperature(v float64, unit string) {
	p.Temperature = round1(v)
	p.TemperatureUnit = unit
	if unit == "F" {
		p.TemperatureF, p.TemperatureC = round1(v), round1(fToC(v))
	} else {
		p.TemperatureC, p.TemperatureF = round1(v), round1(cToF(v))
	}
}

// setLow sets the low of a whole-day period from a value in unit.
func (p *Period) setLow(v float64, unit string) {
	c, f := v, cToF(v)
	if unit == "F" {
		c, f = fToC(v), v
	}
	c, f = round1(c), round1(f)
	p.LowC, p.LowF = &c, &f
}

func fToC(f float64) float64 { return (f - 32) * 5 / 9 }
func cToF(c float64) float64 { return c*9/5 + 32 }

func round1(x float64) float64 {
	r := math.Round(x*10) / 10
	if r == 0 {
		return 0
	}
	return r
}
