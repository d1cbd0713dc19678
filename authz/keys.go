package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/tenantless/tenantless/storage"
)

// keySet holds the signing keys: the newest unretired one signs, and every
// key still in the store is published in the JWKS so that tokens it signed
// keep verifying.
type keySet struct {
	mu      sync.RWMutex
	current *jose.JSONWebKey            // private
	byID    map[string]*jose.JSONWebKey // every stored key, private, by kid
	public  []jose.JSONWebKey           // every stored key's public half, newest first
	stored  []storage.SigningKey        // as last read, without private keys
}

// JWS algorithms of access tokens (RFC 7518 §3.1).
const (
	// AlgES256 is ECDSA P-256 with SHA-256, the default.
	AlgES256 = "ES256"
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys), what
	// most JWT libraries assume and Entra uses.
	AlgRS256 = "RS256"
)

// loadKeys reads the signing keys from st, generating and storing a first
// key of alg when there is none, and rotating to a key of alg when the
// current one has another algorithm (the old key stays published until
// its tokens expire).
func loadKeys(ctx context.Context, st storage.Store, now time.Time, alg string) (*keySet, error) {
	ks := &keySet{}
	if err := ks.reload(ctx, st); err != nil {
		return nil, err
	}
	if ks.current != nil && ks.current.Algorithm == alg {
		return ks, nil
	}
	if ks.current == nil {
		if _, err := GenerateSigningKey(ctx, st, now, alg); err != nil {
			return nil, err
		}
	} else if _, err := RotateSigningKeyTo(ctx, st, now, alg, storage.ActorServer); err != nil {
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

// GenerateSigningKey creates a new signing key for alg (AlgES256 or
// AlgRS256), stores it, and returns its key ID. The key signs new tokens
// from the next (re)load.
func GenerateSigningKey(ctx context.Context, st storage.Store, now time.Time, alg string) (string, error) {
	var priv interface{ Public() crypto.PublicKey }
	var err error
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return "", fmt.Errorf("signing algorithm %q: use ES256 or RS256", alg)
	}
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(pubDER)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	err = st.CreateSigningKey(ctx, storage.SigningKey{
		ID:         kid,
		Algorithm:  alg,
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
	byID := make(map[string]*jose.JSONWebKey, len(keys))
	public := make([]jose.JSONWebKey, 0, len(keys))
	stored := make([]storage.SigningKey, 0, len(keys))
	for _, k := range keys {
		var ok bool
		priv, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		switch priv.(type) {
		case *ecdsa.PrivateKey:
			ok = k.Algorithm == AlgES256
		case *rsa.PrivateKey:
			ok = k.Algorithm == AlgRS256
		default:
			ok = false
		}
		if !ok {
			return fmt.Errorf("signing key %s: unsupported algorithm %s", k.ID, k.Algorithm)
		}
		jwk := jose.JSONWebKey{Key: priv, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}
		byID[k.ID] = &jwk
		public = append(public, jwk.Public())
		k.PrivateKey = nil
		stored = append(stored, k)
		if current == nil && k.RetiredAt.IsZero() {
			current = &jwk
		}
	}
	ks.mu.Lock()
	ks.current, ks.byID, ks.public, ks.stored = current, byID, public, stored
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

// privateKey returns the stored key with the given kid.
func (ks *keySet) privateKey(kid string) (*jose.JSONWebKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.byID[kid]
	return k, ok
}

// RotateSigningKey creates a new key of the current key's algorithm (ES256
// when there is none) and retires every other current key, in one
// transaction, and returns the new key's ID. A running server signs with
// the new key within KeyReloadInterval; retired keys stay in the JWKS
// until every token they signed has expired.
//
// The rotation is recorded in the audit log, in the same transaction, as
// an AuditKeyRotated event of actor (storage.ActorServer or ActorCLI).
func RotateSigningKey(ctx context.Context, st storage.Store, now time.Time, actor string) (string, error) {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return "", err
	}
	alg := AlgES256
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			alg = k.Algorithm
			break
		}
	}
	return RotateSigningKeyTo(ctx, st, now, alg, actor)
}

// RotateSigningKeyTo is RotateSigningKey with a new key of alg.
func RotateSigningKeyTo(ctx context.Context, st storage.Store, now time.Time, alg, actor string) (kid string, err error) {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return "", err
	}
	tx, err := st.BeginTx(ctx)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = st.Rollback(tx)
		}
	}()
	if kid, err = GenerateSigningKey(tx, st, now, alg); err != nil {
		return "", err
	}
	var retired []string
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			if err = st.RetireSigningKey(tx, k.ID, now.UTC().Truncate(time.Second)); err != nil {
				return "", err
			}
			retired = append(retired, k.ID)
		}
	}
	detail := "new signing key " + kid
	if len(retired) > 0 {
		detail += "; retired " + strings.Join(retired, " ")
	}
	if err = st.AppendAudit(tx, storage.AuditEvent{
		Time: now.UTC(), Type: AuditKeyRotated, Outcome: "success", Detail: detail, Actor: actor,
	}); err != nil {
		return "", fmt.Errorf("append audit event: %w", err)
	}
	return kid, st.Commit(tx)
}

// KeyReloadInterval is how often a running server re-reads its signing
// keys, so a rotation made with the CLI takes effect without a restart.
const KeyReloadInterval = 2 * time.Second

