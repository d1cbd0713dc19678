package storagetest

import (
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

func testTokenRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	access := newToken(storage.KindAccess, "sig-access", "req-1", "c1", "u1", at(2))
	access.ExpiresAt = at(900)
	access.Resource = "https://notes.example/mcp"
	refresh := newToken(storage.KindRefresh, "sig-refresh", "req-1", "c1", "u1", at(2))
	refresh.AccessSignature = "sig-access"
	refresh.Active = false
	rotated := newToken(storage.KindRefresh, "sig-rotated", "req-1", "c1", "u1", at(2))
	rotated.Active = false
	rotated.RotatedAt = at(7)
	never := newToken(storage.KindAccess, "sig-never", "req-2", "https://app.example/client.json", "u2", at(3))
	never.ExpiresAt = time.Time{}
	never.Data = nil
	tests := []struct {
		name string
		tok  storage.Token
	}{
		{"authorization code", newToken(storage.KindCode, "sig-code", "req-1", "c1", "u1", at(1))},
		{"PKCE row under the code's signature", newToken(storage.KindPKCE, "sig-code", "req-1", "c1", "u1", at(1))},
		{"access token", access},
		{"inactive refresh token with access signature", refresh},
		{"rotated refresh token", rotated},
		{"no expiry, no data", never},
		{"binary data", storage.Token{Kind: storage.KindCode, Signature: "sig-bin", RequestID: "req-3", ClientID: "c1",
			Subject: "u1", RequestedAt: at(4), ExpiresAt: at(5), Active: true, Data: []byte{0, 1, 2, 0xff}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateToken", s.CreateToken(ctx, tc.tok))
			got, err := s.GetToken(ctx, tc.tok.Kind, tc.tok.Signature)
			must(t, "GetToken", err)
			diff(t, "GetToken", got, tc.tok)
			if tc.tok.ExpiresAt.IsZero() && !got.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt: got %v, want the zero time", got.ExpiresAt)
			}
		})
	}
}

func testTokenDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	code := newToken(storage.KindCode, "sig-1", "req-1", "c1", "u1", at(0))
	pkce := newToken(storage.KindPKCE, "sig-1", "req-1", "c1", "u1", at(0))
	createTokens(t, s, code, pkce)
	must(t, "DeleteToken", s.DeleteToken(ctx, storage.KindPKCE, "sig-1"))
	diff(t, "token states", tokenStates(ctx, t, s, code, pkce),
		map[string]string{"code/sig-1": "active", "pkce/sig-1": "missing"})
	wantErr(t, "DeleteToken again", s.DeleteToken(ctx, storage.KindPKCE, "sig-1"), storage.ErrNotFound)
	// A deleted signature can be stored again.
	must(t, "CreateToken again", s.CreateToken(ctx, pkce))
}

// testDeactivateToken runs its rows in order: each sees the previous ones'
// effects.
func testDeactivateToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	code := newToken(storage.KindCode, "code-1", "req-1", "c1", "u1", at(0))
	used := newToken(storage.KindCode, "code-used", "req-2", "c1", "u1", at(0))
	used.Active = false
	createTokens(t, s, code, used)
	tests := []struct {
		name string
		kind storage.TokenKind
		sig  string
		want error
	}{
		{"first use succeeds", storage.KindCode, "code-1", nil},
		{"second use conflicts", storage.KindCode, "code-1", storage.ErrConflict},
		{"third use conflicts", storage.KindCode, "code-1", storage.ErrConflict},
		{"row stored inactive conflicts", storage.KindCode, "code-used", storage.ErrConflict},
		{"unknown signature is not found", storage.KindCode, "code-2", storage.ErrNotFound},
		{"other kind is not found", storage.KindAccess, "code-1", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "DeactivateToken", s.DeactivateToken(ctx, tc.kind, tc.sig), tc.want)
		})
	}
	got, err := s.GetToken(ctx, storage.KindCode, "code-1")
	must(t, "GetToken", err)
	want := code
	want.Active = false
	diff(t, "deactivated code (only Active changes)", got, want)
}

// grantFixture is two grants of one user and client: req-1 with three
// refresh rows (one inactive; r1 issued with a1), two access rows, a code
// and a PKCE row, and req-2 with one refresh and one access row.
func grantFixture(t *testing.T, s storage.Store) []storage.Token {
	t.Helper()
	tok := func(kind storage.TokenKind, sig, req string, active bool) storage.Token {
		x := newToken(kind, sig, req, "c1", "u1", at(0))
		x.Active = active
		return x
	}
	r1 := tok(storage.KindRefresh, "r1", "req-1", true)
	r1.AccessSignature = "a1"
	ts := []storage.Token{
		tok(storage.KindCode, "code-1", "req-1", false),
		tok(storage.KindPKCE, "code-1", "req-1", true),
		r1,
		tok(storage.KindRefresh, "r2", "req-1", true),
		tok(storage.KindRefresh, "r0", "req-1", false),
		tok(storage.KindAccess, "a1", "req-1", true),
		tok(storage.KindAccess, "a2", "req-1", true),
		tok(storage.KindRefresh, "r9", "req-2", true),
		tok(storage.KindAccess, "a9", "req-2", true),
	}
	createTokens(t, s, ts...)
	return ts
}

