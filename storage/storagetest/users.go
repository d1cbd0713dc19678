package storagetest

import (
	"testing"

	"github.com/tenantless/tenantless/storage"
)

func testUserRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		u    storage.User
	}{
		{"every field", newUser("u1", "alice")},
		{"unicode username", storage.User{ID: "u2", Username: "zoë@example.org", PasswordHash: "h2", CreatedAt: at(1), UpdatedAt: at(2)}},
		{"zero times", storage.User{ID: "u3", Username: "carol", PasswordHash: "h3"}},
		{"admin", storage.User{ID: "u4", Username: "dora", PasswordHash: "h4", Admin: true, CreatedAt: at(1), UpdatedAt: at(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateUser", s.CreateUser(ctx, tc.u))
			got, err := s.GetUser(ctx, tc.u.ID)
			must(t, "GetUser", err)
			diff(t, "GetUser", got, tc.u)
			got, err = s.GetUserByUsername(ctx, tc.u.Username)
			must(t, "GetUserByUsername", err)
			diff(t, "GetUserByUsername", got, tc.u)
		})
	}
}

func testUserListAndCount(t *testing.T, s storage.Store) {
	ctx := t.Context()
	n, err := s.CountUsers(ctx)
	if err != nil || n != 0 {
		t.Errorf("CountUsers on empty store: got %d, %v, want 0, nil", n, err)
	}
	got, err := s.ListUsers(ctx)
	must(t, "ListUsers on empty store", err)
	if len(got) != 0 {
		t.Errorf("ListUsers on empty store: got %d users, want 0", len(got))
	}
	carol, alice, bob := newUser("u1", "carol"), newUser("u3", "alice"), newUser("u2", "bob")
	createUsers(t, s, carol, alice, bob)
	got, err = s.ListUsers(ctx)
	must(t, "ListUsers", err)
	diff(t, "ListUsers (by username)", got, []storage.User{alice, bob, carol})
	n, err = s.CountUsers(ctx)
	if err != nil || n != 3 {
		t.Errorf("CountUsers: got %d, %v, want 3, nil", n, err)
	}
}

func testUserSetPassword(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u, other := newUser("u1", "alice"), newUser("u2", "bob")
	createUsers(t, s, u, other)
	must(t, "SetUserPassword", s.SetUserPassword(ctx, "u1", "$argon2id$new", at(500)))
	want := u
	want.PasswordHash, want.UpdatedAt = "$argon2id$new", at(500)
	got, err := s.GetUser(ctx, "u1")
	must(t, "GetUser", err)
	diff(t, "user after SetUserPassword", got, want)
	got, err = s.GetUser(ctx, "u2")
	must(t, "GetUser u2", err)
	diff(t, "other user", got, other)
}

func testUserDeleteCascades(t *testing.T, s storage.Store) {
	ctx := t.Context()
	createUsers(t, s, newUser("u1", "alice"), newUser("u2", "bob"))
	createClients(t, s, fullClient("c1", at(0)), fullClient("c2", at(0)))
	for _, c := range []storage.Consent{
		{UserID: "u1", ClientID: "c1", CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u1", ClientID: "c2", CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u2", ClientID: "c1", CreatedAt: at(0), UpdatedAt: at(0)},
	} {
		must(t, "PutConsent", s.PutConsent(ctx, c))
	}
	sessions := []storage.Session{
		{IDHash: []byte("s-u1-a"), UserID: "u1", CreatedAt: at(0), ExpiresAt: at(60)},
		{IDHash: []byte("s-u1-b"), UserID: "u1", CreatedAt: at(0), ExpiresAt: at(60)},
		{IDHash: []byte("s-u2"), UserID: "u2", CreatedAt: at(0), ExpiresAt: at(60)},
	}
	for _, sess := range sessions {
		must(t, "CreateSession", s.CreateSession(ctx, sess))
	}
	doomed := []storage.Token{
		newToken(storage.KindCode, "u1-code", "r1", "c1", "u1", at(0)),
		newToken(storage.KindPKCE, "u1-code", "r1", "c1", "u1", at(0)),
		newToken(storage.KindAccess, "u1-access", "r1", "c1", "u1", at(0)),
		newToken(storage.KindRefresh, "u1-refresh", "r1", "c1", "u1", at(0)),
		newToken(storage.KindRefresh, "u1-refresh-c2", "r2", "c2", "u1", at(0)),
	}
	kept := []storage.Token{
		newToken(storage.KindAccess, "u2-access", "r3", "c1", "u2", at(0)),
		newToken(storage.KindRefresh, "u2-refresh", "r3", "c1", "u2", at(0)),
	}
	createTokens(t, s, append(doomed, kept...)...)

	must(t, "DeleteUser", s.DeleteUser(ctx, "u1"))

	_, err := s.GetUser(ctx, "u1")
	wantErr(t, "GetUser deleted", err, storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "alice")
	wantErr(t, "GetUserByUsername deleted", err, storage.ErrNotFound)
	for _, sess := range sessions[:2] {
		_, err := s.GetSession(ctx, sess.IDHash)
		wantErr(t, "GetSession of deleted user", err, storage.ErrNotFound)
	}
	_, err = s.GetSession(ctx, []byte("s-u2"))
	wantErr(t, "GetSession of other user", err, nil)
	got, err := s.ListConsents(ctx, "u1")
	must(t, "ListConsents u1", err)
	if len(got) != 0 {
		t.Errorf("ListConsents of deleted user: got %d consents, want 0", len(got))
	}
	_, err = s.GetConsent(ctx, "u2", "c1")
	wantErr(t, "GetConsent of other user", err, nil)
	want := map[string]string{}
	for _, tok := range doomed {
		want[tokenKey(tok.Kind, tok.Signature)] = "missing"
	}
	for _, tok := range kept {
		want[tokenKey(tok.Kind, tok.Signature)] = "active"
	}
	diff(t, "token states", tokenStates(ctx, t, s, append(doomed, kept...)...), want)
	clients, err := s.ListClients(ctx)
	must(t, "ListClients", err)
	if len(clients) != 2 {
		t.Errorf("ListClients: got %d clients, want 2", len(clients))
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers: got %d, %v, want 1, nil", n, err)
	}
}
