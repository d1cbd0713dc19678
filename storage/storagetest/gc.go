package storagetest

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

func testGarbageCollect(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := t0

	got, err := s.GarbageCollect(ctx, now)
	must(t, "GarbageCollect on empty store", err)
	diff(t, "GarbageCollect on empty store", got, storage.GCResult{})

	createUsers(t, s, newUser("u1", "alice"))
	client := func(id, source string, expires time.Time) storage.Client {
		c := publicClient(id, source, at(-1000))
		c.ExpiresAt = expires
		return c
	}
	createClients(t, s,
		client("static-1", storage.SourceStatic, time.Time{}),
		client("cimd-expired", storage.SourceCIMD, at(-1)),                // removed
		client("cimd-expired-consent", storage.SourceCIMD, at(-1)),        // kept: a user consented to it
		client("cimd-expired-token-expired", storage.SourceCIMD, at(-1)),  // removed with its token
		client("cimd-expired-live-token", storage.SourceCIMD, at(-1)),     // kept: holds a token
		client("cimd-expired-inactive-token", storage.SourceCIMD, at(-1)), // kept: holds a token
		client("cimd-expires-now", storage.SourceCIMD, now),               // kept: not before now
		client("cimd-fresh", storage.SourceCIMD, at(60)),
		client("cimd-never", storage.SourceCIMD, time.Time{}),
		client("static-expired", storage.SourceStatic, at(-1)),
		client("dcr-expired", storage.SourceDCR, at(-1)),
	)
	must(t, "PutConsent", s.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "cimd-expired-consent", CreatedAt: at(-10), UpdatedAt: at(-10)}))
	must(t, "PutConsent", s.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "cimd-fresh", CreatedAt: at(-10), UpdatedAt: at(-10)}))

	tok := func(kind storage.TokenKind, sig, client string, expires time.Time, active bool) storage.Token {
		x := newToken(kind, sig, "req-"+sig, client, "u1", at(-3600))
		x.ExpiresAt, x.Active = expires, active
		return x
	}
	expired := []storage.Token{
		tok(storage.KindCode, "code-expired", "static-1", at(-1), true),
		tok(storage.KindPKCE, "pkce-expired", "static-1", at(-1), true),
		tok(storage.KindAccess, "access-expired", "static-1", at(-100), true),
		tok(storage.KindRefresh, "refresh-expired", "static-1", at(-1), true),
		tok(storage.KindRefresh, "refresh-expired-inactive", "static-1", at(-1), false),
		tok(storage.KindAccess, "cimd-token-expired", "cimd-expired-token-expired", at(-1), true),
	}
	live := []storage.Token{
		tok(storage.KindCode, "code-live", "static-1", at(1), true),
		tok(storage.KindAccess, "access-expires-now", "static-1", now, true),
		tok(storage.KindRefresh, "refresh-never", "static-1", time.Time{}, true),
		tok(storage.KindAccess, "access-never", "static-1", time.Time{}, true),
		tok(storage.KindRefresh, "cimd-token-live", "cimd-expired-live-token", at(60), true),
		tok(storage.KindRefresh, "cimd-token-inactive", "cimd-expired-inactive-token", at(60), false),
	}
	createTokens(t, s, append(expired, live...)...)

	expiredSessions := []storage.Session{
		{IDHash: []byte("s-expired"), UserID: "u1", CreatedAt: at(-100), ExpiresAt: at(-1)},
		{IDHash: []byte("s-long-expired"), UserID: "u1", CreatedAt: at(-100), ExpiresAt: at(-99)},
	}
	liveSessions := []storage.Session{
		{IDHash: []byte("s-expires-now"), UserID: "u1", CreatedAt: at(-100), ExpiresAt: now},
		{IDHash: []byte("s-live"), UserID: "u1", CreatedAt: at(-100), ExpiresAt: at(1)},
		{IDHash: []byte("s-never"), UserID: "u1", CreatedAt: at(-100)},
	}
	for _, sess := range append(expiredSessions, liveSessions...) {
		must(t, "CreateSession", s.CreateSession(ctx, sess))
	}

	got, err = s.GarbageCollect(ctx, now)
	must(t, "GarbageCollect", err)
	diff(t, "GarbageCollect counts", got, storage.GCResult{Tokens: 6, Sessions: 2, Clients: 2})

	wantTokens := map[string]string{}
	for _, x := range expired {
		wantTokens[tokenKey(x.Kind, x.Signature)] = "missing"
	}
	for _, x := range live {
		wantTokens[tokenKey(x.Kind, x.Signature)] = "active"
		if !x.Active {
			wantTokens[tokenKey(x.Kind, x.Signature)] = "inactive"
		}
	}
	diff(t, "token states", tokenStates(ctx, t, s, append(expired, live...)...), wantTokens)

	for _, sess := range expiredSessions {
		_, err := s.GetSession(ctx, sess.IDHash)
		wantErr(t, "GetSession "+string(sess.IDHash), err, storage.ErrNotFound)
	}
	for _, sess := range liveSessions {
		_, err := s.GetSession(ctx, sess.IDHash)
		wantErr(t, "GetSession "+string(sess.IDHash), err, nil)
	}

	clients, err := s.ListClients(ctx)
	must(t, "ListClients", err)
	var ids []string
	for _, c := range clients {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	diff(t, "clients left", ids, []string{
		"cimd-expired-consent", "cimd-expired-inactive-token", "cimd-expired-live-token", "cimd-expires-now",
		"cimd-fresh", "cimd-never", "dcr-expired", "static-1", "static-expired",
	})
	_, err = s.GetConsent(ctx, "u1", "cimd-expired-consent")
	wantErr(t, "GetConsent of an expired metadata-document client (the consent belongs to its client_id)", err, nil)
	_, err = s.GetConsent(ctx, "u1", "cimd-fresh")
	wantErr(t, "GetConsent of kept client", err, nil)

	got, err = s.GarbageCollect(ctx, now)
	must(t, "GarbageCollect again", err)
	diff(t, "GarbageCollect again", got, storage.GCResult{})

	// Later, the rows that expire at "now" go too.
	got, err = s.GarbageCollect(ctx, now.Add(time.Second))
	must(t, "GarbageCollect a second later", err)
	diff(t, "GarbageCollect a second later", got, storage.GCResult{Tokens: 1, Sessions: 1, Clients: 1})
	if _, err := s.GetClient(ctx, "cimd-expires-now"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetClient cimd-expires-now: got error %v, want %v", err, storage.ErrNotFound)
	}

	// Once the consent is revoked, the expired record goes.
	must(t, "DeleteConsent", s.DeleteConsent(ctx, "u1", "cimd-expired-consent"))
	got, err = s.GarbageCollect(ctx, now.Add(time.Second))
	must(t, "GarbageCollect after the consent is revoked", err)
	diff(t, "GarbageCollect after the consent is revoked", got, storage.GCResult{Clients: 1})
}
