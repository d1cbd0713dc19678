package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// normalize replaces what changes from run to run (times, the server's
// port, token values) so that --json output can be compared with golden
// files.
func normalize(out, base string) string {
	_, port, _ := strings.Cut(strings.TrimPrefix(base, "http://"), ":")
	out = strings.ReplaceAll(out, ":"+port+"/", ":PORT/")
	out = strings.ReplaceAll(out, ":"+port+`"`, `:PORT"`)
	out = regexp.MustCompile(`"(created_at|expires_at)": "[^"]*"`).ReplaceAllString(out, `"$1": "TIME"`)
	out = regexp.MustCompile(`"(access_token|jti|kid|sub)": "[^"]*"`).ReplaceAllString(out, `"$1": "VALUE"`)
	return out
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(bytes.TrimSpace(want)), strings.TrimSpace(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, d)
	}
}

// TestResourceCLI checks the JSON of the resource and token commands
// against golden files (the documented, stable format) and their errors.
func TestResourceCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	srv.stop() // the built-in resource is recorded; the CLI works without a server

	const notes = "http://127.0.0.1:9000/mcp"
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"resource_add.golden.json", []string{"resource", "add", "HTTP://127.0.0.1:9000/mcp", "--scopes", "notes:read notes:write notes:read", "--name", "Notes", "--description", "Your notes",
			"--scope-description", "notes:read=Read your notes, all of them"}},
		{"resource_list.golden.json", []string{"resource", "list"}},
		{"resource_show.golden.json", []string{"resource", "show", notes}},
		{"resource_show_builtin.golden.json", []string{"resource", "show", strings.Replace(srv.base, "localhost", "127.0.0.1", 1) + "/mcp"}},
		{"token.golden.json", []string{"token", "--user", "admin", "--resource", notes, "--scope", "notes:read", "--ttl", "5m"}},
		{"resource_delete.golden.json", []string{"resource", "delete", notes, "--revoke"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			checkGolden(t, tc.golden, normalize(cli(t, "", append(tc.args, "--db", db, "--json")...), srv.base))
		})
	}

	cli(t, "", "resource", "add", notes, "--scopes", "notes:read", "--db", db)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"add without scopes", []string{"resource", "add", "http://127.0.0.1:9001/mcp"}, 2, "resource add needs --scopes"},
		{"add a taken URL", []string{"resource", "add", notes, "--scopes", "other:read"}, 1, "is already registered"},
		{"add a taken scope", []string{"resource", "add", "http://127.0.0.1:9001/mcp", "--scopes", "weather:read"}, 1, `scope "weather:read" already belongs to resource ` + srv.base + "/mcp"},
		{"add a fragment", []string{"resource", "add", "http://127.0.0.1:9001/mcp#x", "--scopes", "x:read"}, 1, "must not contain a fragment"},
		{"add a relative URL", []string{"resource", "add", "/mcp", "--scopes", "x:read"}, 1, "must be an absolute URI"},
		{"add a description of no scope", []string{"resource", "add", "http://127.0.0.1:9001/mcp", "--scopes", "x:read", "--scope-description", "y:read=Y"}, 1, `not one of the scopes`},
		{"add a bad scope description", []string{"resource", "add", "http://127.0.0.1:9001/mcp", "--scopes", "x:read", "--scope-description", "x:read"}, 2, "use SCOPE=TEXT"},
		{"add a bad scope", []string{"resource", "add", "http://127.0.0.1:9001/mcp", "--scopes", `a"b`}, 1, "not a valid scope token"},
		{"show unknown", []string{"resource", "show", "http://127.0.0.1:9001/mcp"}, 1, "no resource http://127.0.0.1:9001/mcp is registered"},
		{"delete the built-in", []string{"resource", "delete", srv.base + "/mcp"}, 1, "cannot be deleted"},
		{"token for a scope of another resource", []string{"token", "--user", "admin", "--resource", notes, "--scope", "weather:read"}, 1, `scope "weather:read" is not a scope of ` + notes},
		{"token for an unknown user", []string{"token", "--user", "nobody", "--resource", notes}, 1, `no user "nobody"`},
		{"token too long-lived", []string{"token", "--user", "admin", "--resource", notes, "--ttl", "48h"}, 1, "between 1s and 24h"},
		{"token without a resource", []string{"token", "--user", "admin"}, 2, "needs --user and --resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEnv(nil)
			code := run(t.Context(), append(tc.args, "--db", db), e)
			if stderr := e.Stderr.(*syncBuffer).String(); code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
	out := cli(t, "", "audit", "--db", db)
	for _, want := range []string{"resource.added", "resource.deleted", "token.issued"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %s:\n%s", want, out)
		}
	}
}
