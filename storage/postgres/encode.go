package postgres

import "time"

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

// list binds a list as a text[]; nil is the empty array, since the columns
// are NOT NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// listOrNil returns nil for an empty array, so that an empty list reads
// back as nil.
func listOrNil(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// nullBytes binds an empty slice as NULL.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// bytesOrNil returns nil for an empty slice, so a stored empty bytea or
// NULL reads back the same way.
func bytesOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// text binds a string as a NOT NULL bytea.
func text(s string) []byte {
	return append([]byte{}, s...)
}