// MaintainKeys re-reads the signing keys, rotates the current key when it
// is older than rotateEvery (zero: never), and deletes retired keys once
// every access token they signed has expired. It runs until ctx ends.
func (s *Server) MaintainKeys(ctx context.Context, rotateEvery time.Duration) {
	t := time.NewTicker(KeyReloadInterval)
	defer t.Stop()
	for {
		if err := s.RefreshKeys(ctx, rotateEvery); err != nil && ctx.Err() == nil {
			s.log.Error("signing key maintenance", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshKeys does one round of MaintainKeys' work.
func (s *Server) RefreshKeys(ctx context.Context, rotateEvery time.Duration) error {
	if err := s.keys.reload(ctx, s.store); err != nil {
		return err
	}
	now := s.now()
	s.keys.mu.RLock()
	stored := s.keys.stored
	s.keys.mu.RUnlock()
	changed := false
	for _, k := range stored {
		// A key of another algorithm was rotated in by another server on
		// this database: it is used, not fought over (two servers with
		// different --signing-alg would otherwise rotate in turn every few
		// seconds), and said once per key.
		if k.RetiredAt.IsZero() && k.Algorithm != s.signingAlg && s.warnOnce(k.ID) {
			s.log.Warn("the current signing key has another algorithm than --signing-alg; another server on this database rotated it. Start every server with the same --signing-alg",
				"kid", k.ID, "alg", k.Algorithm, "signing_alg", s.signingAlg)
		}
		if k.RetiredAt.IsZero() {
			break
		}
	}
	if needsRotation(stored, rotateEvery, now) {
		kid, err := s.rotateOnce(ctx, rotateEvery, now)
		if err != nil {
			return err
		}
		if kid != "" {
			s.log.Info("signing key rotated", "kid", kid)
		}
		changed = true
	}
	// A retired key verifies tokens until the last one it signed expires.
	grace := s.cfg.AccessTokenLifespan + time.Minute
	for _, k := range stored {
		if !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > grace {
			if err := s.store.DeleteSigningKey(ctx, k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			s.log.Info("retired signing key removed from the JWKS", "kid", k.ID)
			changed = true
		}
	}
	if changed {
		return s.keys.reload(ctx, s.store)
	}
	return nil
}

// needsRotation reports whether keys (newest first) have no current key,
// or a current one older than rotateEvery (zero: never too old).
func needsRotation(keys []storage.SigningKey, rotateEvery time.Duration, now time.Time) bool {
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			return rotateEvery > 0 && now.Sub(k.CreatedAt) >= rotateEvery
		}
	}
	return true
}

// rotateOnce rotates the signing key and returns the new key's ID. On a
// store several instances share (storage.Exclusive), whose clocks all say
// the key is due at about the same moment, one instance at a time
// rotates, after reading the keys again: the others find the new key and
// return "" (as does one that finds another instance rotating right now;
// it looks again at its next round).
func (s *Server) rotateOnce(ctx context.Context, rotateEvery time.Duration, now time.Time) (string, error) {
	ex, ok := s.store.(storage.Exclusive)
	if !ok {
		keys, err := s.store.ListSigningKeys(ctx)
		if err != nil {
			return "", err
		}
		return RotateSigningKeyTo(ctx, s.store, now, currentAlg(keys, s.signingAlg), storage.ActorServer)
	}
	var (
		kid string
		err error
	)
	if _, terr := ex.TryExclusive(ctx, "signing key rotation", func(ctx context.Context) {
		var keys []storage.SigningKey
		if keys, err = s.store.ListSigningKeys(ctx); err != nil || !needsRotation(keys, rotateEvery, now) {
			return
		}
		kid, err = RotateSigningKeyTo(ctx, s.store, now, currentAlg(keys, s.signingAlg), storage.ActorServer)
	}); terr != nil {
		return "", terr
	}
	return kid, err
}

// currentAlg is the algorithm of the current key among keys (rotation
// keeps it), or def when there is none.
func currentAlg(keys []storage.SigningKey, def string) string {
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			return k.Algorithm
		}
	}
	return def
}

// warnOnce reports whether kid was not the last key warned about, and
// records it.
func (s *Server) warnOnce(kid string) bool {
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	if s.warnedAlg == kid {
		return false
	}
	s.warnedAlg = kid
	return true
}

// kidSigner is fosite's JWT signer, except that tokens are verified with
// the key their "kid" header names, so tokens signed before a rotation
// keep verifying until they expire. fosite's own signer verifies with the
// current key only.
type kidSigner struct {
	*jwt.DefaultSigner
	keys *keySet
}

func (k *kidSigner) signerFor(token string) (*jwt.DefaultSigner, error) {
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: errors.New("not a JWT")}
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: err}
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: err}
	}
	key, ok := k.keys.privateKey(h.KID)
	if !ok {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorUnverifiable, Inner: errors.New("unknown key")}
	}
	return &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return key, nil }}, nil
}

// Decode verifies token with the key its kid names.
func (k *kidSigner) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	s, err := k.signerFor(token)
	if err != nil {
		return nil, err
	}
	return s.Decode(ctx, token)
}

// Validate verifies token with the key its kid names.
func (k *kidSigner) Validate(ctx context.Context, token string) (string, error) {
	s, err := k.signerFor(token)
	if err != nil {
		return "", err
	}
	return s.Validate(ctx, token)
}

// jwks serves the public keys as an RFC 7517 JWK Set.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	s.keys.mu.RLock()
	set := jose.JSONWebKeySet{Keys: s.keys.public}
	s.keys.mu.RUnlock()
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, r, http.StatusOK, "application/jwk-set+json", set)
}
