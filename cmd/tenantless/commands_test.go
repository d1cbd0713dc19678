package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// invocation is one way to run a leaf of the command table (a command
// without subcommands, or one subcommand).
type invocation struct {
	path     []string // "user", "add"
	readOnly bool
	noDB     bool
}

func (i invocation) String() string { return strings.Join(i.path, " ") }

// invocations walks the command table: every command, and every
// subcommand of those that have them. The tests below run each, so a
// command added to the table is tested like the others (and fails
// TestEveryCommandJSON until it has an example there).
func invocations() []invocation {
	var out []invocation
	for _, c := range commands() {
		if len(c.subs) == 0 {
			out = append(out, invocation{path: []string{c.name}, readOnly: c.readOnly, noDB: c.noDB})
			continue
		}
		for _, s := range c.subs {
			out = append(out, invocation{path: []string{c.name, s.name}, readOnly: s.readOnly})
		}
	}
	return out
}

// runCLI runs a command line and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	e := testEnv(nil)
	e.Stdin = strings.NewReader(stdin)
	code := run(t.Context(), args, e)
	return code, e.Stdout.(*syncBuffer).String(), e.Stderr.(*syncBuffer).String()
}

func TestCommandTableMatchesUsage(t *testing.T) {
	for _, c := range commands() {
		if !strings.Contains(mainUsage, "\n  "+c.name) {
			t.Errorf("tenantless --help does not list %q", c.name)
		}
		for _, s := range c.subs {
			if !strings.Contains(mainUsage, s.name) {
				t.Errorf("tenantless --help does not list %s %s", c.name, s.name)
			}
		}
	}
}

// TestEveryCommandHelp: --help (and -h, and "help") exits 0 and prints
// the command's usage on stdout, for every command and subcommand.
func TestEveryCommandHelp(t *testing.T) {
	for _, inv := range invocations() {
		for _, h := range []string{"--help", "-h"} {
			args := append(slices.Clone(inv.path), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, "", args...)
				if code != 0 {
					t.Fatalf("exit %d, want 0; stderr %q", code, errOut)
				}
				if !strings.Contains(out, "Usage:") || !strings.Contains(out, "-json") || !strings.Contains(out, inv.String()) {
					t.Errorf("stdout %q: want the usage text naming %q, with its flags (--json among them)", out, inv)
				}
			})
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"help", "user"}, {"help", "audit"}} {
		if code, out, _ := runCLI(t, "", args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("tenantless %s: exit %d, stdout %q; want 0 and the usage", strings.Join(args, " "), code, out)
		}
	}
}

// TestEveryCommandUnknownFlag: an unknown flag exits 2 with one line that
// names it, for every command and subcommand, and changes nothing.
func TestEveryCommandUnknownFlag(t *testing.T) {
	dir := t.TempDir()
	for _, inv := range invocations() {
		t.Run(inv.String(), func(t *testing.T) {
			db := filepath.Join(dir, strings.Join(inv.path, "-")+".db")
			args := append(slices.Clone(inv.path), "--no-such-flag")
			if !inv.noDB {
				args = append(args, "--db", db)
			}
			code, out, errOut := runCLI(t, "", args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errOut)
			}
			if !strings.Contains(errOut, "--no-such-flag") || strings.Count(errOut, "\n") != 1 || out != "" {
				t.Errorf("stderr %q, stdout %q: want one line naming --no-such-flag and no output", errOut, out)
			}
			if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a usage error created the database %s", db)
			}
		})
	}
}

// TestEveryReadOnlyCommandMissingDB: a command that only reads never
// creates a database; a --db that does not exist exits 1 saying which
// path and how to create it.
func TestEveryReadOnlyCommandMissingDB(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for _, inv := range invocations() {
		if !inv.readOnly {
			continue
		}
		n++
		t.Run(inv.String(), func(t *testing.T) {
			db := filepath.Join(dir, "missing.db")
			args := append(slices.Clone(inv.path), "--db", db)
			switch inv.String() {
			case "client show":
				args = append(args, "static_nothing")
			case "resource show":
				args = append(args, "https://notes.example/mcp")
			}
			code, _, errOut := runCLI(t, "", args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, errOut)
			}
			if !strings.Contains(errOut, db) || !strings.Contains(errOut, "tenantless serve") {
				t.Errorf("stderr %q: want the path and how to create the database (start the server)", errOut)
			}
			matches, _ := filepath.Glob(db + "*")
			if len(matches) != 0 {
				t.Errorf("created %v", matches)
			}
		})
	}
	if n < 7 {
		t.Errorf("only %d read-only commands in the table; user list, client list/show, initial-token list, grant list, audit and keys list are", n)
	}
}

