package main

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// TestGoSDKClientMetadataDocument runs the go-sdk client with a client ID
// metadata document served by a local https server, trusted by the server
// through --cimd-ca and exempted from the address guard with
// --cimd-allow-host (no check is weakened for anything else).
func TestGoSDKClientMetadataDocument(t *testing.T) {
	redirect := "http://127.0.0.1:43124/callback"
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"client_id":"` + docURL + `","client_name":"go-sdk CIMD e2e","redirect_uris":["` + redirect + `"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`))
	}))
	defer docs.Close()
	docURL = docs.URL + "/client.json"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--cimd-ca", ca, "--cimd-allow-host", strings.TrimPrefix(docs.URL, "https://"))

	b := browser.New(srv.base)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docURL},
		RedirectURL:                    redirect,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, _, err := b.Authorize(args.URL, "admin", adminPassword, "allow")
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "0"}, nil).
		Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: srv.base + "/mcp", OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"latitude": 52.52, "longitude": 13.405}})
	if err != nil || res.IsError {
		t.Fatalf("get_forecast: %v %v", err, res)
	}
	if out := cli(t, "", "client", "list", "--db", db); !strings.Contains(out, docURL) || !strings.Contains(out, "cimd") {
		t.Errorf("client list lacks the metadata-document client:\n%s", out)
	}
}

// TestOfflineMetadataDocument pre-registers VS Code's metadata document
// from a local copy, as on a machine without internet, and signs in with
// it: the document URL is never fetched.
func TestOfflineMetadataDocument(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tenantless.db")
	doc := filepath.Join(dir, "vscode.json")
	const id = "https://vscode.dev/oauth/client-metadata.json"
	if err := os.WriteFile(doc, []byte(`{"client_id":"`+id+`","client_name":"Visual Studio Code",
	 "redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],
	 "grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],
	 "response_types":["code"],"token_endpoint_auth_method":"none","application_type":"native"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli(t, "", "client", "add", "--db", db, "--metadata-url", id, "--from-file", doc)
	if !strings.Contains(out, id) {
		t.Fatalf("client add printed %q", out)
	}
	srv := startServer(t, db, "--weather", "offline")
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1:50999/"},
		"state": {"c3RhdGUrLz0="}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"resource": {srv.base + "/mcp"}}
	loc, shown, err := browser.New(srv.base).Authorize(srv.base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if !shown || loc.Query().Get("code") == "" || loc.Query().Get("state") != "c3RhdGUrLz0=" {
		t.Fatalf("consent shown %v, redirect %s", shown, loc)
	}
	status, tok, _ := postForm(t, srv.base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {"http://127.0.0.1:50999/"}, "client_id": {id}, "resource": {srv.base + "/mcp"}}, "", "")
	if status != 200 || tok.RefreshToken == "" {
		t.Fatalf("token: %d %+v", status, tok)
	}
}
