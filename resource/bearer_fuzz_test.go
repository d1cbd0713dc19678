package resource

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzBearerToken parses arbitrary Authorization headers: never a panic,
// and an accepted token never holds whitespace.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc", "Basic x", "Bearer", "Bearer a b", "Bearer\ta"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest(http.MethodPost, "http://localhost/mcp", nil)
		r.Header.Set("Authorization", header)
		tok, status := bearerToken(r)
		if status == tokenOK && (tok == "" || strings.ContainsAny(tok, " \t\r\n")) {
			t.Fatalf("header %q gave token %q", header, tok)
		}
	})
}
