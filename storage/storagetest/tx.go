package storagetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tenantless/tenantless/storage"
)

// txTimeout bounds tests that hold a transaction: a method that ignores the
// transaction in its context may wait for the writer the test holds, and
// the deadline turns that deadlock into a failure.
const txTimeout = time.Minute

func testTxControl(t *testing.T, s storage.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context) error // returns the error under test
		ok   bool                                          // whether that error must be nil
	}{
		{"Commit without a transaction fails", func(t *testing.T, ctx context.Context) error { return s.Commit(ctx) }, false},
		{"Rollback without a transaction fails", func(t *testing.T, ctx context.Context) error { return s.Rollback(ctx) }, false},
		{"nested BeginTx fails", func(t *testing.T, ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			defer s.Rollback(tx)
			_, err = s.BeginTx(tx)
			return err
		}, false},
		{"Rollback after Commit is a no-op", func(t *testing.T, ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			must(t, "Commit", s.Commit(tx))
			return s.Rollback(tx)
		}, true},
		{"Rollback twice is a no-op", func(t *testing.T, ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			must(t, "Rollback", s.Rollback(tx))
			return s.Rollback(tx)
		}, true},
		{"Commit after Commit fails", func(t *testing.T, ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			must(t, "Commit", s.Commit(tx))
			return s.Commit(tx)
		}, false},
		{"Commit after Rollback fails", func(t *testing.T, ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			must(t, "Rollback", s.Rollback(tx))
			return s.Commit(tx)
		}, false},
		{"the store is usable after the rows above", func(t *testing.T, ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				return err
			}
			if err := s.CreateUser(tx, newUser("u1", "alice")); err != nil {
				_ = s.Rollback(tx)
				return err
			}
			return s.Commit(tx)
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
			defer cancel()
			err := tc.run(t, ctx)
			if tc.ok && err != nil {
				t.Errorf("got error %v, want nil", err)
			}
			if !tc.ok && err == nil {
				t.Errorf("got nil error, want one")
			}
		})
	}
}

// snapshot is what the public API shows of a store, for the records the
// transaction test knows of.
type snapshot struct {
	Clients     []storage.Client
	Users       []storage.User
	UserCount   int
	Consents    map[string][]storage.Consent // by user ID
	Sessions    map[string]storage.Session   // by IDHash, present ones only
	Tokens      map[string]storage.Token     // by tokenKey, present ones only
	GrantTokens []storage.Token              // ListGrantTokens(u1, "")
	Keys        []storage.SigningKey
	IATs        []storage.InitialAccessToken
	Audit       []storage.AuditEvent
}

var (
	snapUsers    = []string{"u1", "u2", "u3"}
	snapSessions = []string{"s1", "s2", "s3", "s-expired"}
	snapTokens   = []struct {
		kind storage.TokenKind
		sig  string
	}{
		{storage.KindCode, "code-1"}, {storage.KindPKCE, "code-1"}, {storage.KindAccess, "a1"},
		{storage.KindRefresh, "r1"}, {storage.KindAccess, "a1b"}, {storage.KindRefresh, "r1b"},
		{storage.KindCode, "code-2"}, {storage.KindPKCE, "code-2"}, {storage.KindAccess, "a3"},
		{storage.KindRefresh, "r-c3"}, {storage.KindAccess, "a-expired"},
		{storage.KindRefresh, "r4"}, {storage.KindAccess, "a4"}, {storage.KindCode, "code-stale"},
	}
)

func takeSnapshot(ctx context.Context, t *testing.T, s storage.Store) snapshot {
	t.Helper()
	var (
		sn  snapshot
		err error
	)
	sn.Clients, err = s.ListClients(ctx)
	must(t, "ListClients", err)
	sn.Users, err = s.ListUsers(ctx)
	must(t, "ListUsers", err)
	sn.UserCount, err = s.CountUsers(ctx)
	must(t, "CountUsers", err)
	sn.Consents = map[string][]storage.Consent{}
	for _, u := range snapUsers {
		sn.Consents[u], err = s.ListConsents(ctx, u)
		must(t, "ListConsents", err)
	}
	sn.Sessions = map[string]storage.Session{}
	for _, h := range snapSessions {
		if sess, err := s.GetSession(ctx, []byte(h)); err == nil {
			sn.Sessions[h] = sess
		}
	}
	sn.Tokens = map[string]storage.Token{}
	for _, k := range snapTokens {
		if tok, err := s.GetToken(ctx, k.kind, k.sig); err == nil {
			sn.Tokens[tokenKey(k.kind, k.sig)] = tok
		}
	}
	sn.GrantTokens, err = s.ListGrantTokens(ctx, "u1", "")
	must(t, "ListGrantTokens", err)
	sn.Keys, err = s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	sn.IATs, err = s.ListInitialAccessTokens(ctx)
	must(t, "ListInitialAccessTokens", err)
	sn.Audit, err = s.ListAudit(ctx, storage.AuditFilter{})
	must(t, "ListAudit", err)
	return sn
}

