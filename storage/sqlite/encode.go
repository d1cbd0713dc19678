package sqlite

import (
	"encoding/json"
	"fmt"
	"time"
)

// unixTime encodes t as unix seconds; the zero time is 0.
func unixTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// timeUnix decodes unixTime: 0 is the zero time, anything else a UTC time.
func timeUnix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// jsonList encodes a list as a JSON array; nil is "[]".
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// listJSON decodes jsonList; an empty array is nil.
func listJSON(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// nullBytes binds an empty slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// bytesOrNil returns nil for an empty slice, so a stored empty BLOB or NULL
// reads back the same way.
func bytesOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// boolInt encodes a bool as 0 or 1 for a STRICT INTEGER column.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
