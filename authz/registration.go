package authz

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// managedClient authenticates an RFC 7592 request: the registration access
// token must belong to the client in the path. Unknown clients and wrong
// tokens get the same 401, so the endpoint does not reveal which IDs exist.
func (s *Server) managedClient(r *http.Request) (storage.Client, *registrationError) {
	denied := &registrationError{http.StatusUnauthorized, "invalid_token", "a valid registration access token for this client is required"}
	tok, ok := bearer(r)
	if !ok {
		return storage.Client{}, denied
	}
	c, err := s.store.GetClient(r.Context(), r.PathValue("client_id"))
	if err != nil || c.Source != storage.SourceDCR || len(c.RegistrationTokenHash) == 0 {
		// Hash anyway so that an unknown client costs the same time.
		_ = s.hasher.Compare(r.Context(), nil, []byte(tok))
		return storage.Client{}, denied
	}
	if s.hasher.Compare(r.Context(), c.RegistrationTokenHash, []byte(tok)) != nil {
		return storage.Client{}, denied
	}
	return c, nil
}

// readRegistration serves RFC 7592 §2.1 client read.
func (s *Server) readRegistration(w http.ResponseWriter, r *http.Request) {
	c, rerr := s.managedClient(r)
	if rerr != nil {
		writeRegistrationError(w, r, rerr)
		return
	}
	md := &clientMetadata{}
	if rerr := parseMetadata(c.Metadata, md); rerr != nil {
		s.jsonServerError(w, r, "decode stored metadata", rerr)
		return
	}
	s.writeClientInformation(w, r, c, md, http.StatusOK)
}

// updateRegistration serves RFC 7592 §2.2 client update: the body replaces
// the client's metadata. The authentication method cannot change between
// public and confidential, and the secret is never changed here.
func (s *Server) updateRegistration(w http.ResponseWriter, r *http.Request) {
	c, rerr := s.managedClient(r)
	if rerr != nil {
		writeRegistrationError(w, r, rerr)
		return
	}
	body := &metadataWithID{}
	rerr = decodeMetadata(w, r, body)
	if rerr == nil && body.ClientID != c.ID {
		rerr = invalidMetadata("client_id in the body must equal the client being updated")
	}
	if rerr == nil && body.ClientSecret != "" && s.hasher.Compare(r.Context(), c.SecretHash, []byte(body.ClientSecret)) != nil {
		rerr = invalidMetadata("client_secret does not match the registered secret")
	}
	md := &body.clientMetadata
	if rerr == nil {
		rerr = s.normalizeMetadata(md)
	}
	if rerr == nil && (md.TokenEndpointAuthMethod == authMethodNone) != (c.TokenEndpointAuthMethod == authMethodNone) {
		rerr = invalidMetadata("token_endpoint_auth_method cannot change between none and a secret-based method; register a new client instead")
	}
	if rerr != nil {
		writeRegistrationError(w, r, rerr)
		return
	}
	if err := s.applyMetadata(r, &c, md, "", ""); err != nil {
		s.jsonServerError(w, r, "update client", err)
		return
	}
	c.UpdatedAt = s.now().UTC().Truncate(time.Second)
	defer s.clients.drop(c.ID)
	if err := s.store.UpdateClient(r.Context(), c); err != nil {
		s.jsonServerError(w, r, "update client", err)
		return
	}
	s.logger(r).Info("client registration updated", "client_id", c.ID)
	s.writeClientInformation(w, r, c, md, http.StatusOK)
}

// deleteRegistration serves RFC 7592 §2.3 client delete: the client goes
// with its consents and tokens.
func (s *Server) deleteRegistration(w http.ResponseWriter, r *http.Request) {
	c, rerr := s.managedClient(r)
	if rerr != nil {
		writeRegistrationError(w, r, rerr)
		return
	}
	s.verified.dropClient(c.ID)
	defer s.verified.dropClient(c.ID) // and again once it is gone
	defer s.clients.drop(c.ID)
	if err := s.store.DeleteClient(r.Context(), c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.jsonServerError(w, r, "delete client", err)
		return
	}
	s.logger(r).Info("client registration deleted", "client_id", c.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// writeClientInformation answers with the client information response. A
// fresh registration access token replaces the old one on every response
// (RFC 7592 §3 allows it), because only its hash is stored.
func (s *Server) writeClientInformation(w http.ResponseWriter, r *http.Request, c storage.Client, md *clientMetadata, status int) {
	tok := randomToken(32)
	hash, err := s.hasher.Hash(r.Context(), []byte(tok))
	if err != nil {
		s.jsonServerError(w, r, "hash registration token", err)
		return
	}
	c.RegistrationTokenHash = hash
	defer s.clients.drop(c.ID)
	if err := s.store.UpdateClient(r.Context(), c); err != nil {
		s.jsonServerError(w, r, "rotate registration token", err)
		return
	}
	resp := registrationResponse{
		ClientID:                c.ID,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RegistrationAccessToken: tok,
		RegistrationClientURI:   s.issuer + "/register/" + c.ID,
		clientMetadata:          *md,
	}
	if c.TokenEndpointAuthMethod != authMethodNone {
		zero := int64(0)
		resp.ClientSecretExpiresAt = &zero
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, status, "application/json", resp)
}

// metadataWithID is an RFC 7592 update body.
type metadataWithID struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	clientMetadata
}

// SweepClients removes dynamically registered clients that hold no live
// grant and were never used within neverUsed of registering, or not used
// within unused. It returns the IDs removed.
func (s *Server) SweepClients(ctx context.Context, neverUsed, unused time.Duration) ([]string, error) {
	now := s.now()
	ids, err := s.store.DeleteUnusedClients(ctx, storage.SourceDCR, now.Add(-neverUsed), now.Add(-unused), now)
	for _, id := range ids {
		s.clients.drop(id)
		s.verified.dropClient(id)
		s.audit(nil, AuditClientSwept, "", id, "success", "unused dynamically registered client removed")
	}
	return ids, err
}
