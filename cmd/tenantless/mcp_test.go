package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/tenantless/tenantless/e2e/browser"
)

// goSDKHandler is the go-sdk client's OAuth handler, registering with
// DCR and playing the person in a cookie-jar browser. It counts the
// consent pages it saw.
func goSDKHandler(t *testing.T, base string, dcr bool, clientID string) (*auth.AuthorizationCodeHandler, *int) {
	t.Helper()
	b := browser.New(base)
	consents := new(int)
	redirect := "http://127.0.0.1:43123/callback"
	cfg := &auth.AuthorizationCodeHandlerConfig{
		RedirectURL: redirect,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, shown, err := b.Authorize(args.URL, "admin", adminPassword, "allow")
			if err != nil {
				return nil, err
			}
			if shown {
				*consents++
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
		RequestRefreshToken: true,
	}
	if dcr {
		cfg.DynamicClientRegistrationConfig = &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "go-sdk e2e", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"},
		}}
	} else {
		cfg.PreregisteredClient = &oauthex.ClientCredentials{ClientID: clientID}
	}
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, consents
}

// TestGoSDKClient drives the go-sdk MCP client from a bare URL: 401,
// discovery, registration, sign-in and consent, token exchange with
// resource, tools/list, get_forecast, then silent refreshes (the access
// token lives 5 s, inside x/oauth2's 10 s early-refresh window, so every
// call refreshes and rotates).
func TestGoSDKClient(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--access-token-ttl", "5s")
	pre := addClient(t, db, "--name", "pre-registered", "--redirect-uri", "http://127.0.0.1/callback")
	for _, tc := range []struct {
		name     string
		dcr      bool
		endpoint string
	}{
		{"dynamic registration", true, srv.base + "/mcp"},
		{"pre-registered client", false, srv.base + "/mcp"},
		{"127.0.0.1 spelling", true, strings.Replace(srv.base, "localhost", "127.0.0.1", 1) + "/mcp"},
		{"seed article path", true, srv.base + "/mcp/stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			h, consents := goSDKHandler(t, srv.base, tc.dcr, pre.ClientID)
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "0"}, nil).
				Connect(ctx, &mcp.StreamableClientTransport{Endpoint: tc.endpoint, OAuthHandler: h}, nil)
			if err != nil {
				t.Fatalf("connect to %s: %v", tc.endpoint, err)
			}
			defer cs.Close()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			if strings.Join(names, ",") != "get_alerts,get_forecast" && strings.Join(names, ",") != "get_forecast,get_alerts" {
				t.Errorf("tools %v, want get_forecast and get_alerts", names)
			}
			ts, err := h.TokenSource(ctx)
			if err != nil {
				t.Fatal(err)
			}
			first, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"latitude": 47.6062, "longitude": -122.3321}})
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if res.IsError || res.StructuredContent == nil {
					t.Fatalf("call %d: isError %v, structured %v, content %v", i, res.IsError, res.StructuredContent, res.Content)
				}
			}
			last, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			if last.AccessToken == first.AccessToken || last.RefreshToken == first.RefreshToken {
				t.Error("no silent refresh: the access and refresh tokens did not change")
			}
			if *consents != 1 {
				t.Errorf("consent pages %d, want 1 for a new client", *consents)
			}
			// get_alerts needs weather:alerts, which the first sign-in (for
			// the challenged weather:read) did not ask for: 403
			// insufficient_scope, the client steps up, the user consents to
			// the wider scope, and the call goes through.
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_alerts", Arguments: map[string]any{"state": "WA"}})
			if err != nil {
				t.Fatalf("get_alerts with step-up: %v", err)
			}
			if res.IsError {
				t.Fatalf("get_alerts: %v", res.Content)
			}
			if *consents != 2 {
				t.Errorf("consent pages %d after step-up, want 2", *consents)
			}
		})
	}
}
