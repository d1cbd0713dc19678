// Package weather answers the MCP weather tools: forecasts for a point and
// active alerts for a US state, from one of several sources behind the
// Provider interface. It imports only the standard library and nothing of
// ours, and it serves no routes: it is a client of these upstreams.
//
// Modes (Config.Mode, the --weather flag):
//
//	auto        default: the National Weather Service for US points and all alerts,
//	            Open-Meteo for points elsewhere; the offline sample when the upstream
//	            does not answer within Timeout, cannot be reached, answers 5xx or 429
//	nws         api.weather.gov only; points outside the United States are an error
//	open-meteo  api.open-meteo.com only; worldwide forecasts, alerts are an error
//	offline     the embedded sample dataset (sample.json), no network at all
//
// Upstream calls:
//
//	GET {nws}/points/{lat},{lon}                 → properties.forecast (same host only)
//	GET {nws}/gridpoints/{wfo}/{x},{y}/forecast  → properties.periods
//	GET {nws}/alerts/active?area={state}         → features[].properties
//	GET {open-meteo}/v1/forecast?latitude=&longitude=&daily=...&timezone=auto&forecast_days=7
//
// How auto decides "US": bounding boxes around the states and territories
// send points clearly elsewhere (Berlin, Tokyo) straight to Open-Meteo; for
// points inside a box the National Weather Service decides, and its 404
// for /points (Toronto, Tijuana, open sea) sends the question on to
// Open-Meteo. The boxes only save a round trip; they never refuse a point.
//
// Every result names its source (Forecast.Source, Alerts.Source: "nws",
// "open-meteo" or "offline"). Offline results have Sample set, a Note
// saying why (the mode, or e.g. "api.weather.gov did not answer within
// 4s"), and "Sample data, not real: " at the start of every period's
// detailed forecast and every alert's headline. The sample dataset is
// deterministic: its days start at the current date and its alert times
// are hours from now, so a fixed clock gives a fixed answer.
//
// Upstream calls use the provider's own http.Client and build each request
// from scratch (User-Agent and Accept only), so an MCP client's token can
// never reach an upstream. Each call has a timeout; bodies over 2 MiB and
// invalid JSON are errors. Coordinates are rounded to 4 decimals, the
// precision api.weather.gov serves without a redirect. Successful answers
// are cached for CacheTTL in a bounded cache keyed by the rounded point or
// the state; errors and sample fallbacks are never cached.
package weather
