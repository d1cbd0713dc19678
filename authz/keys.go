package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/tenantless/tenantless/storage"
)

// keySet holds the signing keys: the newest unretired one signs, and every
// key still in the store is published in the JWKS so that tokens it signed
// keep verifying.
type keySet struct {
	mu      sync.RWMutex
	current *jose.JSONWebKey  // private
	public  []jose.JSONWebKey // every stored key's public half, newest first
}

// loadKeys reads the signing keys from st, generating and storing a first
// ES256 key when there is none.
func loadKeys(ctx context.Context, st storage.Store, now time.Time) (*keySet, error) {
	ks := &keySet{}
	if err := ks.reload(ctx, st); err != nil {
		return nil, err
	}
	if ks.current != nil {
		return ks, nil
	}
	if _, err := GenerateSigningKey(ctx, st, now); err != nil {
		return nil, err
	}
	if err := ks.reload(ctx, st); err != nil {
		return nil, err
	}
	if ks.current == nil {
		return nil, errors.New("no usable signing key after generating one")
	}
	return ks, nil
}

// GenerateSigningKey creates a new ES256 signing key, stores it, and
// returns its key ID. The key signs new tokens from the next (re)load.
func GenerateSigningKey(ctx context.Context, st storage.Store, now time.Time) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(pubDER)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	err = st.CreateSigningKey(ctx, storage.SigningKey{
		ID:         kid,
		Algorithm:  string(jose.ES256),
		PrivateKey: der,
		CreatedAt:  now.UTC().Truncate(time.Second),
	})
	if err != nil {
		return "", fmt.Errorf("store signing key: %w", err)
	}
	return kid, nil
}

func (ks *keySet) reload(ctx context.Context, st storage.Store) error {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	var current *jose.JSONWebKey
	public := make([]jose.JSONWebKey, 0, len(keys))
	for _, k := range keys {
		priv, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		ec, ok := priv.(*ecdsa.PrivateKey)
		if !ok || k.Algorithm != string(jose.ES256) {
			return fmt.Errorf("signing key %s: unsupported algorithm %s", k.ID, k.Algorithm)
		}
		jwk := jose.JSONWebKey{Key: ec, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}
		public = append(public, jwk.Public())
		if current == nil && k.RetiredAt.IsZero() {
			current = &jwk
		}
	}
	ks.mu.Lock()
	ks.current, ks.public = current, public
	ks.mu.Unlock()
	return nil
}

// signingKey is fosite's key getter: it returns the current private key.
func (ks *keySet) signingKey(context.Context) (interface{}, error) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if ks.current == nil {
		return nil, errors.New("no signing key")
	}
	return ks.current, nil
}

// jwks serves the public keys as an RFC 7517 JWK Set.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	s.keys.mu.RLock()
	set := jose.JSONWebKeySet{Keys: s.keys.public}
	s.keys.mu.RUnlock()
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, r, http.StatusOK, "application/jwk-set+json", set)
}
