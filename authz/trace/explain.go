package trace

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// explain sets the outcome, reason and hint of e from what the request
// and the answer said (p) and what the handlers noted (n). rec.mu is held.
func (rec *Recorder) explain(e *Event, p *pending, n Note) {
	e.Outcome = OK
	if e.Status >= 400 {
		e.Outcome = Fail
	}
	path := p.path
	desc := p.errDesc
	switch {
	case e.Status == http.StatusTooManyRequests:
		e.Reason = "rate limited: too many requests from this client or address"
		if p.retryAfter != "" {
			e.Reason += "; retry after " + p.retryAfter + " s"
		}
		e.Hint = "Slow down and honour Retry-After. Loopback clients are exempt unless the server runs with --rate-limits all; sign-in failures are limited per account."
		return
	case e.Status >= 500:
		e.Reason = "server error"
		if n.Cause == CauseTokenFaultInjected {
			e.Reason = "token endpoint unavailable (injected fault)"
			e.Hint = "The client should retry the token request after a short wait instead of giving up or signing in again."
			return
		}
		e.Hint = "The server log has the details (look for this request's time); this is a bug to report if it repeats."
		return
	}
	switch {
	case strings.HasPrefix(path, "/.well-known/oauth-protected-resource"):
		e.Step = "protected resource metadata"
		if e.Status == http.StatusNotFound {
			e.Reason = "no protected resource metadata at " + path
			e.Hint = "Take the metadata URL from the resource_metadata parameter of the 401's WWW-Authenticate header; for " + rec.issuer + "/mcp it is " + rec.issuer + "/.well-known/oauth-protected-resource/mcp (RFC 9728 §3.1)."
		}
	case strings.HasPrefix(path, "/.well-known/oauth-authorization-server"), strings.HasPrefix(path, "/.well-known/openid-configuration"):
		e.Step = "authorization server metadata"
		if e.Status == http.StatusNotFound {
			e.Reason = "no authorization server metadata at " + path
			e.Hint = "The issuer " + rec.issuer + " has no path: fetch " + rec.issuer + "/.well-known/oauth-authorization-server."
		} else if iss := hostOf(rec.issuer); iss != "" && !strings.EqualFold(e.Host, iss) {
			e.Reason = fmt.Sprintf("metadata asked for at %s, but the issuer is %s", e.Host, rec.issuer)
			e.Hint = "The document says issuer " + rec.issuer + "; a client that compares it with the URL it used (MCP Inspector's IssuerMismatchError) refuses it. Use the authorization_servers URL from the protected resource metadata, byte for byte."
		}
	case strings.HasPrefix(path, "/.well-known/"):
		e.Step = "discovery"
		if e.Status == http.StatusNotFound {
			e.Reason = "no such discovery document: " + path
			e.Hint = "This server publishes /.well-known/oauth-protected-resource/mcp, /.well-known/oauth-authorization-server and /.well-known/openid-configuration."
		}
	case path == "/jwks.json":
		e.Step = "signing keys"
	case path == "/register" || strings.HasPrefix(path, "/register/"):
		rec.explainRegister(e, p, n)
	case path == "/authorize":
		rec.explainAuthorize(e, p, n)
	case path == "/login":
		e.Step = "sign-in"
		if e.Status == http.StatusUnauthorized {
			e.Reason = "wrong username or password"
			e.Hint = "The person signing in mistyped; an admin can reset it with: tenantless user passwd NAME."
		} else if e.Status == http.StatusForbidden {
			e.Reason = "the sign-in form was stale or posted from another site"
			e.Hint = "Start the sign-in again from the client."
		}
	case path == "/token":
		rec.explainToken(e, p, n)
	case path == "/revoke":
		e.Step = "revocation"
		if e.Outcome == Fail {
			e.Reason = "revocation refused: " + orCode(desc, p.errCode)
			e.Hint = "Send token=… (and the client's credentials for a confidential client) as a form body."
		}
	case path == "/introspect":
		e.Step = "introspection"
		switch {
		case n.Cause == CauseInvalidToken:
			e.Outcome = Fail
			e.Reason = "introspection: the token is not active (invalid, expired or revoked)"
			e.Hint = "The resource server must refuse it with 401 invalid_token; the client should refresh or sign in again."
		case e.Outcome == Fail:
			e.Reason = "introspection refused: " + orCode(desc, p.errCode)
			e.Hint = "Only confidential clients authenticated with HTTP Basic (client_secret_basic) may introspect."
		}
	case path == "/mcp" || strings.HasPrefix(path, "/mcp/"):
		rec.explainMCP(e, p, n)
	}
	if e.Outcome == Fail && e.Reason == "" {
		e.Reason = orCode(desc, p.errCode)
		if e.Reason == "" {
			e.Reason = http.StatusText(e.Status)
		}
	}
}

