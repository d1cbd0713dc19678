package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tenantless/tenantless/storage"
)

// Run runs the conformance suite against the backend that newStore opens.
//
// newStore must return a new, empty store for every call, and may use t
// (t.TempDir, t.Fatal) to do so. Run closes each store when its test ends
// and fails the test if Close returns an error, so newStore must not close
// it itself.
//
// Beyond the doc comments of storage.Store, the suite expects: empty lists
// may be nil or empty; times come back in UTC with second precision and the
// zero time.Time comes back as the zero time; GarbageCollect decides whether
// a client "holds no tokens" after removing the expired ones, and removes
// the consents of the clients it removes, as DeleteClient does.
// DeleteUnusedClients returns the removed IDs sorted; "before" its cutoffs
// is strict, so zero cutoffs select nothing; and an access or refresh row
// whose ExpiresAt equals now is still live there, as GarbageCollect keeps
// it. Audit event IDs are never reused, even after PruneAudit removed the
// newest events; ListAudit returns at least 1001 events when Limit asks for
// them, and fails on a negative Limit; PruneAudit keeps an event exactly at
// before, prunes nothing for the zero before, and counts an event with the
// zero Time as older than any other before.
//
// Tests that hold a transaction use a deadline, so a method that ignores the
// transaction in its context and waits for the writer fails instead of
// hanging.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"Ping", testPing},
		{"Errors", testErrors},
		{"Clients/RoundTrip", testClientRoundTrip},
		{"Clients/Update", testClientUpdate},
		{"Clients/ListOrder", testClientListOrder},
		{"Clients/Touch", testClientTouch},
		{"Clients/DeleteCascades", testClientDeleteCascades},
		{"Clients/DeleteUnused", testDeleteUnusedClients},
		{"Users/RoundTrip", testUserRoundTrip},
		{"Users/ListAndCount", testUserListAndCount},
		{"Users/SetPassword", testUserSetPassword},
		{"Users/DeleteCascades", testUserDeleteCascades},
		{"Consents/PutKeepsCreatedAt", testConsentPut},
		{"Consents/ListAndDelete", testConsentListAndDelete},
		{"Sessions", testSessions},
		{"Tokens/RoundTrip", testTokenRoundTrip},
		{"Tokens/Delete", testTokenDelete},
		{"Tokens/DeactivateToken", testDeactivateToken},
		{"Tokens/DeactivateGrant", testDeactivateGrant},
		{"Tokens/DeleteGrant", testDeleteGrant},
		{"Tokens/RotateRefreshToken", testRotateRefreshToken},
		{"Tokens/RevokeAfterRotation", testRevokeAfterRotation},
		{"Tokens/ListGrantTokens", testListGrantTokens},
		{"SigningKeys", testSigningKeys},
		{"Resources/RoundTrip", testResourceRoundTrip},
		{"Resources/Put", testResourcePut},
		{"Resources/ListAndDelete", testResourceListAndDelete},
		{"Resources/RevokeGrants", testRevokeResourceGrants},
		{"Resources/Tx", testResourceTx},
		{"InitialAccessTokens/RoundTrip", testInitialAccessTokenRoundTrip},
		{"InitialAccessTokens/ListAndDelete", testInitialAccessTokenListAndDelete},
		{"InitialAccessTokens/GarbageCollect", testInitialAccessTokenGarbageCollect},
		{"Audit/RoundTrip", testAuditRoundTrip},
		{"Audit/IDs", testAuditIDs},
		{"Audit/Order", testAuditOrder},
		{"Audit/Filters", testAuditFilters},
		{"Audit/Limit", testAuditLimit},
		{"Audit/Prune", testAuditPrune},
		{"Audit/Tx", testAuditTx},
		{"Audit/SurvivesDeletes", testAuditSurvivesDeletes},
		{"EnsureSecret", testEnsureSecret},
		{"TakeAttempt", testTakeAttempt},
		{"GarbageCollect", testGarbageCollect},
		{"Tx/Control", testTxControl},
		{"Tx/RollbackUndoesEveryWrite", func(t *testing.T, s storage.Store) { testTxEveryWrite(t, s, false) }},
		{"Tx/CommitKeepsEveryWrite", func(t *testing.T, s storage.Store) { testTxEveryWrite(t, s, true) }},
		{"Tx/EnsureSecretRolledBack", testTxEnsureSecret},
		{"Concurrent/DeactivateToken", testConcurrentDeactivate},
		{"Concurrent/RotateRefreshToken", testConcurrentRotate},
		{"Concurrent/RotateRefreshTokenInTx", testConcurrentRotateInTx},
		{"Concurrent/RotateRefreshTokenGrace", testConcurrentRotateGrace},
		{"Concurrent/EnsureSecret", testConcurrentEnsureSecret},
		{"Concurrent/AppendAudit", testConcurrentAppendAudit},
		{"Concurrent/TakeAttempt", testConcurrentTakeAttempt},
		{"Concurrent/MixedLoad", testConcurrentMixed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: got %v, want nil", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is the suite's "now". Every time in the suite is a whole second
// relative to it.
var t0 = time.Unix(1_700_000_000, 0).UTC()

// at returns t0 plus sec seconds.
func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// cmpOpts treat nil and empty slices alike and require times to be equal
// instants in the same location (UTC).
var cmpOpts = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() }),
}

