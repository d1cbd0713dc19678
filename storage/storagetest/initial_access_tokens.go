package storagetest

import (
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

func testInitialAccessTokenRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		tok  storage.InitialAccessToken
	}{
		{"every field", storage.InitialAccessToken{
			Hash: []byte("hash-full"), Note: "CI pipeline", CreatedAt: at(1), ExpiresAt: at(3600)}},
		{"never expires", storage.InitialAccessToken{
			Hash: []byte("hash-never"), Note: "for the desktop app", CreatedAt: at(2)}},
		{"empty note", storage.InitialAccessToken{Hash: []byte("hash-bare"), CreatedAt: at(3), ExpiresAt: at(60)}},
		{"binary hash", storage.InitialAccessToken{
			Hash: []byte{0x00, 0xff, 0x10, 0x00, 0x7f}, Note: "ünïcode ✓", CreatedAt: at(4)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateInitialAccessToken", s.CreateInitialAccessToken(ctx, tc.tok))
			got, err := s.GetInitialAccessToken(ctx, tc.tok.Hash)
			must(t, "GetInitialAccessToken", err)
			diff(t, "GetInitialAccessToken", got, tc.tok)
			if tc.tok.ExpiresAt.IsZero() && !got.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt: got %v, want the zero time", got.ExpiresAt)
			}
		})
	}
	// Get does not check expiry.
	expired := storage.InitialAccessToken{Hash: []byte("hash-expired"), CreatedAt: at(-100), ExpiresAt: at(-50)}
	must(t, "CreateInitialAccessToken expired", s.CreateInitialAccessToken(ctx, expired))
	got, err := s.GetInitialAccessToken(ctx, expired.Hash)
	must(t, "GetInitialAccessToken expired", err)
	diff(t, "GetInitialAccessToken expired", got, expired)
}

func testInitialAccessTokenListAndDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got, err := s.ListInitialAccessTokens(ctx)
	must(t, "ListInitialAccessTokens on empty store", err)
	if len(got) != 0 {
		t.Errorf("ListInitialAccessTokens on empty store: got %d tokens, want 0", len(got))
	}
	t1 := storage.InitialAccessToken{Hash: []byte("a"), Note: "oldest", CreatedAt: at(0), ExpiresAt: at(100)}
	t2 := storage.InitialAccessToken{Hash: []byte("c"), Note: "middle", CreatedAt: at(10)}
	t3 := storage.InitialAccessToken{Hash: []byte("b"), Note: "newest", CreatedAt: at(20), ExpiresAt: at(30)}
	// Created out of order and with hashes out of order: the list is by
	// creation time, not insertion or hash.
	for _, x := range []storage.InitialAccessToken{t2, t3, t1} {
		must(t, "CreateInitialAccessToken "+x.Note, s.CreateInitialAccessToken(ctx, x))
	}
	got, err = s.ListInitialAccessTokens(ctx)
	must(t, "ListInitialAccessTokens", err)
	diff(t, "ListInitialAccessTokens (newest first)", got, []storage.InitialAccessToken{t3, t2, t1})

	must(t, "DeleteInitialAccessToken", s.DeleteInitialAccessToken(ctx, t2.Hash))
	_, err = s.GetInitialAccessToken(ctx, t2.Hash)
	wantErr(t, "GetInitialAccessToken deleted", err, storage.ErrNotFound)
	got, err = s.ListInitialAccessTokens(ctx)
	must(t, "ListInitialAccessTokens after delete", err)
	diff(t, "ListInitialAccessTokens after delete", got, []storage.InitialAccessToken{t3, t1})
	wantErr(t, "DeleteInitialAccessToken again", s.DeleteInitialAccessToken(ctx, t2.Hash), storage.ErrNotFound)

	// The hash is free again.
	must(t, "CreateInitialAccessToken after delete", s.CreateInitialAccessToken(ctx, t2))
}

func testInitialAccessTokenGarbageCollect(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := t0
	tok := func(hash string, created, expires time.Time) storage.InitialAccessToken {
		return storage.InitialAccessToken{Hash: []byte(hash), Note: hash, CreatedAt: created, ExpiresAt: expires}
	}
	expired := []storage.InitialAccessToken{tok("expired", at(-1000), at(-1)), tok("long-expired", at(-1000), at(-500))}
	// Newest first, as ListInitialAccessTokens returns them.
	never := tok("never", at(-10), time.Time{})
	live := []storage.InitialAccessToken{never, tok("fresh", at(-20), at(60)), tok("expires-now", at(-30), now)}
	for _, x := range append(expired, live...) {
		must(t, "CreateInitialAccessToken "+x.Note, s.CreateInitialAccessToken(ctx, x))
	}

	got, err := s.GarbageCollect(ctx, now)
	must(t, "GarbageCollect", err)
	diff(t, "GarbageCollect counts", got, storage.GCResult{InitialAccessTokens: 2})
	list, err := s.ListInitialAccessTokens(ctx)
	must(t, "ListInitialAccessTokens", err)
	diff(t, "tokens left", list, live)

	got, err = s.GarbageCollect(ctx, now)
	must(t, "GarbageCollect again", err)
	diff(t, "GarbageCollect again", got, storage.GCResult{})

	// Later, the token that expires at "now" goes too; the one that never
	// expires stays whatever the time.
	got, err = s.GarbageCollect(ctx, now.Add(time.Second))
	must(t, "GarbageCollect a second later", err)
	diff(t, "GarbageCollect a second later", got, storage.GCResult{InitialAccessTokens: 1})
	got, err = s.GarbageCollect(ctx, now.Add(100*365*day))
	must(t, "GarbageCollect a century later", err)
	diff(t, "GarbageCollect a century later", got, storage.GCResult{InitialAccessTokens: 1})
	list, err = s.ListInitialAccessTokens(ctx)
	must(t, "ListInitialAccessTokens", err)
	diff(t, "tokens left a century later", list, []storage.InitialAccessToken{never})
}
