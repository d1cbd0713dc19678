package weather

import (
	"maps"
	"slices"
	"strings"
)

// states are the areas whose alerts api.weather.gov serves by two-letter
// code (GET /alerts/active?area=XX) and that the tools accept: the 50
// states, the District of Columbia and the five inhabited territories.
// The marine areas (e.g. PZ, GM) and the freely associated states (FM, MH,
// PW), which api.weather.gov also accepts, are left out: they are not
// states a person would name.
var states = map[string]string{
	"AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas",
	"CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware",
	"FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho",
	"IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
	"KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
	"MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
	"MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
	"NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
	"NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
	"OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
	"SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
	"VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
	"WI": "Wisconsin", "WY": "Wyoming",
	"DC": "District of Columbia",
	"AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands",
	"PR": "Puerto Rico", "VI": "U.S. Virgin Islands",
}

// StateCodes returns the two-letter codes Alerts accepts, sorted: the 50
// states, DC, and the territories AS, GU, MP, PR and VI.
func StateCodes() []string {
	return slices.Sorted(maps.Keys(states))
}

// StateName returns the name of a state or territory code (upper case),
// and whether the code is one StateCodes lists.
func StateName(code string) (string, bool) {
	name, ok := states[code]
	return name, ok
}

// ParseState normalises a state or territory code (surrounding space and
// case do not matter) and reports an unknown one, wrapping
// ErrInvalidArgument.
func ParseState(s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if _, ok := states[code]; !ok {
		return "", invalidArgument("state %q is not a US state or territory code: use a two-letter code such as WA, TX, DC or PR", truncate(s, 20))
	}
	return code, nil
}