func testDeactivateGrant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	all := grantFixture(t, s)
	tests := []struct {
		name      string
		kind      storage.TokenKind
		requestID string
		want      int64
	}{
		{"refresh rows of req-1 (two active)", storage.KindRefresh, "req-1", 2},
		{"again changes nothing", storage.KindRefresh, "req-1", 0},
		{"access rows of req-1", storage.KindAccess, "req-1", 2},
		{"unknown request", storage.KindRefresh, "req-404", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.DeactivateGrant(ctx, tc.kind, tc.requestID)
			must(t, "DeactivateGrant", err)
			if n != tc.want {
				t.Errorf("DeactivateGrant(%s, %s): got %d rows, want %d", tc.kind, tc.requestID, n, tc.want)
			}
		})
	}
	diff(t, "token states", tokenStates(ctx, t, s, all...), map[string]string{
		"code/code-1": "inactive", "pkce/code-1": "active",
		"refresh/r1": "inactive", "refresh/r2": "inactive", "refresh/r0": "inactive",
		"access/a1": "inactive", "access/a2": "inactive",
		"refresh/r9": "active", "access/a9": "active",
	})
}

func testDeleteGrant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	all := grantFixture(t, s)
	tests := []struct {
		name      string
		kind      storage.TokenKind
		requestID string
		want      int64
	}{
		{"access rows of req-1", storage.KindAccess, "req-1", 2},
		{"again removes nothing", storage.KindAccess, "req-1", 0},
		{"refresh rows of req-1, active or not", storage.KindRefresh, "req-1", 3},
		{"unknown request", storage.KindAccess, "req-404", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.DeleteGrant(ctx, tc.kind, tc.requestID)
			must(t, "DeleteGrant", err)
			if n != tc.want {
				t.Errorf("DeleteGrant(%s, %s): got %d rows, want %d", tc.kind, tc.requestID, n, tc.want)
			}
		})
	}
	diff(t, "token states", tokenStates(ctx, t, s, all...), map[string]string{
		"code/code-1": "inactive", "pkce/code-1": "active",
		"refresh/r1": "missing", "refresh/r2": "missing", "refresh/r0": "missing",
		"access/a1": "missing", "access/a2": "missing",
		"refresh/r9": "active", "access/a9": "active",
	})
}

func testRotateRefreshToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	all := grantFixture(t, s)

	must(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "req-1", "r1", at(20)))
	want := map[string]string{
		"code/code-1": "inactive", "pkce/code-1": "active",
		"refresh/r1": "inactive", // kept, so that reuse is detected
		"refresh/r2": "active",   // another live refresh token of the grant (issued within a grace period)
		"refresh/r0": "inactive",
		"access/a1":  "missing", // issued with r1
		"access/a2":  "active",
		"refresh/r9": "active", "access/a9": "active",
	}
	diff(t, "token states after rotation", tokenStates(ctx, t, s, all...), want)
	got, err := s.GetToken(ctx, storage.KindRefresh, "r1")
	must(t, "GetToken r1", err)
	wantRow := all[2]
	wantRow.Active = false
	wantRow.RotatedAt = at(20)
	diff(t, "rotated row (only Active and RotatedAt change)", got, wantRow)

	// The new pair of the rotation, as the token endpoint stores it.
	next := newToken(storage.KindRefresh, "r3", "req-1", "c1", "u1", at(10))
	next.AccessSignature = "a3"
	createTokens(t, s, newToken(storage.KindAccess, "a3", "req-1", "c1", "u1", at(10)), next)

	tests := []struct {
		name      string
		requestID string
		sig       string
		want      error
	}{
		{"reuse of the rotated token conflicts", "req-1", "r1", storage.ErrConflict},
		{"a row stored inactive conflicts", "req-1", "r0", storage.ErrConflict},
		{"unknown signature is not found", "req-1", "r404", storage.ErrNotFound},
		{"access signature is not found", "req-1", "a3", storage.ErrNotFound},
		{"another grant's token is not found", "req-1", "r9", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, tc.requestID, tc.sig, at(30)), tc.want)
		})
	}
	// The failed rotations touched nothing: the new pair is still live, and
	// a reuse does not move RotatedAt (so it cannot stretch a grace period).
	diff(t, "new pair after failed rotations",
		tokenStates(ctx, t, s, newToken(storage.KindAccess, "a3", "", "", "", at(0)), next, all[3], all[6]),
		map[string]string{"access/a3": "active", "refresh/r3": "active", "refresh/r2": "active", "access/a2": "active"})
	got, err = s.GetToken(ctx, storage.KindRefresh, "r1")
	must(t, "GetToken r1", err)
	diff(t, "rotated row after reuse", got, wantRow)
	got, err = s.GetToken(ctx, storage.KindRefresh, "r0")
	must(t, "GetToken r0", err)
	diff(t, "inactive row after a failed rotation", got, all[4])

	// Rotating the new token deletes only its own access token.
	must(t, "RotateRefreshToken r3", s.RotateRefreshToken(ctx, "req-1", "r3", at(40)))
	diff(t, "after second rotation",
		tokenStates(ctx, t, s, newToken(storage.KindAccess, "a3", "", "", "", at(0)), next, all[3], all[6], all[7], all[8]),
		map[string]string{"access/a3": "missing", "refresh/r3": "inactive", "refresh/r2": "active", "access/a2": "active",
			"refresh/r9": "active", "access/a9": "active"})

	// A refresh row that names no access token (stored by an older
	// version) takes every access token of its grant with it.
	createTokens(t, s, newToken(storage.KindAccess, "a4", "req-1", "c1", "u1", at(11)))
	must(t, "RotateRefreshToken r2", s.RotateRefreshToken(ctx, "req-1", "r2", at(50)))
	diff(t, "after rotating a row without access signature",
		tokenStates(ctx, t, s, all[3], all[6], newToken(storage.KindAccess, "a4", "", "", "", at(0)), all[7], all[8]),
		map[string]string{"refresh/r2": "inactive", "access/a2": "missing", "access/a4": "missing",
			"refresh/r9": "active", "access/a9": "active"})
}

