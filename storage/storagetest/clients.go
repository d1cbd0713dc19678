package storagetest

import (
	"testing"

	"github.com/tenantless/tenantless/storage"
)

func testClientRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	cimd := fullClient("https://app.example/oauth/client.json", at(3))
	cimd.Source = storage.SourceCIMD
	cimd.SecretHash, cimd.RegistrationTokenHash = nil, nil
	cimd.TokenEndpointAuthMethod = "none"
	static := fullClient("static-1", at(4))
	static.Source = storage.SourceStatic
	static.ExpiresAt = at(4000)
	tests := []struct {
		name string
		c    storage.Client
	}{
		{"confidential DCR client with every field", fullClient("dcr-1", at(1))},
		{"public client, optional fields empty, zero times", publicClient("public-1", storage.SourceDCR, at(2))},
		{"metadata document client", cimd},
		{"static client", static},
		{"empty lists", storage.Client{ID: "bare", Source: storage.SourceStatic, CreatedAt: at(5), UpdatedAt: at(5)}},
	}
	var all []storage.Client
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateClient", s.CreateClient(ctx, tc.c))
			got, err := s.GetClient(ctx, tc.c.ID)
			must(t, "GetClient", err)
			diff(t, "GetClient", got, tc.c)
			if tc.c.ExpiresAt.IsZero() && !got.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt: got %v, want the zero time", got.ExpiresAt)
			}
			if tc.c.LastUsedAt.IsZero() && !got.LastUsedAt.IsZero() {
				t.Errorf("LastUsedAt: got %v, want the zero time", got.LastUsedAt)
			}
		})
		all = append(all, tc.c)
	}
	got, err := s.ListClients(ctx)
	must(t, "ListClients", err)
	diff(t, "ListClients", got, all)
}

func testClientUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	orig := fullClient("c1", at(0))
	createClients(t, s, orig, fullClient("c2", at(1)))

	upd := storage.Client{
		ID:                      "c1",
		SecretHash:              []byte("new-hash"),
		Name:                    "Renamed",
		RedirectURIs:            []string{"https://new.example/cb"},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"weather:read"},
		TokenEndpointAuthMethod: "client_secret_post",
		Source:                  storage.SourceStatic,
		Metadata:                []byte(`{"client_name":"Renamed"}`),
		RegistrationTokenHash:   []byte("new-registration-hash"),
		CreatedAt:               at(999), // ignored
		UpdatedAt:               at(100),
		ExpiresAt:               at(200),
		LastUsedAt:              at(150),
	}
	must(t, "UpdateClient", s.UpdateClient(ctx, upd))
	want := upd
	want.CreatedAt = orig.CreatedAt
	got, err := s.GetClient(ctx, "c1")
	must(t, "GetClient", err)
	diff(t, "updated client", got, want)

	// Clearing optional fields clears them.
	cleared := publicClient("c1", storage.SourceDCR, at(0))
	cleared.UpdatedAt = at(300)
	must(t, "UpdateClient clearing", s.UpdateClient(ctx, cleared))
	got, err = s.GetClient(ctx, "c1")
	must(t, "GetClient", err)
	diff(t, "cleared client", got, cleared)

	other, err := s.GetClient(ctx, "c2")
	must(t, "GetClient c2", err)
	diff(t, "untouched client", other, fullClient("c2", at(1)))
}

func testClientListOrder(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got, err := s.ListClients(ctx)
	must(t, "ListClients on empty store", err)
	if len(got) != 0 {
		t.Errorf("ListClients on empty store: got %d clients, want 0", len(got))
	}
	createClients(t, s,
		publicClient("b", storage.SourceDCR, at(10)),
		publicClient("a", storage.SourceDCR, at(20)),
		publicClient("c", storage.SourceCIMD, at(10)),
		publicClient("d", storage.SourceStatic, at(-5)),
	)
	got, err = s.ListClients(ctx)
	must(t, "ListClients", err)
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	diff(t, "ListClients order (creation time, then ID)", ids, []string{"d", "b", "c", "a"})
}

func testClientTouch(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := publicClient("c1", storage.SourceDCR, at(0))
	createClients(t, s, c, publicClient("c2", storage.SourceDCR, at(0)))
	for _, when := range []int{10, 20} {
		must(t, "TouchClient", s.TouchClient(ctx, "c1", at(when)))
		got, err := s.GetClient(ctx, "c1")
		must(t, "GetClient", err)
		want := c
		want.LastUsedAt = at(when)
		diff(t, "touched client", got, want)
	}
	got, err := s.GetClient(ctx, "c2")
	must(t, "GetClient c2", err)
	if !got.LastUsedAt.IsZero() {
		t.Errorf("untouched client LastUsedAt: got %v, want the zero time", got.LastUsedAt)
	}
}

func testClientDeleteCascades(t *testing.T, s storage.Store) {
	ctx := t.Context()
	createUsers(t, s, newUser("u1", "alice"), newUser("u2", "bob"))
	createClients(t, s, fullClient("c1", at(0)), fullClient("c2", at(1)))
	for _, c := range []storage.Consent{
		{UserID: "u1", ClientID: "c1", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u2", ClientID: "c1", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
		{UserID: "u1", ClientID: "c2", Scopes: []string{"a"}, CreatedAt: at(0), UpdatedAt: at(0)},
	} {
		must(t, "PutConsent", s.PutConsent(ctx, c))
	}
	doomed := []storage.Token{
		newToken(storage.KindCode, "c1-code", "r1", "c1", "u1", at(0)),
		newToken(storage.KindPKCE, "c1-code", "r1", "c1", "u1", at(0)),
		newToken(storage.KindAccess, "c1-access", "r1", "c1", "u1", at(0)),
		newToken(storage.KindRefresh, "c1-refresh", "r1", "c1", "u1", at(0)),
		newToken(storage.KindRefresh, "c1-refresh-u2", "r2", "c1", "u2", at(0)),
	}
	kept := []storage.Token{
		newToken(storage.KindAccess, "c2-access", "r3", "c2", "u1", at(0)),
		newToken(storage.KindRefresh, "c2-refresh", "r3", "c2", "u1", at(0)),
	}
	createTokens(t, s, append(doomed, kept...)...)

	must(t, "DeleteClient", s.DeleteClient(ctx, "c1"))

	_, err := s.GetClient(ctx, "c1")
	wantErr(t, "GetClient deleted", err, storage.ErrNotFound)
	for _, u := range []string{"u1", "u2"} {
		_, err := s.GetConsent(ctx, u, "c1")
		wantErr(t, "GetConsent "+u+" of deleted client", err, storage.ErrNotFound)
	}
	_, err = s.GetConsent(ctx, "u1", "c2")
	wantErr(t, "GetConsent of other client", err, nil)
	want := map[string]string{}
	for _, tok := range doomed {
		want[tokenKey(tok.Kind, tok.Signature)] = "missing"
	}
	for _, tok := range kept {
		want[tokenKey(tok.Kind, tok.Signature)] = "active"
	}
	diff(t, "token states", tokenStates(ctx, t, s, append(doomed, kept...)...), want)
	if n, err := s.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers: got %d, %v, want 2, nil", n, err)
	}
	wantErr(t, "DeleteClient again", s.DeleteClient(ctx, "c1"), storage.ErrNotFound)
}