func (rec *Recorder) explainRegister(e *Event, p *pending, n Note) {
	e.Step = "dynamic client registration"
	if e.Outcome != Fail {
		return
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		e.Reason = "registration refused: an initial access token is required"
		e.Hint = "The server runs with --registration token: create one with \"tenantless token create\" and send it as Authorization: Bearer, or pre-register the client with \"tenantless client add\"."
	case e.Status == http.StatusForbidden || p.errCode == "access_denied":
		e.Reason = "registration refused: dynamic registration is off"
		e.Hint = "Pre-register the client with \"tenantless client add\", or restart the server with --registration open."
	default:
		e.Reason = "registration refused (" + p.errCode + "): " + p.errDesc
		switch p.errCode {
		case "invalid_redirect_uri":
			e.Hint = "Register redirect URIs this server accepts: http://127.0.0.1, http://localhost or http://[::1] with any port, an https URL, or a private-use scheme such as com.example.app:/cb."
		default:
			e.Hint = "Fix the field the reason names in the registration body (RFC 7591 §2) and register again."
		}
	}
}

func (rec *Recorder) explainAuthorize(e *Event, p *pending, n Note) {
	e.Step = "authorization request"
	if n.Step != "" {
		e.Step = n.Step
	}
	if p.location && e.Status >= 300 && e.Status < 400 {
		e.Step = "code issued, back to the client"
	}
	if sc := p.form["scope"]; sc != "" && e.Step == "authorization request" {
		e.Step += " for " + sc
	}
	switch n.Cause {
	case CauseUnknownClient:
		e.Outcome, e.Reason = Fail, "unknown client: no client is registered as "+quote(e.ClientID)
		e.Hint = "Register the client first (DCR at /register, \"tenantless client add\", or a client ID metadata document URL as client_id). Dynamically registered clients unused for a day are removed; register again."
		return
	case CauseRedirectUnregistered:
		e.Outcome = Fail
		e.Reason = "redirect URI " + quote(n.RedirectURI) + " is not registered for this client"
		if len(n.Registered) > 0 {
			e.Reason += "; registered: " + strings.Join(n.Registered, ", ")
		} else {
			e.Reason += "; it has none registered"
		}
		e.Hint = "Send one of the registered redirect URIs exactly (for loopback http any port matches), or register this one."
		return
	case CauseCIMD:
		e.Outcome, e.Reason = Fail, "client metadata document at "+quote(e.ClientID)+" could not be used: "+n.Detail
		e.Hint = "Serve the document at exactly that URL as JSON with client_id equal to the URL and redirect_uris (draft-ietf-oauth-client-id-metadata-document); for a document on this machine start the server with --cimd-allow-host HOST:PORT. A document on the internet (vscode.dev, claude.ai) cannot be fetched by an offline machine: the client should fall back to dynamic registration."
		return
	}
	if e.Outcome != Fail && p.errCode == "" {
		return
	}
	e.Outcome = Fail
	desc := p.errDesc
	switch {
	case p.errCode == "access_denied":
		e.Reason = "the user denied consent"
		if n.Cause != CauseConsentDenied && desc != "" {
			e.Reason = "access denied: " + desc
		}
		e.Hint = "Nothing is wrong with the client: it should show that access was refused and let the user try again."
	case p.errCode == "invalid_target":
		e.Reason = "unknown resource " + quote(p.form["resource"]) + ": " + desc
		e.Hint = "Ask for the exact MCP URL the client connects to (resource=" + rec.issuer + "/mcp), as listed in the protected resource metadata's \"resource\"."
	case strings.Contains(desc, "code_challenge") || strings.Contains(desc, "PKCE"):
		e.Reason = "PKCE missing or wrong: " + desc
		e.Hint = "Send code_challenge=BASE64URL(SHA256(code_verifier)) and code_challenge_method=S256 (OAuth 2.1 requires PKCE)."
	case p.errCode == "invalid_scope":
		e.Reason = "scope refused: " + desc
		e.Hint = "Ask only for scopes listed in scopes_supported of the metadata."
	case p.errCode == "login_required" || p.errCode == "consent_required":
		e.Reason = p.errCode + " (prompt=none)"
		e.Hint = "Send the user to /authorize without prompt=none so they can sign in or consent."
	default:
		e.Reason = orCode(desc, p.errCode)
	}
}