// testTxEveryWrite calls every writing method inside one transaction, checks
// that reads inside it see the writes, then commits or rolls back and checks
// that the store shows the transaction's state or the state before it.
func testTxEveryWrite(t *testing.T, s storage.Store, commit bool) {
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()

	// Base state.
	createUsers(t, s, newUser("u1", "alice"), newUser("u3", "carol"))
	// c-stale is never used and old: the sweep in the transaction removes it.
	createClients(t, s, fullClient("c1", at(0)), fullClient("c3", at(1)),
		publicClient("c-stale", storage.SourceDCR, at(-1000)))
	for _, c := range []storage.Consent{
		{UserID: "u1", ClientID: "c1", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u1", ClientID: "c-stale", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u1", ClientID: "c3", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u3", ClientID: "c1", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
	} {
		must(t, "PutConsent", s.PutConsent(ctx, c))
	}
	for _, sess := range []storage.Session{
		{IDHash: []byte("s1"), UserID: "u1", CreatedAt: at(0), ExpiresAt: at(60)},
		{IDHash: []byte("s3"), UserID: "u3", CreatedAt: at(0), ExpiresAt: at(60)},
		{IDHash: []byte("s-expired"), UserID: "u1", CreatedAt: at(-60), ExpiresAt: at(-1)},
	} {
		must(t, "CreateSession", s.CreateSession(ctx, sess))
	}
	r1 := newToken(storage.KindRefresh, "r1", "req-1", "c1", "u1", at(1))
	r1.AccessSignature = "a1"
	aExpired := newToken(storage.KindAccess, "a-expired", "req-5", "c1", "u1", at(-7200))
	// The stale client's code was redeemed: an unredeemed one would be a
	// sign-in in progress, which keeps a client from the sweep.
	codeStale := newToken(storage.KindCode, "code-stale", "req-7", "c-stale", "u1", at(0))
	codeStale.Active = false
	createTokens(t, s,
		newToken(storage.KindCode, "code-1", "req-1", "c1", "u1", at(0)),
		newToken(storage.KindPKCE, "code-1", "req-1", "c1", "u1", at(0)),
		newToken(storage.KindAccess, "a1", "req-1", "c1", "u1", at(1)),
		r1,
		newToken(storage.KindAccess, "a3", "req-3", "c1", "u3", at(2)),
		newToken(storage.KindRefresh, "r-c3", "req-6", "c3", "u1", at(3)),
		aExpired,
		newToken(storage.KindRefresh, "r4", "req-4", "c1", "u1", at(4)),
		newToken(storage.KindAccess, "a4", "req-4", "c1", "u1", at(4)),
		codeStale,
	)
	must(t, "CreateSigningKey", s.CreateSigningKey(ctx, storage.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("der-1"), CreatedAt: at(0)}))
	iatKeep := storage.InitialAccessToken{Hash: []byte("iat-keep"), Note: "keep", CreatedAt: at(0)}
	for _, x := range []storage.InitialAccessToken{
		iatKeep,
		{Hash: []byte("iat-delete"), Note: "delete", CreatedAt: at(1)},
		{Hash: []byte("iat-expired"), Note: "expired", CreatedAt: at(-100), ExpiresAt: at(-1)},
	} {
		must(t, "CreateInitialAccessToken", s.CreateInitialAccessToken(ctx, x))
	}
	appendAudit(ctx, t, s, auditEvent("audit-old", -1000, "login", "u1", ""), auditEvent("audit-keep", 0, "login", "u3", ""))
	before := takeSnapshot(ctx, t, s)

	tx, err := s.BeginTx(ctx)
	must(t, "BeginTx", err)
	defer s.Rollback(tx)

	c1 := fullClient("c1", at(0))
	c1.Name, c1.UpdatedAt = "Renamed", at(100)
	newRefresh := newToken(storage.KindRefresh, "r1b", "req-1", "c1", "u1", at(100))
	iatNew := storage.InitialAccessToken{Hash: []byte("iat-new"), Note: "new", CreatedAt: at(100), ExpiresAt: at(200)}
	newRefresh.AccessSignature = "a1b"
	counted := func(want int64) func(n int64, err error) error {
		return func(n int64, err error) error {
			if err == nil && n != want {
				t.Errorf("got %d rows, want %d", n, want)
			}
			return err
		}
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"CreateUser", func() error { return s.CreateUser(tx, newUser("u2", "bob")) }},
		{"SetUserPassword", func() error { return s.SetUserPassword(tx, "u1", "$argon2id$new", at(100)) }},
		{"CreateClient", func() error { return s.CreateClient(tx, fullClient("c2", at(100))) }},
		{"UpdateClient", func() error { return s.UpdateClient(tx, c1) }},
		{"TouchClient", func() error { return s.TouchClient(tx, "c1", at(101)) }},
		{"PutConsent new", func() error {
			return s.PutConsent(tx, storage.Consent{UserID: "u2", ClientID: "c2", Scopes: []string{"b"}, CreatedAt: at(100), UpdatedAt: at(100)})
		}},
		{"PutConsent replace", func() error {
			return s.PutConsent(tx, storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"a", "b"}, CreatedAt: at(100), UpdatedAt: at(100)})
		}},
		{"DeleteConsent", func() error { return s.DeleteConsent(tx, "u3", "c1") }},
		{"CreateSession", func() error {
			return s.CreateSession(tx, storage.Session{IDHash: []byte("s2"), UserID: "u2", CreatedAt: at(100), ExpiresAt: at(200)})
		}},
		{"DeleteSession", func() error { return s.DeleteSession(tx, []byte("s1")) }},
		{"CreateToken code", func() error {
			return s.CreateToken(tx, newToken(storage.KindCode, "code-2", "req-2", "c2", "u2", at(100)))
		}},
		{"CreateToken pkce", func() error {
			return s.CreateToken(tx, newToken(storage.KindPKCE, "code-2", "req-2", "c2", "u2", at(100)))
		}},
		{"DeactivateToken", func() error { return s.DeactivateToken(tx, storage.KindCode, "code-1") }},
		{"DeleteToken", func() error { return s.DeleteToken(tx, storage.KindPKCE, "code-1") }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(tx, "req-1", "r1", at(20)) }},
		{"CreateToken access after rotation", func() error {
			return s.CreateToken(tx, newToken(storage.KindAccess, "a1b", "req-1", "c1", "u1", at(100)))
		}},
		{"CreateToken refresh after rotation", func() error { return s.CreateToken(tx, newRefresh) }},
		{"DeactivateGrant", func() error { return counted(1)(s.DeactivateGrant(tx, storage.KindRefresh, "req-4")) }},
		{"DeleteGrant", func() error { return counted(1)(s.DeleteGrant(tx, storage.KindAccess, "req-4")) }},
		{"CreateSigningKey", func() error {
			return s.CreateSigningKey(tx, storage.SigningKey{ID: "k2", Algorithm: "ES256", PrivateKey: []byte("der-2"), CreatedAt: at(100)})
		}},
		{"RetireSigningKey", func() error { return s.RetireSigningKey(tx, "k1", at(100)) }},
		{"CreateSigningKey to delete", func() error {
			return s.CreateSigningKey(tx, storage.SigningKey{ID: "k-tmp", Algorithm: "ES256", PrivateKey: []byte("der"), CreatedAt: at(100)})
		}},
		{"DeleteSigningKey", func() error { return s.DeleteSigningKey(tx, "k-tmp") }},
		{"DeleteClient", func() error { return s.DeleteClient(tx, "c3") }},
		{"DeleteUnusedClients", func() error {
			ids, err := s.DeleteUnusedClients(tx, storage.SourceDCR, at(0), at(0), t0)
			if err == nil && !cmp.Equal(ids, []string{"c-stale"}) {
				t.Errorf("DeleteUnusedClients: got %q, want [c-stale]", ids)
			}
			return err
		}},
		{"CreateInitialAccessToken", func() error { return s.CreateInitialAccessToken(tx, iatNew) }},
		{"DeleteInitialAccessToken", func() error { return s.DeleteInitialAccessToken(tx, []byte("iat-delete")) }},
		{"DeleteUser", func() error { return s.DeleteUser(tx, "u3") }},
		{"AppendAudit", func() error { return s.AppendAudit(tx, auditEvent("audit-new", 100, "token.issued", "u2", "c2")) }},
		{"PruneAudit", func() error { return counted(1)(s.PruneAudit(tx, at(-500))) }},
		{"GarbageCollect", func() error {
			r, err := s.GarbageCollect(tx, t0)
			if want := (storage.GCResult{Tokens: 1, Sessions: 1, InitialAccessTokens: 1}); err == nil && r != want {
				t.Errorf("GarbageCollect: got %+v, want %+v", r, want)
			}
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s in transaction: %v", st.name, err)
		}
	}

	// Reads inside the transaction see its writes.
	inside := takeSnapshot(tx, t, s)
	if cmp.Equal(inside, before, cmpOpts...) {
		t.Fatalf("reads inside the transaction do not see its writes")
	}
	diff(t, "users inside the transaction", inside.Users, []storage.User{
		{ID: "u1", Username: "alice", PasswordHash: "$argon2id$new", CreatedAt: at(-100), UpdatedAt: at(100)},
		newUser("u2", "bob"),
	})
	if inside.UserCount != 2 {
		t.Errorf("CountUsers inside the transaction: got %d, want 2", inside.UserCount)
	}
	var clientIDs []string
	for _, c := range inside.Clients {
		clientIDs = append(clientIDs, c.ID)
	}
	diff(t, "clients inside the transaction", clientIDs, []string{"c1", "c2"})
	diff(t, "grant tokens of u1 inside the transaction", inside.GrantTokens, []storage.Token{
		newToken(storage.KindAccess, "a1b", "req-1", "c1", "u1", at(100)), newRefresh,
	})
	diff(t, "sessions inside the transaction", len(inside.Sessions), 1)
	diff(t, "signing keys inside the transaction", len(inside.Keys), 2)
	diff(t, "consents of u1 inside the transaction", inside.Consents["u1"], []storage.Consent{
		{UserID: "u1", ClientID: "c1", Scopes: []string{"a", "b"}, CreatedAt: at(0), UpdatedAt: at(100)},
	})
	if _, ok := inside.Tokens[tokenKey(storage.KindCode, "code-stale")]; ok {
		t.Errorf("token of the swept client inside the transaction: got present, want removed")
	}
	diff(t, "initial access tokens inside the transaction", inside.IATs, []storage.InitialAccessToken{iatNew, iatKeep})
	var audit []string
	for _, e := range inside.Audit {
		audit = append(audit, e.Detail)
	}
	diff(t, "audit events inside the transaction", audit, []string{"audit-new", "audit-keep"})

	if commit {
		must(t, "Commit", s.Commit(tx))
		diff(t, "store after Commit", takeSnapshot(ctx, t, s), inside)
	} else {
		must(t, "Rollback", s.Rollback(tx))
		diff(t, "store after Rollback", takeSnapshot(ctx, t, s), before)
	}
}

func testTxEnsureSecret(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()
	tx, err := s.BeginTx(ctx)
	must(t, "BeginTx", err)
	got, err := s.EnsureSecret(tx, "hmac", []byte("in-tx"))
	must(t, "EnsureSecret in transaction", err)
	if !bytes.Equal(got, []byte("in-tx")) {
		t.Errorf("EnsureSecret in transaction: got %q, want %q", got, "in-tx")
	}
	must(t, "Rollback", s.Rollback(tx))
	got, err = s.EnsureSecret(ctx, "hmac", []byte("after"))
	must(t, "EnsureSecret after rollback", err)
	if !bytes.Equal(got, []byte("after")) {
		t.Errorf("EnsureSecret after rollback: got %q, want %q (the rolled-back value must be gone)", got, "after")
	}
}
