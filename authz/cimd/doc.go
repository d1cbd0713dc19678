// Package cimd fetches and validates OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document, following the stricter
// -01 rules) for the authorization server: a client whose client_id is an
// https URL publishes its RFC 7591 metadata at that URL, and the server
// fetches it instead of asking the client to register.
//
// It owns:
//
//   - the client_id URL rules (IsClientIDURL, ValidateURL);
//   - document validation (Parse), shared by fetching and by offline
//     pre-registration from a file;
//   - the SSRF-safe fetch (Resolver.Resolve): https only, no proxy, no
//     redirects, 200 only, a 5 KB limit, a 5 s timeout, and a dialer that
//     refuses loopback, private, link-local and other special-use
//     addresses (RFC 6890) at connection time, with exact host:port
//     exemptions for local test servers (Config.AllowHosts);
//   - an in-memory cache honouring Cache-Control and Expires within
//     [MinTTL, MaxTTL], never holding failures, with one shared fetch per
//     URL and a bound on concurrent fetches; a document served with
//     no-store, no-cache or max-age=0 (Document.Revalidate) is fetched
//     again for each Resolve, and Resolver.Refresh fetches one whose
//     cached copy does not fit, both at most once per document per
//     Config.RefetchInterval.
//
// Every failure is an *Error whose Kind tells the caller how to respond
// and whose message tells a person what to fix.
//
// The package does not store clients, match redirect URIs at /authorize,
// or map documents to fosite clients: package authz does, calling Resolve
// from its client lookup, never inside a database transaction (a cache
// miss does network I/O).
//
// It imports only the standard library: no fosite, no storage, nothing of
// ours (authz imports it, not the other way round). It serves no routes.
package cimd
