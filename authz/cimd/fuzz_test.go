package cimd

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tenantless/tenantless/authz/redirecturi"
)

func FuzzParse(f *testing.F) {
	f.Add(vsCodeID, []byte(vsCodeDoc))
	f.Add(claudeID, []byte(claudeDoc))
	f.Add("https://app.example/c", []byte(`{"client_id":"https://app.example/c","redirect_uris":["com.example.app:/cb"],"grant_types":["refresh_token","authorization_code"]}`))
	f.Add("https://app.example/c", []byte(`{"client_id":"https://app.example/c","client_id":"x"}`))
	f.Add("https://app.example/c", []byte(`[{"client_id":"https://app.example/c"}]`))
	f.Add("https://app.example/c", []byte(`{"client_id":"https://app.example/c","redirect_uris":["http://[::1]:0/#"],"client_secret":null}`))
	f.Add("https://app.example/c", []byte("{\"client_id\":\"\xff\"}"))
	f.Add("https://app.example/./c", []byte(`{}`))
	f.Fuzz(func(t *testing.T, clientID string, body []byte) {
		d, err := Parse(clientID, body)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Kind == 0 || e.Msg == "" || e.ClientID != clientID {
				t.Fatalf("Parse error %#v is not a complete *Error", err)
			}
			return
		}
		if ValidateURL(clientID) != nil {
			t.Errorf("Parse accepted client_id %q that ValidateURL refuses", clientID)
		}
		if d.ClientID != clientID {
			t.Errorf("ClientID: got %q, want %q", d.ClientID, clientID)
		}
		if len(d.RedirectURIs) == 0 {
			t.Errorf("accepted a document without redirect URIs")
		}
		for _, u := range d.RedirectURIs {
			if err := redirecturi.Validate(u); err != nil {
				t.Errorf("accepted redirect URI %q: %v", u, err)
			}
		}
		if d.TokenEndpointAuthMethod != "none" {
			t.Errorf("TokenEndpointAuthMethod: got %q, want none", d.TokenEndpointAuthMethod)
		}
		if !slices.Contains(d.GrantTypes, "authorization_code") {
			t.Errorf("GrantTypes %q lack authorization_code", d.GrantTypes)
		}
		for _, g := range d.GrantTypes {
			if g != "authorization_code" && g != "refresh_token" {
				t.Errorf("GrantTypes kept %q", g)
			}
		}
		if !slices.Equal(d.ResponseTypes, []string{"code"}) {
			t.Errorf("ResponseTypes: got %q, want [code]", d.ResponseTypes)
		}
		for _, u := range []string{d.ClientURI, d.LogoURI} {
			if u != "" && !strings.HasPrefix(u, "https:") {
				t.Errorf("kept non-https URI %q", u)
			}
		}
	})
}

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{
		vsCodeID, claudeID, "https://127.0.0.1:8443/x", "https://[::ffff:127.0.0.1]/x",
		"https://example.com/%2e%2e/x", "https://u@h/x", "https://h:0/x", "https://0x7f.1/x",
		"https://h/x?q", "https://h/x#f", "https://h/", "https://", "http://h/x", "https://[::1%25lo]/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateURL(id)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); !ok || e.Kind != KindInvalidURL || e.Msg == "" {
				t.Fatalf("ValidateURL(%q) error %#v is not a KindInvalidURL *Error", id, err)
			}
			return
		}
		if !IsClientIDURL(id) {
			t.Errorf("ValidateURL accepted %q, which IsClientIDURL rejects", id)
		}
		u, perr := url.Parse(id)
		if perr != nil {
			t.Fatalf("ValidateURL accepted %q, which url.Parse rejects: %v", id, perr)
		}
		switch {
		case u.Scheme != "https":
			t.Errorf("accepted scheme %q", u.Scheme)
		case u.Hostname() == "":
			t.Errorf("accepted %q without a host", id)
		case u.User != nil:
			t.Errorf("accepted %q with userinfo", id)
		case u.RawQuery != "" || u.ForceQuery || strings.Contains(id, "?"):
			t.Errorf("accepted %q with a query", id)
		case u.Fragment != "" || strings.Contains(id, "#"):
			t.Errorf("accepted %q with a fragment", id)
		case u.Path == "" || u.Path == "/":
			t.Errorf("accepted %q with path %q", id, u.Path)
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Errorf("accepted %q with a dot segment", id)
			}
		}
		if hostPort(u) == "" {
			t.Errorf("no host:port for %q", id)
		}
	})
}
