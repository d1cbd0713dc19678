package resource

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzBearerToken parses arbitrary Authorization headers: never a panic,
// and an accepted token is never empty, never holds whitespace and is a
// b64token.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc", "Basic x", "Bearer", "Bearer a b", "Bearer\ta", "Bearer ===", "Bearer a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest(http.MethodPost, "http://localhost/mcp", nil)
		r.Header.Set("Authorization", header)
		tok, err := BearerToken(r)
		if err == nil && (tok == "" || strings.ContainsAny(tok, " \t\r\n") || !isB64Token(tok)) {
			t.Fatalf("header %q gave token %q", header, tok)
		}
	})
}
