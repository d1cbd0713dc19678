package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
)

// Registration modes (Config.Registration).
const (
	RegistrationOpen  = "open"  // anyone may register (the default on loopback)
	RegistrationToken = "token" // an initial access token is required (RFC 7591 §3)
	RegistrationOff   = "off"   // no dynamic registration
)

// maxRegistrationBody bounds a registration request body.
const maxRegistrationBody = 64 << 10

// clientMetadata is the RFC 7591 §2 client metadata tenantless accepts
// and echoes. Fields it does not know are ignored.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// registrationResponse is the RFC 7591 §3.2.1 / RFC 7592 §3 client
// information response: every registered field plus the credentials.
type registrationResponse struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	clientMetadata
}

// registrationError is an RFC 7591 §3.2.2 error.
type registrationError struct {
	status int
	code   string
	desc   string
}

func (e *registrationError) Error() string { return e.code + ": " + e.desc }

func invalidMetadata(format string, args ...any) *registrationError {
	return &registrationError{http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf(format, args...)}
}

func writeRegistrationError(w http.ResponseWriter, r *http.Request, e *registrationError) {
	w.Header().Set("Cache-Control", "no-store")
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+e.desc+`"`)
	}
	writeJSON(w, r, e.status, "application/json", map[string]string{"error": e.code, "error_description": e.desc})
}

// register serves RFC 7591 dynamic client registration.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if ok, wait := s.limits.byAddress(s.limits.register, r); !ok {
		tooManyJSON(w, r, wait)
		return
	}
	if rerr := s.checkInitialAccess(r); rerr != nil {
		writeRegistrationError(w, r, rerr)
		return
	}
	md := &clientMetadata{}
	rerr := decodeMetadata(w, r, md)
	if rerr == nil {
		rerr = s.normalizeMetadata(md)
	}
	if rerr != nil {
		s.logger(r).Info("registration refused", "error", rerr.code, "description", rerr.desc)
		writeRegistrationError(w, r, rerr)
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	c := storage.Client{
		ID:        "dcr_" + randomToken(16),
		Source:    storage.SourceDCR,
		CreatedAt: now,
		UpdatedAt: now,
	}
	resp := registrationResponse{ClientID: c.ID, ClientIDIssuedAt: now.Unix()}
	if md.TokenEndpointAuthMethod != authMethodNone {
		resp.ClientSecret = randomToken(32)
		zero := int64(0)
		resp.ClientSecretExpiresAt = &zero
	}
	resp.RegistrationAccessToken = randomToken(32)
	resp.RegistrationClientURI = s.issuer + "/register/" + c.ID
	resp.clientMetadata = *md
	if err := s.applyMetadata(r, &c, md, resp.ClientSecret, resp.RegistrationAccessToken); err != nil {
		s.jsonServerError(w, r, "register client", err)
		return
	}
	e := s.auditEvent(r, AuditClientRegistered, "", c.ID, "success", "dynamic registration: "+md.ClientName)
	if err := s.withAudit(ctx, e, func(tx context.Context) error { return s.store.CreateClient(tx, c) }); err != nil {
		s.jsonServerError(w, r, "store client", err)
		return
	}
	s.logger(r).Info("client registered", "client_id", c.ID, "client_name", md.ClientName,
		"auth_method", md.TokenEndpointAuthMethod, "redirect_uris", strings.Join(md.RedirectURIs, " "))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", resp.RegistrationClientURI)
	s.trace.Note(r, trace.Note{ClientID: c.ID, ClientName: md.ClientName})
	writeJSON(w, r, http.StatusCreated, "application/json", resp)
}

// applyMetadata fills a client record from validated metadata.
func (s *Server) applyMetadata(r *http.Request, c *storage.Client, md *clientMetadata, secret, regToken string) error {
	raw, err := json.Marshal(md)
	if err != nil {
		return err
	}
	c.Name = md.ClientName
	c.RedirectURIs = md.RedirectURIs
	c.GrantTypes = md.GrantTypes
	c.ResponseTypes = md.ResponseTypes
	c.Scopes = strings.Fields(md.Scope)
	c.TokenEndpointAuthMethod = md.TokenEndpointAuthMethod
	c.Metadata = raw
	if secret != "" {
		if c.SecretHash, err = s.hasher.Hash(r.Context(), []byte(secret)); err != nil {
			return err
		}
	}
	if regToken != "" {
		if c.RegistrationTokenHash, err = s.hasher.Hash(r.Context(), []byte(regToken)); err != nil {
			return err
		}
	}
	return nil
}

