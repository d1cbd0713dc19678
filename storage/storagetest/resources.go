package storagetest

import (
	"context"
	"testing"

	"github.com/tenantless/tenantless/storage"
)

func fullResource(url string, sec int) storage.Resource {
	return storage.Resource{
		URL:               url,
		Aliases:           []string{url + "/alias"},
		Name:              "Notes",
		Description:       "Reads and writes notes",
		Scopes:            []string{"notes:read", "notes:write"},
		ScopeDescriptions: map[string]string{"notes:read": "Read your notes"},
		Source:            storage.ResourceSourceCLI,
		CreatedAt:         at(sec),
		UpdatedAt:         at(sec),
	}
}

func testResourceRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	bare := storage.Resource{URL: "http://127.0.0.1:9000/mcp", Source: storage.ResourceSourceBuiltin, CreatedAt: at(2), UpdatedAt: at(2)}
	tests := []struct {
		name string
		r    storage.Resource
	}{
		{"every field", fullResource("https://notes.example/mcp", 1)},
		{"no aliases, scopes, name or description", bare},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateResource", s.CreateResource(ctx, tc.r))
			got, err := s.GetResource(ctx, tc.r.URL)
			must(t, "GetResource", err)
			diff(t, "GetResource", got, tc.r)
		})
	}
	dup := fullResource("https://notes.example/mcp", 5)
	dup.Name = "Other"
	wantErr(t, "CreateResource with a taken URL", s.CreateResource(ctx, dup), storage.ErrConflict)
	got, err := s.GetResource(ctx, dup.URL)
	must(t, "GetResource after conflict", err)
	diff(t, "GetResource after conflict", got, fullResource("https://notes.example/mcp", 1))
	_, err = s.GetResource(ctx, "https://unknown.example/mcp")
	wantErr(t, "GetResource unknown", err, storage.ErrNotFound)
	// URLs are keys as given: the caller canonicalises them.
	_, err = s.GetResource(ctx, "https://notes.example/mcp/")
	wantErr(t, "GetResource with a trailing slash", err, storage.ErrNotFound)
}

func testResourcePut(t *testing.T, s storage.Store) {
	ctx := t.Context()
	first := fullResource("http://localhost:8080/mcp", 10)
	first.Source = storage.ResourceSourceBuiltin
	second := storage.Resource{URL: first.URL, Aliases: []string{"http://127.0.0.1:8080/mcp"}, Name: "Weather",
		Scopes: []string{"weather:read"}, Source: storage.ResourceSourceBuiltin, CreatedAt: at(20), UpdatedAt: at(20)}
	tests := []struct {
		name string
		put  storage.Resource
		want storage.Resource
	}{
		{"create", first, first},
		{"replace keeps CreatedAt", second, storage.Resource{URL: first.URL, Aliases: second.Aliases, Name: "Weather",
			Scopes: second.Scopes, Source: storage.ResourceSourceBuiltin, CreatedAt: at(10), UpdatedAt: at(20)}},
		{"replace with empty lists", storage.Resource{URL: first.URL, Source: storage.ResourceSourceCLI, CreatedAt: at(30), UpdatedAt: at(30)},
			storage.Resource{URL: first.URL, Source: storage.ResourceSourceCLI, CreatedAt: at(10), UpdatedAt: at(30)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "PutResource", s.PutResource(ctx, tc.put))
			got, err := s.GetResource(ctx, tc.put.URL)
			must(t, "GetResource", err)
			diff(t, "GetResource", got, tc.want)
		})
	}
}

func testResourceListAndDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	list, err := s.ListResources(ctx)
	must(t, "ListResources empty", err)
	diff(t, "ListResources empty", list, []storage.Resource(nil))
	// Created in an order that is neither URL nor time order; b and c share
	// a creation time, so URL breaks the tie.
	c, a, b := fullResource("https://c.example/mcp", 5), fullResource("https://a.example/mcp", 9), fullResource("https://b.example/mcp", 5)
	for _, r := range []storage.Resource{c, a, b} {
		must(t, "CreateResource", s.CreateResource(ctx, r))
	}
	list, err = s.ListResources(ctx)
	must(t, "ListResources", err)
	diff(t, "ListResources (by creation time, then URL)", list, []storage.Resource{b, c, a})

	must(t, "DeleteResource", s.DeleteResource(ctx, c.URL))
	_, err = s.GetResource(ctx, c.URL)
	wantErr(t, "GetResource deleted", err, storage.ErrNotFound)
	wantErr(t, "DeleteResource again", s.DeleteResource(ctx, c.URL), storage.ErrNotFound)
	list, err = s.ListResources(ctx)
	must(t, "ListResources after delete", err)
	diff(t, "ListResources after delete", list, []storage.Resource{b, a})
}