func (rec *Recorder) explainToken(e *Event, p *pending, n Note) {
	gt := p.form["grant_type"]
	e.Step = gt + " grant"
	if gt == "" {
		e.Step = "token request"
	}
	if e.Outcome != Fail {
		return
	}
	desc := p.errDesc
	switch {
	case n.Cause == CauseTokenFaultInjected:
		e.Reason = "invalid_grant (injected fault)"
		e.Hint = "A client whose refresh is refused should start a new sign-in, not give up or loop."
	case n.Cause == CauseRefreshReuse:
		e.Reason = "refresh token reuse: a refresh token that was already rotated was used again, so the whole grant was revoked"
		if since := rec.revokedGrantOf(e.ClientID); since != "" {
			e.Reason = "refresh token of a revoked grant (revoked " + since + "), or one already rotated"
		}
		e.Hint = "Store the new refresh_token from every refresh response and never refresh twice with the same one (serialize refreshes); the user must sign in again now."
	case p.errCode == "invalid_client":
		e.Reason = "client authentication failed: " + desc
		e.Hint = "A confidential client must send its client_secret (HTTP Basic, client_secret_basic); a public client sends client_id and no secret. A client removed as unused must register again."
	case p.errCode == "invalid_target":
		e.Reason = "unknown resource " + quote(p.form["resource"]) + ": " + desc
		e.Hint = "Send the same resource as in the authorization request: one this grant covers."
	case p.errCode == "invalid_grant":
		low := strings.ToLower(desc)
		switch {
		case strings.Contains(low, "already been used"):
			e.Reason = "authorization code reused: it was already exchanged"
			e.Hint = "Exchange each code exactly once; a second exchange is refused (and a browser back-button or a retried request often causes it)."
		case strings.Contains(low, "pkce") || strings.Contains(low, "code_verifier") || strings.Contains(low, "code verifier"):
			e.Reason = "PKCE verifier mismatch: " + desc
			e.Hint = "Send the code_verifier whose S256 hash was the code_challenge of this authorization request (keep one verifier per sign-in)."
		case strings.Contains(low, "redirect"):
			e.Reason = "redirect URI mismatch: " + desc
			e.Hint = "Send exactly the redirect_uri of the authorization request."
		case strings.Contains(low, "expired"):
			e.Reason = "authorization code expired: " + desc
			e.Hint = "Exchange the code as soon as the browser comes back (codes live --code-ttl, 5 minutes by default)."
		case gt == "refresh_token":
			e.Reason = "refresh refused: " + desc
			if since := rec.revokedGrantOf(e.ClientID); since != "" {
				e.Reason = "refresh token of a revoked grant (revoked " + since + ")"
			}
			e.Hint = "The refresh token is expired, revoked or already used: the client must sign in again."
		default:
			e.Reason = "invalid_grant: " + desc
			e.Hint = "The code or refresh token is invalid, expired, revoked or was issued to another client."
		}
	case p.errCode == "unsupported_grant_type":
		e.Reason = "unsupported grant type " + quote(gt)
		e.Hint = "Use authorization_code (with PKCE) or refresh_token."
	default:
		e.Reason = orCode(desc, p.errCode)
	}
}

