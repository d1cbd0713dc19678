package resource

import (
	"encoding/json"
	"net/http"
	"strings"
)

// metadataPath is the RFC 9728 §3 well-known prefix.
const metadataPath = "/.well-known/oauth-protected-resource"

// ProtectedResourceMetadata is the RFC 9728 §2 document.
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name"`
}

// metadata serves RFC 9728 metadata. Its resource is, byte for byte, the
// MCP URL on the host the client used: /.well-known/oauth-protected-resource/mcp
// describes <origin>/mcp, and the root document describes <origin>/mcp too,
// the URL clients are told to use.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	ServeMetadata(w, r, s.Metadata)
}

// MetadataPath is the RFC 9728 §3 well-known prefix of protected resource
// metadata.
const MetadataPath = metadataPath

// ServeMetadata answers a request for the RFC 9728 document of the MCP
// endpoint named by the path after MetadataPath (Paths[0] for the root
// document), as md describes it, with CORS and caching as every
// tenantless resource serves it. The gateway serves its metadata with it.
func ServeMetadata(w http.ResponseWriter, r *http.Request, md func(r *http.Request, path string) ProtectedResourceMetadata) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Mcp-Protocol-Version, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"use GET"}` + "\n"))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, metadataPath)
	if path == "" || path == "/" {
		path = Paths[0]
	}
	body, _ := json.MarshalIndent(md(r, path), "", "  ")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=60")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(append(body, '\n'))
	}
}

// Metadata returns the protected resource metadata of the MCP endpoint at
// path as seen by request r.
func (s *Server) Metadata(r *http.Request, path string) ProtectedResourceMetadata {
	return ProtectedResourceMetadata{
		Resource:               s.resourceURL(r, path),
		AuthorizationServers:   []string{s.cfg.AuthorizationServer},
		ScopesSupported:        []string{ScopeRead, ScopeAlerts},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           s.cfg.Name,
	}
}
