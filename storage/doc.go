// Package storage defines what tenantless persists: the record types, the
// Store interface every backend implements, and the sentinel errors they
// return.
//
// It imports only the standard library; in particular it knows nothing of
// fosite. The authorization server adapts fosite's storage interfaces to
// Store (authz/fositestore.go), and a backend proves itself by passing the
// conformance suite in storage/storagetest.
//
// Times are stored with one-second precision in UTC; a zero time.Time means
// "never" wherever a field documents it.
package storage
