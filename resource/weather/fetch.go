package weather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody caps every upstream response. Real answers are far smaller
// (a NWS forecast is about 10 KiB, a busy state's alerts a few hundred).
const maxBody = 2 << 20

// fetcher makes the upstream GETs for every source.
type fetcher struct {
	client    *http.Client
	timeout   time.Duration
	userAgent string
	log       *slog.Logger
}

// unavailableError reports an upstream that could not be reached in time,
// failed with a 5xx or throttled us: the cases where auto mode answers with
// the sample dataset instead.
type unavailableError struct {
	host   string
	reason string // e.g. "did not answer within 4s"
}

func (e *unavailableError) Error() string { return e.host + " " + e.reason }

// statusError reports any other non-2xx answer.
type statusError struct {
	host   string
	code   int
	detail string // from the problem document, when there is one
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s answered %d %s", e.host, e.code, http.StatusText(e.code))
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

// get fetches u and returns the body of a 2xx answer. It never forwards
// anything of the caller's request: the request is built here, with only
// the User-Agent and Accept headers.
func (f *fetcher) get(ctx context.Context, u *url.URL, accept string) ([]byte, error) {
	host := u.Host
	callCtx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept", accept)
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.transportError(ctx, callCtx, host, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxBody {
		return nil, fmt.Errorf("%s sent %d bytes, more than the %d MiB limit", host, resp.ContentLength, maxBody>>20)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, f.transportError(ctx, callCtx, host, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%s sent more than the %d MiB limit", host, maxBody>>20)
	}
	f.log.DebugContext(ctx, "weather upstream call", "host", host, "path", u.Path, "status", resp.StatusCode, "bytes", len(body), "duration", time.Since(start))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return body, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, &unavailableError{host: host, reason: fmt.Sprintf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
	default:
		return nil, &statusError{host: host, code: resp.StatusCode, detail: problemDetail(body)}
	}
}

// transportError classifies an error from sending the request or reading
// the answer. The caller giving up is passed on as it is; our own deadline
// and network failures make the upstream unavailable.
func (f *fetcher) transportError(ctx, callCtx context.Context, host string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", host, context.Cause(ctx))
	}
	var ne net.Error
	if errors.Is(callCtx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &unavailableError{host: host, reason: fmt.Sprintf("did not answer within %s", f.timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is in the message already as host
	}
	return &unavailableError{host: host, reason: "could not be reached: " + err.Error()}
}

// problemDetail extracts a short reason from an error body: an RFC 7807
// problem document (api.weather.gov) or {"error":true,"reason":...}
// (Open-Meteo).
func problemDetail(body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	s := p.Detail
	if s == "" {
		s = p.Reason
	}
	if s == "" {
		s = p.Title
	}
	return truncate(strings.TrimSpace(s), 200)
}

// truncate shortens s to at most n runes.
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

// decodeJSON decodes an upstream body into v with a message that names the
// upstream and what it was asked for.
func decodeJSON(body []byte, v any, what string) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: invalid JSON: %w", what, err)
	}
	return nil
}
