package storagetest

import (
	"sort"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

const day = 24 * time.Hour

// testDeleteUnusedClients runs one sweep over a store holding a client for
// every case of the contract, then checks each client, its tokens and its
// consents.
func testDeleteUnusedClients(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := t0
	neverUsedBefore := now.Add(-day)
	lastUsedBefore := now.Add(-30 * day)

	got, err := s.DeleteUnusedClients(ctx, storage.SourceDCR, neverUsedBefore, lastUsedBefore, now)
	must(t, "DeleteUnusedClients on empty store", err)
	diff(t, "DeleteUnusedClients on empty store", got, []string(nil))

	createUsers(t, s, newUser("u1", "alice"), newUser("u2", "bob"))

	// client is a client of source created at created and last used at
	// lastUsed (zero: never).
	client := func(id, source string, created, lastUsed time.Time) storage.Client {
		c := publicClient(id, source, created)
		c.LastUsedAt = lastUsed
		return c
	}
	// token is a row of client with the given expiry and state.
	token := func(kind storage.TokenKind, client, sig string, expires time.Time, active bool) storage.Token {
		x := newToken(kind, sig, "req-"+sig, client, "u1", now.Add(-60*day))
		x.ExpiresAt, x.Active = expires, active
		return x
	}
	never := time.Time{}
	// Rows are not in ID order, nor in creation order, so that the sorted
	// result is the store's doing.
	tests := []struct {
		name    string
		client  storage.Client
		tokens  []storage.Token
		removed bool
	}{
		{
			name:    "never used, created before the cutoff",
			client:  client("dcr-never-used-old", storage.SourceDCR, now.Add(-2*day), never),
			removed: true,
		},
		{
			name:   "never used, created recently",
			client: client("dcr-never-used-recent", storage.SourceDCR, now.Add(-time.Hour), never),
		},
		{
			name:   "never used, created at the cutoff",
			client: client("dcr-never-used-at-cutoff", storage.SourceDCR, neverUsedBefore, never),
		},
		{
			name:    "used long ago",
			client:  client("dcr-used-long-ago", storage.SourceDCR, now.Add(-100*day), now.Add(-40*day)),
			removed: true,
		},
		{
			// Older than neverUsedBefore, newer than lastUsedBefore: a used
			// client is judged by lastUsedBefore alone.
			name:   "used recently",
			client: client("dcr-used-recently", storage.SourceDCR, now.Add(-100*day), now.Add(-2*day)),
		},
		{
			name:   "last used at the cutoff",
			client: client("dcr-used-at-cutoff", storage.SourceDCR, now.Add(-100*day), lastUsedBefore),
		},
		{
			name:   "unused for ages, live refresh token that never expires",
			client: client("dcr-live-refresh", storage.SourceDCR, now.Add(-100*day), now.Add(-90*day)),
			tokens: []storage.Token{token(storage.KindRefresh, "dcr-live-refresh", "live-refresh", never, true)},
		},
		{
			name:   "never used, live access token",
			client: client("dcr-live-access", storage.SourceDCR, now.Add(-100*day), never),
			tokens: []storage.Token{token(storage.KindAccess, "dcr-live-access", "live-access", now.Add(time.Minute), true)},
		},
		{
			// Not before now, so not expired: GarbageCollect keeps it too.
			name:   "unused for ages, refresh token expiring now",
			client: client("dcr-refresh-expires-now", storage.SourceDCR, now.Add(-100*day), now.Add(-90*day)),
			tokens: []storage.Token{token(storage.KindRefresh, "dcr-refresh-expires-now", "refresh-now", now, true)},
		},
		{
			// A sign-in in progress: the code's token request must still
			// find the client.
			name:   "never used, created long ago, a live code",
			client: client("dcr-live-code", storage.SourceDCR, now.Add(-100*day), never),
			tokens: []storage.Token{token(storage.KindCode, "dcr-live-code", "live-code", now.Add(time.Minute), true)},
		},
		{
			name:   "unused for ages, only expired or inactive tokens and codes",
			client: client("dcr-dead-tokens", storage.SourceDCR, now.Add(-100*day), now.Add(-90*day)),
			tokens: []storage.Token{
				token(storage.KindAccess, "dcr-dead-tokens", "expired-access", now.Add(-time.Second), true),
				token(storage.KindRefresh, "dcr-dead-tokens", "expired-refresh", now.Add(-time.Hour), true),
				token(storage.KindRefresh, "dcr-dead-tokens", "inactive-refresh", never, false),
				token(storage.KindAccess, "dcr-dead-tokens", "inactive-access", now.Add(time.Hour), false),
				token(storage.KindCode, "dcr-dead-tokens", "expired-code", now.Add(-time.Second), true),
				token(storage.KindCode, "dcr-dead-tokens", "used-code", now.Add(time.Minute), false),
				// A PKCE row holds nothing, however live.
				token(storage.KindPKCE, "dcr-dead-tokens", "live-pkce", now.Add(time.Minute), true),
			},
			removed: true,
		},
		{
			name:   "static client never used, created long ago",
			client: client("static-never-used-old", storage.SourceStatic, now.Add(-100*day), never),
		},
		{
			name:   "static client used long ago",
			client: client("static-used-long-ago", storage.SourceStatic, now.Add(-100*day), now.Add(-40*day)),
		},
		{
			name:   "metadata document client never used, created long ago",
			client: client("https://app.example/client.json", storage.SourceCIMD, now.Add(-100*day), never),
		},
		{
			name:   "metadata document client used long ago",
			client: client("https://old.example/client.json", storage.SourceCIMD, now.Add(-100*day), now.Add(-40*day)),
		},
	}
	var wantRemoved []string
	for _, tc := range tests {
		createClients(t, s, tc.client)
		createTokens(t, s, tc.tokens...)
		for _, u := range []string{"u1", "u2"} {
			must(t, "PutConsent", s.PutConsent(ctx, storage.Consent{UserID: u, ClientID: tc.client.ID,
				Scopes: []string{"weather:read"}, CreatedAt: at(-10), UpdatedAt: at(-10)}))
		}
		if tc.removed {
			wantRemoved = append(wantRemoved, tc.client.ID)
		}
	}
	// Zero cutoffs select nothing: no time is before the zero time.
	got, err = s.DeleteUnusedClients(ctx, storage.SourceDCR, never, never, now)
	must(t, "DeleteUnusedClients with zero cutoffs", err)
	diff(t, "DeleteUnusedClients with zero cutoffs", got, []string(nil))

	got, err = s.DeleteUnusedClients(ctx, storage.SourceDCR, neverUsedBefore, lastUsedBefore, now)
	must(t, "DeleteUnusedClients", err)
	sort.Strings(wantRemoved)
	diff(t, "DeleteUnusedClients IDs (sorted)", got, wantRemoved)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotC, err := s.GetClient(ctx, tc.client.ID)
			switch {
			case tc.removed:
				wantErr(t, "GetClient", err, storage.ErrNotFound)
			case err != nil:
				t.Fatalf("GetClient: got error %v, want the client kept", err)
			default:
				diff(t, "kept client", gotC, tc.client)
			}
			wantConsent := error(nil)
			if tc.removed {
				wantConsent = storage.ErrNotFound
			}
			for _, u := range []string{"u1", "u2"} {
				_, err := s.GetConsent(ctx, u, tc.client.ID)
				wantErr(t, "GetConsent "+u, err, wantConsent)
			}
			wantTokens := map[string]string{}
			for _, x := range tc.tokens {
				switch {
				case tc.removed:
					wantTokens[tokenKey(x.Kind, x.Signature)] = "missing"
				case x.Active:
					wantTokens[tokenKey(x.Kind, x.Signature)] = "active"
				default:
					wantTokens[tokenKey(x.Kind, x.Signature)] = "inactive"
				}
			}
			diff(t, "token states", tokenStates(ctx, t, s, tc.tokens...), wantTokens)
		})
	}

	got, err = s.DeleteUnusedClients(ctx, storage.SourceDCR, neverUsedBefore, lastUsedBefore, now)
	must(t, "DeleteUnusedClients again", err)
	diff(t, "DeleteUnusedClients again", got, []string(nil))

	// The sweep decides liveness at the now it is given, not by the wall
	// clock: a minute later, the access token has expired.
	got, err = s.DeleteUnusedClients(ctx, storage.SourceDCR, neverUsedBefore, lastUsedBefore, now.Add(time.Minute+time.Second))
	must(t, "DeleteUnusedClients a minute later", err)
	diff(t, "DeleteUnusedClients a minute later", got, []string{"dcr-live-access", "dcr-live-code", "dcr-refresh-expires-now"})

	// Other sources are swept only when asked for, by the same rules.
	got, err = s.DeleteUnusedClients(ctx, storage.SourceCIMD, neverUsedBefore, lastUsedBefore, now)
	must(t, "DeleteUnusedClients cimd", err)
	diff(t, "DeleteUnusedClients cimd", got,
		[]string{"https://app.example/client.json", "https://old.example/client.json"})
	clients, err := s.ListClients(ctx)
	must(t, "ListClients", err)
	var left []string
	for _, c := range clients {
		left = append(left, c.ID)
	}
	sort.Strings(left)
	diff(t, "clients left", left, []string{
		"dcr-live-refresh", "dcr-never-used-at-cutoff", "dcr-never-used-recent", "dcr-used-at-cutoff", "dcr-used-recently",
		"static-never-used-old", "static-used-long-ago",
	})
}
