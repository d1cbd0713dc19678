package storagetest

import (
	"testing"

	"github.com/tenantless/tenantless/storage"
)

func testConsentPut(t *testing.T, s storage.Store) {
	ctx := t.Context()
	createUsers(t, s, newUser("u1", "alice"))
	createClients(t, s, fullClient("c1", at(0)))
	first := storage.Consent{
		UserID: "u1", ClientID: "c1",
		Scopes:    []string{"weather:read"},
		Resources: []string{"https://mcp.example/mcp"},
		CreatedAt: at(10), UpdatedAt: at(10),
	}
	second := storage.Consent{
		UserID: "u1", ClientID: "c1",
		Scopes:    []string{"weather:read", "offline_access"},
		Resources: []string{"https://mcp.example/mcp", "https://other.example/mcp"},
		CreatedAt: at(20), UpdatedAt: at(20),
	}
	tests := []struct {
		name string
		put  storage.Consent
		want storage.Consent
	}{
		{"create", first, first},
		{"replace keeps CreatedAt", second, storage.Consent{
			UserID: "u1", ClientID: "c1", Scopes: second.Scopes, Resources: second.Resources,
			CreatedAt: at(10), UpdatedAt: at(20),
		}},
		{"replace with empty lists", storage.Consent{UserID: "u1", ClientID: "c1", CreatedAt: at(30), UpdatedAt: at(30)},
			storage.Consent{UserID: "u1", ClientID: "c1", CreatedAt: at(10), UpdatedAt: at(30)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "PutConsent", s.PutConsent(ctx, tc.put))
			got, err := s.GetConsent(ctx, "u1", "c1")
			must(t, "GetConsent", err)
			diff(t, "GetConsent", got, tc.want)
		})
	}
}

func testConsentListAndDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	createUsers(t, s, newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol"))
	createClients(t, s, fullClient("c1", at(0)), fullClient("c2", at(0)), fullClient("c3", at(0)))
	mk := func(user, client string, sec int) storage.Consent {
		return storage.Consent{UserID: user, ClientID: client, Scopes: []string{"s-" + client},
			Resources: []string{"https://mcp.example/mcp"}, CreatedAt: at(sec), UpdatedAt: at(sec)}
	}
	// Put in an order that is neither client ID nor time order.
	u1c2, u1c3, u1c1, u2c1 := mk("u1", "c2", 1), mk("u1", "c3", 2), mk("u1", "c1", 3), mk("u2", "c1", 0)
	for _, c := range []storage.Consent{u1c2, u1c3, u1c1, u2c1} {
		must(t, "PutConsent", s.PutConsent(ctx, c))
	}
	tests := []struct {
		user string
		want []storage.Consent
	}{
		{"u1", []storage.Consent{u1c1, u1c2, u1c3}},
		{"u2", []storage.Consent{u2c1}},
		{"u3", nil},
		{"unknown", nil},
	}
	for _, tc := range tests {
		got, err := s.ListConsents(ctx, tc.user)
		must(t, "ListConsents "+tc.user, err)
		diff(t, "ListConsents "+tc.user+" (by client ID)", got, tc.want)
	}

	must(t, "DeleteConsent", s.DeleteConsent(ctx, "u1", "c2"))
	_, err := s.GetConsent(ctx, "u1", "c2")
	wantErr(t, "GetConsent deleted", err, storage.ErrNotFound)
	wantErr(t, "DeleteConsent again", s.DeleteConsent(ctx, "u1", "c2"), storage.ErrNotFound)
	got, err := s.ListConsents(ctx, "u1")
	must(t, "ListConsents after delete", err)
	diff(t, "ListConsents after delete", got, []storage.Consent{u1c1, u1c3})
}

func testSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	createUsers(t, s, newUser("u1", "alice"))
	tests := []struct {
		name string
		sess storage.Session
	}{
		{"every field", storage.Session{IDHash: []byte{0x00, 0x01, 0xfe, 0xff}, UserID: "u1", CreatedAt: at(0), ExpiresAt: at(3600)}},
		{"sha256-sized hash, no expiry", storage.Session{IDHash: make([]byte, 32), UserID: "u1", CreatedAt: at(5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateSession", s.CreateSession(ctx, tc.sess))
			got, err := s.GetSession(ctx, tc.sess.IDHash)
			must(t, "GetSession", err)
			diff(t, "GetSession", got, tc.sess)
		})
	}
	must(t, "DeleteSession", s.DeleteSession(ctx, tests[0].sess.IDHash))
	_, err := s.GetSession(ctx, tests[0].sess.IDHash)
	wantErr(t, "GetSession deleted", err, storage.ErrNotFound)
	_, err = s.GetSession(ctx, tests[1].sess.IDHash)
	wantErr(t, "GetSession other", err, nil)
	wantErr(t, "DeleteSession again", s.DeleteSession(ctx, tests[0].sess.IDHash), storage.ErrNotFound)
}
