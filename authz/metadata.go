package authz

import (
	"net/http"
)

// Metadata is the RFC 8414 authorization server metadata document. The
// same document, which also carries the fields OpenID Connect Discovery
// requires, is served at /.well-known/openid-configuration because
// clients try both.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported,omitempty"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
}

// Metadata returns the server's metadata document.
func (s *Server) Metadata() Metadata {
	m := Metadata{
		Issuer:                                     s.issuer,
		AuthorizationEndpoint:                      s.issuer + "/authorize",
		TokenEndpoint:                              s.issuer + "/token",
		JWKSURI:                                    s.issuer + "/jwks.json",
		RevocationEndpoint:                         s.issuer + "/revoke",
		IntrospectionEndpoint:                      s.issuer + "/introspect",
		ScopesSupported:                            s.registry.scopeNames(),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{grantAuthorizationCode, grantRefreshToken},
		TokenEndpointAuthMethodsSupported:          []string{authMethodNone, authMethodBasic, authMethodPost},
		RevocationEndpointAuthMethodsSupported:     []string{authMethodNone, authMethodBasic, authMethodPost},
		IntrospectionEndpointAuthMethodsSupported:  []string{authMethodBasic},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{s.signingAlg},
		PromptValuesSupported:                      []string{"none", "consent"},
	}
	m.ClientIDMetadataDocumentSupported = s.cimd != nil
	if s.registration != RegistrationOff {
		m.RegistrationEndpoint = s.issuer + "/register"
	}
	return m
}

// metadata serves RFC 8414 §3 metadata.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, r, http.StatusOK, "application/json", s.Metadata())
}