func (rec *Recorder) explainMCP(e *Event, p *pending, n Note) {
	if n.Step != "" {
		e.Step = n.Step
	}
	meta := challengeParam(p.challenge, "resource_metadata")
	switch n.Cause {
	case CauseNoToken:
		e.Outcome = OK
		e.Reason = "no access token yet: 401 with a challenge (the normal first step)"
		e.Hint = "The client should now fetch the protected resource metadata at " + meta + ", then the authorization server metadata it names."
	case CauseBadHeader:
		e.Outcome = Fail
		e.Reason = "malformed Authorization header"
		e.Hint = "Send exactly one header: Authorization: Bearer <access token>."
	case CauseBadOrigin:
		e.Outcome = Fail
		e.Reason = "requests from this Origin are refused"
		e.Hint = "Browser clients must run on a loopback origin or the server's public URL."
	case CauseWrongAudience:
		e.Outcome = Fail
		e.Reason = "token for another audience: its aud is " + strings.Join(n.Audience, ", ") + ", not " + n.Resource
		e.Hint = "Ask for the token with resource=" + n.Resource + " (RFC 8707), the exact URL the client connects to: localhost, 127.0.0.1 and another path are different resources."
	case CauseInsufficientScope, CauseStepUpInjected:
		e.Outcome = Fail
		need := strings.Join(n.Missing, " ")
		e.Reason = "insufficient scope: this call needs " + need + "; the token has " + orNone(strings.Join(n.Scopes, " "))
		if n.Cause == CauseStepUpInjected {
			e.Reason = "step-up demanded (injected fault): this call needs " + need
		}
		if t, ok := rec.tokens[e.Token]; ok && e.Token != "" {
			if t.scopeRefused > 0 {
				e.Reason = "did not step up: the client repeated the call with the same token (" + e.Reason + ")"
			}
			t.scopeRefused++
			rec.tokens[e.Token] = t
		}
		e.Hint = "The client should step up: authorize again asking for scope=\"" + challengeParam(p.challenge, "scope") + "\", then retry the call with the new token."
	case CauseInvalidToken:
		e.Outcome = Fail
		rec.explainInvalidToken(e, n)
	default:
		if e.Status == http.StatusUnauthorized && p.bearer != "" {
			// Accepted at the door, refused inside: it expired meanwhile.
			e.Outcome = Fail
			rec.explainInvalidToken(e, n)
			return
		}
		if e.Status == http.StatusUnauthorized && p.bearer == "" {
			e.Outcome = OK
			e.Reason = "no access token yet: 401 with a challenge (the normal first step)"
			e.Hint = "The client should now fetch the protected resource metadata at " + meta + "."
		}
	}
}

// explainInvalidToken says why a token was refused, from what the
// recorder saw of it.
func (rec *Recorder) explainInvalidToken(e *Event, n Note) {
	fp := e.Token
	t, known := rec.tokens[fp]
	now := rec.now()
	switch {
	case !known:
		e.Reason = "the access token is not one this server issued and still holds (revoked, issued before a restart with another database, or by another server)"
		e.Hint = "Get a new token from this server: refresh it, or sign in again."
	case t.grant != "" && !rec.revoked[t.grant].IsZero():
		e.Reason = "the grant was revoked " + ago(now, rec.revoked[t.grant]) + "; its tokens no longer work"
		e.Hint = "Sign in again: the refresh token was revoked with the grant."
	case t.expired:
		e.Reason = "the access token was expired now (injected fault)"
		e.Hint = "Refresh it (grant_type=refresh_token) and retry the request."
	case !t.expiry.IsZero() && !now.Before(t.expiry):
		e.Reason = "the access token expired " + ago(now, t.expiry)
		e.Hint = "Refresh it before it expires (expires_in of the token response), or on this 401, and retry."
	default:
		e.Reason = "the access token was refused (revoked, or signed with a key this server no longer has)"
		e.Hint = "Refresh it, or sign in again."
	}
	if t.refused > 0 {
		e.Reason = "expired token not refreshed: the client sent the same refused token again (" + e.Reason + ")"
		e.Hint = "On a 401 invalid_token the client must refresh or sign in again, not repeat the request with the same token."
	}
	if known {
		t.refused++
		rec.tokens[fp] = t
	}
}

func challengeParam(h, name string) string {
	i := strings.Index(h, name+`="`)
	if i < 0 {
		return ""
	}
	rest := h[i+len(name)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

func quote(s string) string { return "\"" + s + "\"" }

func orCode(desc, code string) string {
	if desc != "" {
		if code != "" {
			return code + ": " + desc
		}
		return desc
	}
	return code
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ago says how long before now t was, in whole seconds or minutes.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < 2*time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return "at " + t.UTC().Format(time.RFC3339)
}
