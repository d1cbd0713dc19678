package storagetest

import (
	"context"
	"testing"

	"github.com/tenantless/tenantless/storage"
)

// testErrors checks the ErrNotFound and ErrConflict contract of every method
// that has one, on a store holding one record of each kind. No row changes
// the store, so the rows are independent.
func testErrors(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := fullClient("c1", at(0))
	u := newUser("u1", "alice")
	createClients(t, s, c)
	createUsers(t, s, u)
	must(t, "PutConsent", s.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "c1", CreatedAt: at(0), UpdatedAt: at(0)}))
	sess := storage.Session{IDHash: []byte("session-1"), UserID: "u1", CreatedAt: at(0), ExpiresAt: at(60)}
	must(t, "CreateSession", s.CreateSession(ctx, sess))
	code := newToken(storage.KindCode, "sig-1", "req-1", "c1", "u1", at(0))
	refresh := newToken(storage.KindRefresh, "sig-r", "req-1", "c1", "u1", at(0))
	createTokens(t, s, code, refresh)
	key := storage.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("der"), CreatedAt: at(0)}
	must(t, "CreateSigningKey", s.CreateSigningKey(ctx, key))
	iat := storage.InitialAccessToken{Hash: []byte("iat-1"), Note: "ci", CreatedAt: at(0), ExpiresAt: at(60)}
	must(t, "CreateInitialAccessToken", s.CreateInitialAccessToken(ctx, iat))

	other := newUser("u2", "bob")
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want error
	}{
		{"CreateClient taken ID", func(ctx context.Context) error { return s.CreateClient(ctx, fullClient("c1", at(5))) }, storage.ErrConflict},
		{"GetClient unknown", func(ctx context.Context) error { _, err := s.GetClient(ctx, "nope"); return err }, storage.ErrNotFound},
		{"UpdateClient unknown", func(ctx context.Context) error { return s.UpdateClient(ctx, fullClient("nope", at(0))) }, storage.ErrNotFound},
		{"DeleteClient unknown", func(ctx context.Context) error { return s.DeleteClient(ctx, "nope") }, storage.ErrNotFound},
		{"TouchClient unknown", func(ctx context.Context) error { return s.TouchClient(ctx, "nope", at(1)) }, storage.ErrNotFound},
		{"CreateUser taken ID", func(ctx context.Context) error { u := u; u.Username = "other"; return s.CreateUser(ctx, u) }, storage.ErrConflict},
		{"CreateUser taken username", func(ctx context.Context) error { o := other; o.Username = "alice"; return s.CreateUser(ctx, o) }, storage.ErrConflict},
		{"GetUser unknown", func(ctx context.Context) error { _, err := s.GetUser(ctx, "nope"); return err }, storage.ErrNotFound},
		{"GetUserByUsername unknown", func(ctx context.Context) error { _, err := s.GetUserByUsername(ctx, "nope"); return err }, storage.ErrNotFound},
		{"SetUserPassword unknown", func(ctx context.Context) error { return s.SetUserPassword(ctx, "nope", "h", at(1)) }, storage.ErrNotFound},
		{"DeleteUser unknown", func(ctx context.Context) error { return s.DeleteUser(ctx, "nope") }, storage.ErrNotFound},
		{"GetConsent unknown client", func(ctx context.Context) error { _, err := s.GetConsent(ctx, "u1", "nope"); return err }, storage.ErrNotFound},
		{"GetConsent unknown user", func(ctx context.Context) error { _, err := s.GetConsent(ctx, "nope", "c1"); return err }, storage.ErrNotFound},
		{"DeleteConsent unknown", func(ctx context.Context) error { return s.DeleteConsent(ctx, "u1", "nope") }, storage.ErrNotFound},
		{"CreateSession taken hash", func(ctx context.Context) error { return s.CreateSession(ctx, sess) }, storage.ErrConflict},
		{"GetSession unknown", func(ctx context.Context) error { _, err := s.GetSession(ctx, []byte("nope")); return err }, storage.ErrNotFound},
		{"DeleteSession unknown", func(ctx context.Context) error { return s.DeleteSession(ctx, []byte("nope")) }, storage.ErrNotFound},
		{"CreateToken taken kind and signature", func(ctx context.Context) error { return s.CreateToken(ctx, code) }, storage.ErrConflict},
		{"GetToken unknown signature", func(ctx context.Context) error { _, err := s.GetToken(ctx, storage.KindCode, "nope"); return err }, storage.ErrNotFound},
		{"GetToken other kind", func(ctx context.Context) error { _, err := s.GetToken(ctx, storage.KindAccess, "sig-1"); return err }, storage.ErrNotFound},
		{"DeleteToken unknown", func(ctx context.Context) error { return s.DeleteToken(ctx, storage.KindCode, "nope") }, storage.ErrNotFound},
		{"DeleteToken other kind", func(ctx context.Context) error { return s.DeleteToken(ctx, storage.KindPKCE, "sig-1") }, storage.ErrNotFound},
		{"DeactivateToken unknown", func(ctx context.Context) error { return s.DeactivateToken(ctx, storage.KindCode, "nope") }, storage.ErrNotFound},
		{"DeactivateToken other kind", func(ctx context.Context) error { return s.DeactivateToken(ctx, storage.KindRefresh, "sig-1") }, storage.ErrNotFound},
		{"RotateRefreshToken unknown signature", func(ctx context.Context) error { return s.RotateRefreshToken(ctx, "req-1", "nope", at(20)) }, storage.ErrNotFound},
		{"RotateRefreshToken code signature", func(ctx context.Context) error { return s.RotateRefreshToken(ctx, "req-1", "sig-1", at(20)) }, storage.ErrNotFound},
		{"CreateSigningKey taken ID", func(ctx context.Context) error { return s.CreateSigningKey(ctx, key) }, storage.ErrConflict},
		{"RetireSigningKey unknown", func(ctx context.Context) error { return s.RetireSigningKey(ctx, "nope", at(1)) }, storage.ErrNotFound},
		{"DeleteSigningKey unknown", func(ctx context.Context) error { return s.DeleteSigningKey(ctx, "nope") }, storage.ErrNotFound},
		{"CreateInitialAccessToken taken hash", func(ctx context.Context) error {
			dup := iat
			dup.Note, dup.CreatedAt = "other", at(5)
			return s.CreateInitialAccessToken(ctx, dup)
		}, storage.ErrConflict},
		{"GetInitialAccessToken unknown", func(ctx context.Context) error {
			_, err := s.GetInitialAccessToken(ctx, []byte("nope"))
			return err
		}, storage.ErrNotFound},
		{"DeleteInitialAccessToken unknown", func(ctx context.Context) error {
			return s.DeleteInitialAccessToken(ctx, []byte("nope"))
		}, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.name, tc.call(t.Context()), tc.want)
		})
	}

	// The failed calls changed nothing.
	gotC, err := s.GetClient(ctx, "c1")
	must(t, "GetClient", err)
	diff(t, "client after failed calls", gotC, c)
	gotU, err := s.GetUser(ctx, "u1")
	must(t, "GetUser", err)
	diff(t, "user after failed calls", gotU, u)
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers after failed calls: got %d, %v, want 1, nil", n, err)
	}
	gotIAT, err := s.GetInitialAccessToken(ctx, iat.Hash)
	must(t, "GetInitialAccessToken", err)
	diff(t, "initial access token after failed calls", gotIAT, iat)
	diff(t, "token states after failed calls", tokenStates(ctx, t, s, code, refresh),
		map[string]string{"code/sig-1": "active", "refresh/sig-r": "active"})
}