// checkInitialAccess enforces the registration mode.
func (s *Server) checkInitialAccess(r *http.Request) *registrationError {
	switch s.registration {
	case RegistrationOpen:
		return nil
	case RegistrationOff:
		return &registrationError{http.StatusForbidden, "access_denied", "dynamic client registration is disabled on this server; ask its operator to register your client with \"tenantless client add\""}
	}
	tok, ok := bearer(r)
	if !ok {
		return &registrationError{http.StatusUnauthorized, "invalid_token", "registration requires an initial access token (Authorization: Bearer ...); an operator creates one with \"tenantless initial-token add\""}
	}
	sum := sha256.Sum256([]byte(tok))
	iat, err := s.store.GetInitialAccessToken(r.Context(), sum[:])
	if err != nil || (!iat.ExpiresAt.IsZero() && !s.now().Before(iat.ExpiresAt)) {
		return &registrationError{http.StatusUnauthorized, "invalid_token", "the initial access token is unknown or expired"}
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 4096 {
		return "", false
	}
	return tok, true
}

// decodeMetadata reads a JSON registration body into v.
func decodeMetadata(w http.ResponseWriter, r *http.Request, v any) *registrationError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return invalidMetadata("the request body must be JSON with Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBody))
	if err != nil {
		return invalidMetadata("the request body is unreadable or larger than %d bytes", maxRegistrationBody)
	}
	return parseMetadata(body, v)
}

// parseMetadata decodes a JSON object into v, naming the field that has
// the wrong type.
func parseMetadata(body []byte, v any) *registrationError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalidMetadata("field %q has the wrong type (got a JSON %s)", te.Field, te.Value)
		}
		return invalidMetadata("the request body is not a valid JSON object")
	}
	if dec.More() {
		return invalidMetadata("the request body has data after the JSON object")
	}
	return nil
}

// supportedGrants are the grant types a client can register; others
// (device_code, implicit, ...) are dropped, not refused, because real
// clients (VS Code) list grants they can live without.
var supportedGrants = []string{grantAuthorizationCode, grantRefreshToken}

// normalizeMetadata validates md and applies RFC 7591 defaults. What is
// stored and echoed is what the client may actually use.
func (s *Server) normalizeMetadata(md *clientMetadata) *registrationError {
	if len(md.RedirectURIs) == 0 {
		return &registrationError{http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris is required: at least one redirect URI"}
	}
	if len(md.RedirectURIs) > 20 {
		return &registrationError{http.StatusBadRequest, "invalid_redirect_uri", "at most 20 redirect URIs may be registered"}
	}
	for _, u := range md.RedirectURIs {
		if len(u) > 2000 {
			return &registrationError{http.StatusBadRequest, "invalid_redirect_uri", "a redirect URI is longer than 2000 characters"}
		}
		if err := ValidateRedirectURI(u); err != nil {
			return &registrationError{http.StatusBadRequest, "invalid_redirect_uri", fmt.Sprintf("redirect URI %s: %v", quoteShort(u), err)}
		}
	}
	md.RedirectURIs = dedupe(md.RedirectURIs)

	switch md.TokenEndpointAuthMethod {
	case "":
		md.TokenEndpointAuthMethod = authMethodBasic // RFC 7591 §2 default
	case authMethodNone, authMethodBasic, authMethodPost:
	default:
		return invalidMetadata("token_endpoint_auth_method %s is not supported; use none, client_secret_basic or client_secret_post", quoteShort(md.TokenEndpointAuthMethod))
	}

	if md.GrantTypes == nil {
		md.GrantTypes = []string{grantAuthorizationCode}
	}
	var grants []string
	for _, g := range md.GrantTypes {
		if slices.Contains(supportedGrants, g) && !slices.Contains(grants, g) {
			grants = append(grants, g)
		}
	}
	if !slices.Contains(grants, grantAuthorizationCode) {
		return invalidMetadata("grant_types must include authorization_code (supported: authorization_code, refresh_token)")
	}
	md.GrantTypes = grants

	if md.ResponseTypes == nil {
		md.ResponseTypes = []string{"code"}
	}
	if !slices.Contains(md.ResponseTypes, "code") {
		return invalidMetadata("response_types must include code")
	}
	md.ResponseTypes = []string{"code"}

	for name, v := range map[string]string{"client_uri": md.ClientURI, "logo_uri": md.LogoURI, "tos_uri": md.TOSURI, "policy_uri": md.PolicyURI} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(v) > 2000 {
			return invalidMetadata("%s must be an http(s) URL", name)
		}
	}
	switch md.ApplicationType {
	case "", "native", "web":
	default:
		return invalidMetadata("application_type must be native or web")
	}
	if len(md.ClientName) > 200 {
		return invalidMetadata("client_name is longer than 200 characters")
	}
	// Every client may request every scope; the registered value says so.
	md.Scope = strings.Join(s.registry.scopeNames(), " ")
	return nil
}

func dedupe(list []string) []string {
	var out []string
	for _, v := range list {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// jsonServerError logs err and answers a JSON API caller with a bare
// server_error.
func (s *Server) jsonServerError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		s.logger(r).Warn(what+": database unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		writeOAuthError(w, r, errUnavailable)
		return
	}
	s.logger(r).Error(what, "err", err)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, http.StatusInternalServerError, "application/json", map[string]string{"error": "server_error"})
}
