package cimd

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The documents VS Code and Claude Code publish, as captured in
// spec-and-clients.md §2.
const (
	vsCodeID  = "https://vscode.dev/oauth/client-metadata.json"
	vsCodeDoc = `{"client_id":"https://vscode.dev/oauth/client-metadata.json","client_name":"Visual Studio Code",
 "redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],
 "grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],
 "response_types":["code"],"token_endpoint_auth_method":"none","application_type":"native",
 "client_uri":"https://code.visualstudio.com"}`
	claudeID  = "https://claude.ai/oauth/claude-code-client-metadata"
	claudeDoc = `{"client_id":"https://claude.ai/oauth/claude-code-client-metadata","client_name":"Claude Code",
 "redirect_uris":["http://localhost/callback","http://127.0.0.1/callback"],
 "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`
)

func TestParseAccepts(t *testing.T) {
	const id = "https://app.example/client.json"
	tests := []struct {
		name, id, body string
		want           Document
	}{
		{
			name: "vs code, device_code ignored",
			id:   vsCodeID,
			body: vsCodeDoc,
			want: Document{
				ClientID:                vsCodeID,
				ClientName:              "Visual Studio Code",
				ClientURI:               "https://code.visualstudio.com",
				RedirectURIs:            []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
				ApplicationType:         "native",
			},
		},
		{
			name: "claude code",
			id:   claudeID,
			body: claudeDoc,
			want: Document{
				ClientID:                claudeID,
				ClientName:              "Claude Code",
				RedirectURIs:            []string{"http://localhost/callback", "http://127.0.0.1/callback"},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		{
			name: "minimal document gets defaults",
			id:   id,
			body: `{"client_id":"https://app.example/client.json","redirect_uris":["https://app.example/cb"]}`,
			want: Document{
				ClientID:                id,
				RedirectURIs:            []string{"https://app.example/cb"},
				GrantTypes:              []string{"authorization_code"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		{
			name: "nulls are absent; unknown members ignored",
			id:   id,
			body: `{"client_id":"https://app.example/client.json","redirect_uris":["https://app.example/cb"],
				"client_name":null,"grant_types":null,"token_endpoint_auth_method":null,"jwks_uri":"https://x/j","x":[1,{}]}`,
			want: Document{
				ClientID:                id,
				RedirectURIs:            []string{"https://app.example/cb"},
				GrantTypes:              []string{"authorization_code"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		{
			name: "every kept field; duplicates and unsupported types dropped",
			id:   id,
			body: `{"client_id":"https:\/\/app.example\/client.json","client_name":"App","client_uri":"https://app.example",
				"logo_uri":"https://app.example/logo.png","redirect_uris":["com.example.app:/cb","http://[::1]/cb"],
				"grant_types":["refresh_token","implicit","authorization_code","refresh_token"],
				"response_types":["token","code"],"application_type":"web","scope":"weather:read"}`,
			want: Document{
				ClientID:                id,
				ClientName:              "App",
				ClientURI:               "https://app.example",
				LogoURI:                 "https://app.example/logo.png",
				RedirectURIs:            []string{"com.example.app:/cb", "http://[::1]/cb"},
				GrantTypes:              []string{"refresh_token", "authorization_code"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
				ApplicationType:         "web",
				Scope:                   "weather:read",
			},
		},
		{
			name: "non-https client and logo URIs dropped",
			id:   id,
			body: `{"client_id":"https://app.example/client.json","redirect_uris":["https://app.example/cb"],
				"client_uri":"javascript:alert(1)","logo_uri":"http://app.example/logo.png"}`,
			want: Document{
				ClientID:                id,
				RedirectURIs:            []string{"https://app.example/cb"},
				GrantTypes:              []string{"authorization_code"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		{
			name: "surrounding whitespace",
			id:   id,
			body: "\n {\"client_id\":\"https://app.example/client.json\",\"redirect_uris\":[\"https://app.example/cb\"]}\n",
			want: Document{
				ClientID:                id,
				RedirectURIs:            []string{"https://app.example/cb"},
				GrantTypes:              []string{"authorization_code"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.id, []byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.Raw = []byte(tt.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	const id = "https://app.example/client.json"
	// doc returns a document for id with the given members after client_id.
	doc := func(members string) string {
		return `{"client_id":"https://app.example/client.json"` + members + `}`
	}
	const cb = `,"redirect_uris":["https://app.example/cb"]`
	tests := []struct {
		name, id, body string
		kind           Kind
		want           string
	}{
		{"invalid client id URL", "https://app.example/", doc(cb), KindInvalidURL, "must not be just /"},
		{"empty body", id, ``, KindNotJSON, "it is empty"},
		{"not json", id, `<html>hi</html>`, KindNotJSON, "invalid character"},
		{"array", id, `[` + doc(cb) + `]`, KindNotJSON, "it is a JSON array"},
		{"string", id, `"https://app.example/client.json"`, KindNotJSON, "it is a JSON string"},
		{"null", id, `null`, KindNotJSON, "it is a JSON null"},
		{"truncated", id, `{"client_id":"https://app.example/client.json"`, KindNotJSON, "not a JSON object"},
		{"trailing data", id, doc(cb) + `{}`, KindNotJSON, "data after the JSON object"},
		{"trailing garbage", id, doc(cb) + `x`, KindNotJSON, "data after the JSON object"},
		{"invalid utf-8", id, doc(cb + `,"client_name":"` + "\xff" + `"`), KindNotJSON, "not valid UTF-8"},
		{"duplicate client_id", id, doc(cb + `,"client_id":"https://evil.example/x"`), KindInvalidMetadata, `"client_id" more than once`},
		{"no client_id", id, `{"redirect_uris":["https://app.example/cb"]}`, KindInvalidMetadata, "has no client_id"},
		{"client_id differs only in case of member name", id, `{"CLIENT_ID":"https://app.example/client.json"` + cb + `}`, KindInvalidMetadata, "has no client_id"},
		{"client_id not a string", id, `{"client_id":1` + cb + `}`, KindInvalidMetadata, "client_id must be a string"},
		{"client_id mismatch", id, `{"client_id":"https://evil.example/client.json"` + cb + `}`, KindMismatch,
			`says client_id "https://evil.example/client.json"; it must be exactly the document's URL, "https://app.example/client.json"`},
		{"client_id trailing slash", id, `{"client_id":"https://app.example/client.json/"` + cb + `}`, KindMismatch, "must be exactly the document's URL"},
		{"client_id case differs", id, `{"client_id":"https://APP.example/client.json"` + cb + `}`, KindMismatch, "must be exactly the document's URL"},
		{"client_secret", id, doc(cb + `,"client_secret":"s3cret"`), KindInvalidMetadata, "contains client_secret"},
		{"client_secret null", id, doc(cb + `,"client_secret":null`), KindInvalidMetadata, "contains client_secret"},
		{"client_secret_expires_at", id, doc(cb + `,"client_secret_expires_at":0`), KindInvalidMetadata, "contains client_secret_expires_at"},
		{"client_secret_basic", id, doc(cb + `,"token_endpoint_auth_method":"client_secret_basic"`), KindInvalidMetadata, "client_secret_basic, a shared-secret method"},
		{"client_secret_post", id, doc(cb + `,"token_endpoint_auth_method":"client_secret_post"`), KindInvalidMetadata, "shared-secret method"},
		{"client_secret_jwt", id, doc(cb + `,"token_endpoint_auth_method":"client_secret_jwt"`), KindInvalidMetadata, "shared-secret method"},
		{"private_key_jwt", id, doc(cb + `,"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks"`), KindInvalidMetadata, "private_key_jwt, which tenantless does not support"},
		{"tls_client_auth", id, doc(cb + `,"token_endpoint_auth_method":"tls_client_auth"`), KindInvalidMetadata, `"tls_client_auth" is not supported`},
		{"auth method not a string", id, doc(cb + `,"token_endpoint_auth_method":["none"]`), KindInvalidMetadata, "must be a string"},
		{"no redirect_uris", id, doc(``), KindInvalidMetadata, "redirect_uris is missing or empty"},
		{"empty redirect_uris", id, doc(`,"redirect_uris":[]`), KindInvalidMetadata, "redirect_uris is missing or empty"},
		{"redirect_uris a string", id, doc(`,"redirect_uris":"https://app.example/cb"`), KindInvalidMetadata, "must be an array of strings"},
		{"redirect_uris with a number", id, doc(`,"redirect_uris":["https://app.example/cb",1]`), KindInvalidMetadata, "must be an array of strings"},
		{"javascript redirect", id, doc(`,"redirect_uris":["javascript:alert(1)"]`), KindInvalidMetadata, `scheme "javascript" is not allowed`},
		{"data redirect", id, doc(`,"redirect_uris":["data:text/html,hi"]`), KindInvalidMetadata, `scheme "data" is not allowed`},
		{"file redirect", id, doc(`,"redirect_uris":["file:///etc/passwd"]`), KindInvalidMetadata, `scheme "file" is not allowed`},
		{"http on a public host", id, doc(`,"redirect_uris":["http://evil.example/cb"]`), KindInvalidMetadata, "http is allowed only for loopback"},
		{"dotless custom scheme", id, doc(`,"redirect_uris":["myapp:/cb"]`), KindInvalidMetadata, "reverse-domain private-use scheme"},
		{"redirect fragment", id, doc(`,"redirect_uris":["https://app.example/cb#x"]`), KindInvalidMetadata, "fragment"},
		{"redirect userinfo", id, doc(`,"redirect_uris":["https://u:p@app.example/cb"]`), KindInvalidMetadata, "user information"},
		{"relative redirect", id, doc(`,"redirect_uris":["/cb"]`), KindInvalidMetadata, "absolute URI"},
		{"https redirect without host", id, doc(`,"redirect_uris":["https:/cb"]`), KindInvalidMetadata, "needs a host"},
		{"second redirect bad", id, doc(`,"redirect_uris":["https://app.example/cb","javascript:x"]`), KindInvalidMetadata, "redirect_uris[1]"},
		{"grant types without authorization_code", id, doc(cb + `,"grant_types":["urn:ietf:params:oauth:grant-type:device_code"]`), KindInvalidMetadata, "does not include authorization_code"},
		{"empty grant types", id, doc(cb + `,"grant_types":[]`), KindInvalidMetadata, "does not include authorization_code"},
		{"grant types not strings", id, doc(cb + `,"grant_types":"authorization_code"`), KindInvalidMetadata, "grant_types must be an array of strings"},
		{"response types without code", id, doc(cb + `,"response_types":["token"]`), KindInvalidMetadata, "does not include code"},
		{"client_name not a string", id, doc(cb + `,"client_name":{"en":"App"}`), KindInvalidMetadata, "client_name must be a string"},
		{"scope not a string", id, doc(cb + `,"scope":["a"]`), KindInvalidMetadata, "scope must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.id, []byte(tt.body))
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if e.Kind != tt.kind {
				t.Errorf("kind: got %v, want %v (%v)", e.Kind, tt.kind, e)
			}
			if !strings.Contains(e.Error(), tt.want) {
				t.Errorf("message: got %q, want it to contain %q", e.Error(), tt.want)
			}
			if e.ClientID != tt.id {
				t.Errorf("ClientID: got %q, want %q", e.ClientID, tt.id)
			}
		})
	}
}