// testRevokeAfterRotation checks that revoking a grant ends the reuse
// grace of its rotated refresh tokens: DeactivateGrant clears RotatedAt,
// and counts only the rows that were active.
func testRevokeAfterRotation(t *testing.T, s storage.Store) {
	ctx := t.Context()
	all := grantFixture(t, s)
	must(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "req-1", "r1", at(20)))
	n, err := s.DeactivateGrant(ctx, storage.KindRefresh, "req-1")
	must(t, "DeactivateGrant", err)
	if n != 1 {
		t.Errorf("DeactivateGrant: got %d rows, want 1 (r2; r1 was rotated, r0 inactive)", n)
	}
	for _, i := range []int{2, 3, 4} {
		got, err := s.GetToken(ctx, storage.KindRefresh, all[i].Signature)
		must(t, "GetToken", err)
		want := all[i]
		want.Active = false
		diff(t, "revoked row "+want.Signature+" (inactive, not rotated)", got, want)
	}
	got, err := s.GetToken(ctx, storage.KindRefresh, "r9")
	must(t, "GetToken r9", err)
	diff(t, "other grant", got, all[7])
	wantErr(t, "RotateRefreshToken after revocation", s.RotateRefreshToken(ctx, "req-1", "r1", at(21)), storage.ErrConflict)
}

func testListGrantTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tok := func(kind storage.TokenKind, sig, client, user string, sec int, active bool) storage.Token {
		x := newToken(kind, sig, "req-"+sig, client, user, at(sec))
		x.Active = active
		return x
	}
	aAccess := tok(storage.KindAccess, "a-access", "cA", "u1", 1, true)
	aRefresh := tok(storage.KindRefresh, "a-refresh", "cA", "u1", 2, true)
	bAccess := tok(storage.KindAccess, "b-access", "cB", "u1", 5, true)
	bRefreshNever := tok(storage.KindRefresh, "b-refresh", "cB", "u1", 4, true)
	bRefreshNever.ExpiresAt = time.Time{}
	createTokens(t, s,
		aAccess, aRefresh, bAccess, bRefreshNever,
		tok(storage.KindRefresh, "a-refresh-old", "cA", "u1", 3, false), // inactive
		tok(storage.KindCode, "a-code", "cA", "u1", 6, true),            // not a grant token
		tok(storage.KindPKCE, "a-code", "cA", "u1", 6, true),            // not a grant token
		tok(storage.KindAccess, "u2-access", "cA", "u2", 7, true),       // other user
	)
	tests := []struct {
		name           string
		user, clientID string
		want           []storage.Token
	}{
		{"every client, newest first", "u1", "", []storage.Token{bAccess, bRefreshNever, aRefresh, aAccess}},
		{"one client", "u1", "cA", []storage.Token{aRefresh, aAccess}},
		{"other client", "u1", "cB", []storage.Token{bAccess, bRefreshNever}},
		{"client without tokens", "u1", "cC", nil},
		{"user without tokens", "u3", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListGrantTokens(ctx, tc.user, tc.clientID)
			must(t, "ListGrantTokens", err)
			diff(t, "ListGrantTokens", got, tc.want)
		})
	}
}