// diff reports a mismatch between got and want.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// must fails the test at once if err is not nil; it is for set-up steps.
func must(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// wantErr reports err unless errors.Is(err, want); want nil means success.
func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", op, err, want)
	}
}

func fullClient(id string, created time.Time) storage.Client {
	return storage.Client{
		ID:                      id,
		SecretHash:              []byte("secret-hash-" + id),
		Name:                    "Client " + id,
		RedirectURIs:            []string{"https://" + id + ".example/cb", "http://127.0.0.1/cb"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"weather:read", "offline_access"},
		TokenEndpointAuthMethod: "client_secret_basic",
		Source:                  storage.SourceDCR,
		Metadata:                []byte(`{"client_name":"Client ` + id + `"}`),
		RegistrationTokenHash:   []byte("registration-hash-" + id),
		CreatedAt:               created,
		UpdatedAt:               created.Add(time.Minute),
		ExpiresAt:               created.Add(time.Hour),
		LastUsedAt:              created.Add(2 * time.Minute),
	}
}

// publicClient is a client with every optional field empty.
func publicClient(id string, source string, created time.Time) storage.Client {
	return storage.Client{
		ID:                      id,
		Name:                    "Public " + id,
		RedirectURIs:            []string{"http://127.0.0.1/callback"},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none",
		Source:                  source,
		CreatedAt:               created,
		UpdatedAt:               created,
	}
}

func newUser(id, username string) storage.User {
	return storage.User{
		ID:           id,
		Username:     username,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$" + id,
		CreatedAt:    at(-100),
		UpdatedAt:    at(-50),
	}
}

// newToken returns an active row of one grant that expires an hour after
// it was requested.
func newToken(kind storage.TokenKind, sig, requestID, clientID, subject string, requested time.Time) storage.Token {
	return storage.Token{
		Kind:        kind,
		Signature:   sig,
		RequestID:   requestID,
		ClientID:    clientID,
		Subject:     subject,
		RequestedAt: requested,
		ExpiresAt:   requested.Add(time.Hour),
		Active:      true,
		Data:        []byte(`{"request":"` + sig + `"}`),
	}
}

func createClients(t *testing.T, s storage.Store, cs ...storage.Client) {
	t.Helper()
	for _, c := range cs {
		must(t, "CreateClient "+c.ID, s.CreateClient(t.Context(), c))
	}
}

func createUsers(t *testing.T, s storage.Store, us ...storage.User) {
	t.Helper()
	for _, u := range us {
		must(t, "CreateUser "+u.ID, s.CreateUser(t.Context(), u))
	}
}

func createTokens(t *testing.T, s storage.Store, ts ...storage.Token) {
	t.Helper()
	for _, tok := range ts {
		must(t, "CreateToken "+string(tok.Kind)+" "+tok.Signature, s.CreateToken(t.Context(), tok))
	}
}

// tokenKey names a token row in state maps.
func tokenKey(kind storage.TokenKind, sig string) string { return string(kind) + "/" + sig }

// tokenStates returns, for each row, "active", "inactive" or "missing".
func tokenStates(ctx context.Context, t *testing.T, s storage.Store, ts ...storage.Token) map[string]string {
	t.Helper()
	m := make(map[string]string, len(ts))
	for _, tok := range ts {
		got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			m[tokenKey(tok.Kind, tok.Signature)] = "missing"
		case err != nil:
			t.Fatalf("GetToken %s: %v", tokenKey(tok.Kind, tok.Signature), err)
		case got.Active:
			m[tokenKey(tok.Kind, tok.Signature)] = "active"
		default:
			m[tokenKey(tok.Kind, tok.Signature)] = "inactive"
		}
	}
	return m
}

func testPing(t *testing.T, s storage.Store) {
	wantErr(t, "Ping", s.Ping(t.Context()), nil)
}
