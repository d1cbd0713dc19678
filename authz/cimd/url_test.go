package cimd

import (
	"errors"
	"strings"
	"testing"
)

func TestIsClientIDURL(t *testing.T) {
	tests := []struct {
		name, id string
		want     bool
	}{
		{"https URL", "https://vscode.dev/oauth/client-metadata.json", true},
		{"bare prefix", "https://", true},
		{"generated id", "dcr_abc123", false},
		{"http URL", "http://localhost/client.json", false},
		{"upper-case scheme", "HTTPS://vscode.dev/x", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsClientIDURL(tt.id); got != tt.want {
				t.Errorf("IsClientIDURL(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestValidateURLAccepts(t *testing.T) {
	tests := []struct{ name, id string }{
		{"vs code", "https://vscode.dev/oauth/client-metadata.json"},
		{"claude code", "https://claude.ai/oauth/claude-code-client-metadata"},
		{"port", "https://example.com:8443/client.json"},
		{"ipv4 literal", "https://127.0.0.1:8443/x"},
		{"ipv6 literal", "https://[::1]:8443/x"},
		{"ipv4-mapped literal", "https://[::ffff:127.0.0.1]/x"},
		{"trailing slash", "https://example.com/a/b/"},
		{"dot-prefixed segment", "https://example.com/.well-known/client"},
		{"three dots", "https://example.com/.../x"},
		{"percent-encoded space", "https://example.com/a%20b"},
		{"mixed-case host", "https://Example.COM/x"},
		{"hex-looking but not a number", "https://a.0xzz/x"},
		{"digits inside labels", "https://123.example/x"},
		{"underscore and hyphen", "https://my_app-1.example.com/x"},
		{"sub-delims in path", "https://example.com/a;b=c,d!$&'()*+"},
		{"empty segment", "https://example.com//x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateURL(tt.id); err != nil {
				t.Errorf("ValidateURL(%q) = %v, want nil", tt.id, err)
			}
		})
	}
}

func TestValidateURLRejects(t *testing.T) {
	tests := []struct {
		name, id string
		want     string // a fragment of the message
	}{
		{"empty", "", "must start with https://"},
		{"http", "http://example.com/x", "must start with https://"},
		{"upper-case scheme", "HTTPS://example.com/x", "must start with https://"},
		{"no path", "https://example.com", "needs a path"},
		{"root path", "https://example.com/", "must not be just /"},
		{"fragment", "https://example.com/x#f", "fragment"},
		{"empty fragment", "https://example.com/x#", "fragment"},
		{"query", "https://example.com/x?a=b", "query"},
		{"empty query", "https://example.com/x?", "query"},
		{"user", "https://user@example.com/x", "user name or password"},
		{"user and password", "https://user:pw@example.com/x", "user name or password"},
		{"empty userinfo", "https://@example.com/x", "user name or password"},
		{"no host", "https:///x", "needs a host"},
		{"port without host", "https://:443/x", "needs a host"},
		{"empty port", "https://example.com:/x", "port is empty"},
		{"port zero", "https://example.com:0/x", "between 1 and 65535"},
		{"port too big", "https://example.com:65536/x", "between 1 and 65535"},
		{"port not a number", "https://example.com:8x/x", "does not parse"},
		{"dot segment", "https://example.com/./x", ". or .. segments"},
		{"dot-dot segment", "https://example.com/a/../x", ". or .. segments"},
		{"trailing dot-dot", "https://example.com/a/..", ". or .. segments"},
		{"encoded dot-dot", "https://example.com/%2e%2e/x", ". or .. segments"},
		{"encoded upper-case dot", "https://example.com/%2E/x", ". or .. segments"},
		{"half-encoded dot-dot", "https://example.com/.%2e/x", ". or .. segments"},
		{"encoded slash", "https://example.com/a%2F..%2Fb", "encoded slash"},
		{"encoded slash before encoded dot", "https://example.com/%2f%2e", "encoded slash"},
		{"encoded backslash", "https://example.com/a%5c..%5cb", "encoded slash or backslash"},
		{"percent-encoded host", "https://ex%61mple.com/x", "percent-encoded"},
		{"space", "https://example.com/a b", "may not contain"},
		{"backslash", `https://example.com/a\..\b`, "may not contain"},
		{"control character", "https://example.com/\x00", "may not contain"},
		{"non-ascii host", "https://exämple.com/x", "may not contain"},
		{"bad escape", "https://example.com/%zz", "does not parse"},
		{"empty label", "https://exa..mple.com/x", "empty label"},
		{"trailing dot", "https://example.com./x", "empty label"},
		{"invalid host character", "https://exa!mple.com/x", "only letters, digits"},
		{"decimal ipv4", "https://2130706433/x", "non-standard form"},
		{"hex ipv4", "https://0x7f.1/x", "non-standard form"},
		{"short ipv4", "https://127.1/x", "non-standard form"},
		{"hex ipv4 in one label", "https://0x7f000001/x", "non-standard form"},
		{"bare hex prefix", "https://a.0x/x", "non-standard form"},
		{"numeric top-level label", "https://example.123/x", "non-standard form"},
		{"octal-looking ipv4", "https://0177.0.0.1/x", "non-standard form"},
		{"bracketed ipv4", "https://[127.0.0.1]/x", "does not parse"},
		{"bracketed short ipv6 with zone-like text", "https://[::1x]/x", "does not parse"},
		{"ipv6 zone", "https://[fe80::1%25eth0]/x", "percent-encoded"},
		{"bracketed garbage", "https://[not-v6]/x", "does not parse"},
		{"unbracketed ipv6", "https://::1/x", "does not parse"},
		{"too long", "https://example.com/" + strings.Repeat("a", maxURLLength), "may be at most 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateURL(tt.id)
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("ValidateURL(%q) = %v, want an *Error", tt.id, err)
			}
			if e.Kind != KindInvalidURL {
				t.Errorf("kind: got %v, want %v", e.Kind, KindInvalidURL)
			}
			if !strings.Contains(e.Error(), tt.want) {
				t.Errorf("message: got %q, want it to contain %q", e.Error(), tt.want)
			}
		})
	}
}