// resourceGrantFixture stores two grants for notes (one with an
// unredeemed code, one already rotated once), one for another resource and
// one without a resource.
func resourceGrantFixture(t *testing.T, s storage.Store) []storage.Token {
	t.Helper()
	const notes, other = "https://notes.example/mcp", "https://other.example/mcp"
	mk := func(kind storage.TokenKind, sig, req, res string, active bool) storage.Token {
		tok := newToken(kind, sig, req, "c1", "u1", at(1))
		tok.Resource, tok.Active = res, active
		return tok
	}
	ts := []storage.Token{
		mk(storage.KindCode, "n1-code", "req-n1", notes, false),
		mk(storage.KindAccess, "n1-access", "req-n1", notes, true),
		mk(storage.KindRefresh, "n1-refresh-old", "req-n1", notes, false),
		mk(storage.KindRefresh, "n1-refresh", "req-n1", notes, true),
		mk(storage.KindCode, "n2-code", "req-n2", notes, true),
		mk(storage.KindPKCE, "n2-code", "req-n2", notes, true),
		mk(storage.KindAccess, "o1-access", "req-o1", other, true),
		mk(storage.KindRefresh, "o1-refresh", "req-o1", other, true),
		mk(storage.KindAccess, "x1-access", "req-x1", "", true),
		mk(storage.KindRefresh, "x1-refresh", "req-x1", "", true),
	}
	createTokens(t, s, ts...)
	return ts
}

func testRevokeResourceGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ts := resourceGrantFixture(t, s)
	ids, err := s.RevokeResourceGrants(ctx, "https://notes.example/mcp")
	must(t, "RevokeResourceGrants", err)
	diff(t, "RevokeResourceGrants request IDs", ids, []string{"req-n1", "req-n2"})
	diff(t, "token states", tokenStates(ctx, t, s, ts...), map[string]string{
		"code/n1-code": "missing", "access/n1-access": "missing",
		"refresh/n1-refresh-old": "inactive", "refresh/n1-refresh": "inactive",
		"code/n2-code": "missing", "pkce/n2-code": "missing",
		"access/o1-access": "active", "refresh/o1-refresh": "active",
		"access/x1-access": "active", "refresh/x1-refresh": "active",
	})
	ids, err = s.RevokeResourceGrants(ctx, "https://notes.example/mcp")
	must(t, "RevokeResourceGrants again", err)
	diff(t, "RevokeResourceGrants again", ids, []string(nil))
	ids, err = s.RevokeResourceGrants(ctx, "https://unknown.example/mcp")
	must(t, "RevokeResourceGrants unknown", err)
	diff(t, "RevokeResourceGrants unknown", ids, []string(nil))
}

// testResourceTx checks that every resource write runs inside a
// transaction: rolled back, none of them happened; committed, all did.
func testResourceTx(t *testing.T, s storage.Store) {
	for _, commit := range []bool{false, true} {
		name := "rollback"
		if commit {
			name = "commit"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
			defer cancel()
			keep, gone := fullResource("https://keep-"+name+".example/mcp", 1), fullResource("https://gone-"+name+".example/mcp", 2)
			must(t, "CreateResource", s.CreateResource(ctx, keep))
			must(t, "CreateResource", s.CreateResource(ctx, gone))
			tok := newToken(storage.KindAccess, "tx-"+name, "req-tx-"+name, "c1", "u1", at(1))
			tok.Resource = keep.URL
			createTokens(t, s, tok)

			tx, err := s.BeginTx(ctx)
			must(t, "BeginTx", err)
			defer s.Rollback(tx)
			added := fullResource("https://added-"+name+".example/mcp", 3)
			must(t, "CreateResource in tx", s.CreateResource(tx, added))
			changed := keep
			changed.Name, changed.UpdatedAt = "Changed", at(4)
			must(t, "PutResource in tx", s.PutResource(tx, changed))
			must(t, "DeleteResource in tx", s.DeleteResource(tx, gone.URL))
			ids, err := s.RevokeResourceGrants(tx, keep.URL)
			must(t, "RevokeResourceGrants in tx", err)
			diff(t, "RevokeResourceGrants in tx", ids, []string{tok.RequestID})
			// Reads in the transaction see its writes.
			list, err := s.ListResources(tx)
			must(t, "ListResources in tx", err)
			diff(t, "ListResources in tx", list, []storage.Resource{changed, added})
			if commit {
				must(t, "Commit", s.Commit(tx))
			} else {
				must(t, "Rollback", s.Rollback(tx))
			}

			list, err = s.ListResources(ctx)
			must(t, "ListResources after", err)
			states := tokenStates(ctx, t, s, tok)
			if commit {
				diff(t, "ListResources after commit", list, []storage.Resource{changed, added})
				diff(t, "token after commit", states, map[string]string{"access/" + tok.Signature: "missing"})
			} else {
				diff(t, "ListResources after rollback", list, []storage.Resource{keep, gone})
				diff(t, "token after rollback", states, map[string]string{"access/" + tok.Signature: "active"})
			}
			// Clean up for the next sub-test.
			for _, r := range list {
				must(t, "DeleteResource", s.DeleteResource(ctx, r.URL))
			}
		})
	}
}
