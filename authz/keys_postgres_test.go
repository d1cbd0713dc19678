package authz_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage/postgres"
	"github.com/tenantless/tenantless/storage/postgres/pgtest"
	"github.com/tenantless/tenantless/web"
)

func TestMain(m *testing.M) { pgtest.Main(m, "authz") }

// TestPostgresKeyRotationOnce runs three servers on one database whose
// clocks all say the signing key is due: however they interleave, the
// key is rotated once, not once per instance.
func TestPostgresKeyRotationOnce(t *testing.T) {
	db := pgtest.URL(t)
	tmpl, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var offset atomic.Int64 // moved on once the first key exists
	var servers []*authz.Server
	for range 3 {
		st, err := postgres.Open(t.Context(), postgres.Config{URL: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		srv, err := authz.New(t.Context(), authz.Config{
			Store: st, Templates: tmpl, Issuer: "http://localhost:1", Resources: []string{"http://localhost:1/mcp"},
			Scopes: []authz.Scope{{Name: "weather:read"}},
			Now:    func() time.Time { return start.Add(time.Duration(offset.Load())) },
		})
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, srv)
	}
	offset.Store(int64(48 * time.Hour))
	var wg sync.WaitGroup
	for range 4 {
		for _, srv := range servers {
			wg.Go(func() {
				if err := srv.RefreshKeys(t.Context(), 24*time.Hour); err != nil {
					t.Errorf("RefreshKeys: %v", err)
				}
			})
		}
	}
	wg.Wait()
	st, err := postgres.Open(t.Context(), postgres.Config{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	current := 0
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			current++
		}
	}
	if len(keys) != 2 || current != 1 {
		t.Errorf("after 12 concurrent key maintenance rounds on 3 servers: %d keys, %d current; want 2 (the first and one rotation), 1 current", len(keys), current)
	}
}