// snakeCase is the one key style of every --json output.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkKeys reports every object key in v that is not snake_case.
func checkKeys(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", where, k)
			}
			checkKeys(t, where+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkKeys(t, where+"[]", x)
		}
	}
}

// TestEveryCommandJSON runs every command with --json against one
// database that has a row of each kind, and checks that each prints one
// JSON document with snake_case keys only (nested ones too).
func TestEveryCommandJSON(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "json", "--redirect-uri", "http://127.0.0.1/callback")
	victim := addClient(t, db, "--name", "to delete", "--redirect-uri", "http://127.0.0.1/callback")
	tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	var grants []grantRow
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--db", db, "--json")), &grants); err != nil || len(grants) != 1 {
		t.Fatalf("grant list --json: %v %v", err, grants)
	}
	var tok initialTokenJSON
	if err := json.Unmarshal([]byte(cli(t, "", "initial-token", "add", "--db", db, "--json")), &tok); err != nil || tok.ID == "" {
		t.Fatalf("initial-token add --json: %v", err)
	}
	cli(t, "pw-for-bob-12345\n", "user", "add", "bob", "--db", db)

	// examples give each leaf of the command table its arguments and stdin;
	// one is missing when a command is added, and the test says so.
	examples := map[string]struct {
		args  []string
		stdin string
	}{
		"user add":             {[]string{"carol"}, "pw-for-carol-123\n"},
		"user list":            {},
		"user passwd":          {[]string{"bob"}, "another-pw-45678\n"},
		"user delete":          {[]string{"bob"}, ""},
		"client add":           {[]string{"--name", "x", "--redirect-uri", "http://127.0.0.1/cb"}, ""},
		"client list":          {},
		"client show":          {[]string{c.ClientID}, ""},
		"client delete":        {[]string{victim.ClientID}, ""},
		"initial-token add":    {[]string{"--note", "ci"}, ""},
		"initial-token list":   {},
		"initial-token delete": {[]string{tok.ID}, ""},
		"grant list":           {},
		"grant revoke":         {[]string{grants[0].GrantID}, ""},
		"audit":                {},
		"keys list":            {},
		"keys rotate":          {},
		"resource add":         {[]string{"https://notes.example/mcp", "--scopes", "notes:read notes:write", "--name", "Notes"}, ""},
		"resource list":        {},
		"resource show":        {[]string{srv.base + "/mcp"}, ""},
		"resource delete":      {[]string{"https://notes.example/mcp", "--revoke"}, ""},
		"token":                {[]string{"--user", "admin", "--resource", srv.base + "/mcp", "--scope", "weather:read"}, ""},
		"trace":                {},
		"fault":                {[]string{"expire", "--client", c.ClientID}, ""},
		"version":              {},
	}
	for _, inv := range invocations() {
		if inv.String() == "serve" {
			continue // TestServeJSON
		}
		t.Run(inv.String(), func(t *testing.T) {
			ex, ok := examples[inv.String()]
			if !ok {
				t.Fatalf("no example for %q in this test: add one", inv)
			}
			args := append(append(slices.Clone(inv.path), ex.args...), "--json")
			if !inv.noDB {
				args = append(args, "--db", db)
			}
			code, out, errOut := runCLI(t, ex.stdin, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var v any
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("stdout is not JSON (%v):\n%s", err, out)
			}
			if inv.String() == "trace" {
				// One event per line (JSON Lines): check each.
				for dec.More() {
					var ev any
					if err := dec.Decode(&ev); err != nil {
						t.Fatalf("trace line is not JSON (%v):\n%s", err, out)
					}
					checkKeys(t, inv.String(), ev)
				}
			}
			if dec.More() {
				t.Errorf("stdout holds more than one JSON document:\n%s", out)
			}
			if v == nil {
				t.Errorf("stdout is null")
			}
			checkKeys(t, inv.String(), v)
		})
	}
}
