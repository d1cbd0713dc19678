// Package trace is the live auth trace: every step a client takes on the
// way to a working tool call (discovery, registration, sign-in, consent,
// token requests, MCP requests), in order, grouped into connection
// attempts, each failure with a reason in plain words and a hint saying
// what to change; and the faults an admin injects to test a client's
// error paths (expired tokens, a revoked grant, a rotated key, step-up, a
// failing token endpoint, a slow MCP response), each followed by a
// verdict on what the client did next.
//
// A [Recorder] keeps events in a bounded in-memory ring (never in the
// database) and tells subscribers about new ones. [Recorder.Wrap] is the
// HTTP middleware that sees every request's route and status; the
// packages that know more (the authorization server, the MCP server)
// add it to the request's event with [Recorder.Note]. Every Recorder
// method accepts a nil receiver and then does nothing, so tracing that
// is off costs nothing.
//
// Nothing secret is ever recorded: no token, code, verifier, client
// secret or password. Where an event must be told apart from another, it
// carries a [Fingerprint]: 8 hex digits of the SHA-256 of the secret,
// which identify it without revealing it.
//
// The package imports nothing of tenantless but storage-free standard
// library code; the authorization server and cmd import it.
package trace
