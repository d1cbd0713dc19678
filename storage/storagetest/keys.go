package storagetest

import (
	"bytes"
	"testing"

	"github.com/tenantless/tenantless/storage"
)

func testSigningKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys on empty store", err)
	if len(got) != 0 {
		t.Errorf("ListSigningKeys on empty store: got %d keys, want 0", len(got))
	}
	k1 := storage.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte{0x30, 0x81, 0x87, 0x02, 0x01}, CreatedAt: at(0)}
	k2 := storage.SigningKey{ID: "k2", Algorithm: "ES256", PrivateKey: []byte("der-2"), CreatedAt: at(10), RetiredAt: at(20)}
	k3 := storage.SigningKey{ID: "k3", Algorithm: "RS256", PrivateKey: []byte("der-3"), CreatedAt: at(20)}
	// Created out of order: the list is by creation time, not insertion.
	for _, k := range []storage.SigningKey{k2, k3, k1} {
		must(t, "CreateSigningKey "+k.ID, s.CreateSigningKey(ctx, k))
	}
	got, err = s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	diff(t, "ListSigningKeys (newest first)", got, []storage.SigningKey{k3, k2, k1})
	if !got[0].RetiredAt.IsZero() {
		t.Errorf("current key RetiredAt: got %v, want the zero time", got[0].RetiredAt)
	}

	must(t, "RetireSigningKey", s.RetireSigningKey(ctx, "k3", at(30)))
	must(t, "DeleteSigningKey", s.DeleteSigningKey(ctx, "k1"))
	k3.RetiredAt = at(30)
	got, err = s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	diff(t, "ListSigningKeys after retire and delete", got, []storage.SigningKey{k3, k2})
	wantErr(t, "DeleteSigningKey again", s.DeleteSigningKey(ctx, "k1"), storage.ErrNotFound)
}

// testEnsureSecret runs its rows in order: each sees the previous ones'
// effects.
func testEnsureSecret(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name  string
		key   string
		value []byte
		want  []byte
	}{
		{"first call stores its value", "hmac", []byte("first"), []byte("first")},
		{"second call gets the first value", "hmac", []byte("second"), []byte("first")},
		{"other name is independent", "cookie", []byte{0, 1, 2, 3}, []byte{0, 1, 2, 3}},
		{"first name still has its value", "hmac", []byte("third"), []byte("first")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.EnsureSecret(ctx, tc.key, tc.value)
			must(t, "EnsureSecret", err)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("EnsureSecret(%q, %q): got %q, want %q", tc.key, tc.value, got, tc.want)
			}
		})
	}
}
