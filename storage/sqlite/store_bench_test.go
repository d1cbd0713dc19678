package sqlite_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/sqlite"
)

// The benchmarks in this file measure the storage operations behind the
// token endpoint, registration and token verification, on a real SQLite
// file in b.TempDir(), as the server runs them: one call, one statement or
// transaction, no caller transaction.

// benchData is the size of a token row's serialised request as the server
// stores it (a JSON fosite request with a JWT session: about 1 KiB).
var benchData = func() []byte {
	b := make([]byte, 1100)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	st, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchID(prefix string) string {
	var r [18]byte
	_, _ = rand.Read(r[:])
	return prefix + base64.RawURLEncoding.EncodeToString(r[:])
}

func benchToken(kind storage.TokenKind, requestID, clientID string, now time.Time) storage.Token {
	return storage.Token{
		Kind:        kind,
		Signature:   benchID(""),
		RequestID:   requestID,
		ClientID:    clientID,
		Subject:     "user_bench",
		RequestedAt: now,
		ExpiresAt:   now.Add(time.Hour),
		Active:      true,
		Data:        benchData,
	}
}

func benchClient(now time.Time) storage.Client {
	return storage.Client{
		ID:                      benchID("dcr_"),
		Name:                    "bench client",
		RedirectURIs:            []string{"http://127.0.0.1/callback"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"weather:read", "weather:alerts"},
		TokenEndpointAuthMethod: "none",
		Source:                  storage.SourceDCR,
		Metadata:                []byte(`{"client_name":"bench client","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"weather:read weather:alerts"}`),
		RegistrationTokenHash:   []byte("0123456789abcdef0123456789abcdef"),
		CreatedAt:               now,
		UpdatedAt:               now,
	}
}

// createInTx stores tokens in one transaction: setup that is not measured
// should not pay a commit per row.
func createInTx(b *testing.B, st *sqlite.Store, tokens []storage.Token) {
	b.Helper()
	ctx, err := st.BeginTx(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Rollback(ctx)
	for _, t := range tokens {
		if err := st.CreateToken(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Commit(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreateToken stores one token row (a code, access or refresh
// token: all three are one INSERT with a ~1 KiB request).
func BenchmarkCreateToken(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for b.Loop() {
		if err := st.CreateToken(ctx, benchToken(storage.KindAccess, benchID("req_"), "client", now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetToken reads one token row by (kind, signature) from a table
// of 10 000 rows, as every token endpoint call and every first-sight token
// verification does.
func BenchmarkGetToken(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	tokens := make([]storage.Token, 10000)
	for i := range tokens {
		tokens[i] = benchToken(storage.KindAccess, benchID("req_"), "client", now)
	}
	createInTx(b, st, tokens)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := st.GetToken(ctx, storage.KindAccess, tokens[i%len(tokens)].Signature); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := st.GetToken(ctx, storage.KindAccess, tokens[i%len(tokens)].Signature); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
	})
}

// BenchmarkRotateRefreshToken retires a grant's refresh token and deletes
// its access token in one transaction, as every refresh grant does.
func BenchmarkRotateRefreshToken(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	grants := make([]storage.Token, b.N)
	var rows []storage.Token
	for i := range grants {
		req := "req_" + strconv.Itoa(i)
		grants[i] = benchToken(storage.KindRefresh, req, "client", now)
		rows = append(rows, grants[i], benchToken(storage.KindAccess, req, "client", now))
	}
	createInTx(b, st, rows)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := st.RotateRefreshToken(ctx, grants[i].RequestID, grants[i].Signature, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeactivateToken marks an authorization code used, the one-time
// check of every code exchange.
func BenchmarkDeactivateToken(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	codes := make([]storage.Token, b.N)
	for i := range codes {
		codes[i] = benchToken(storage.KindCode, "req_"+strconv.Itoa(i), "client", now)
	}
	createInTx(b, st, codes)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := st.DeactivateToken(ctx, storage.KindCode, codes[i].Signature); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetClient reads a client by ID from 10 000 clients; the token
// and authorization endpoints read the client two to four times a request.
func BenchmarkGetClient(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	ctx, err := st.BeginTx(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 10000)
	for i := range ids {
		c := benchClient(now)
		ids[i] = c.ID
		if err := st.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := st.GetClient(context.Background(), ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateClient stores a dynamically registered client.
func BenchmarkCreateClient(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	for b.Loop() {
		if err := st.CreateClient(context.Background(), benchClient(now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTouchClient records a client's last use, which the token
// endpoint does on every successful grant.
func BenchmarkTouchClient(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	c := benchClient(now)
	if err := st.CreateClient(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := st.TouchClient(context.Background(), c.ID, now.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateTokenParallel stores token rows from 2×GOMAXPROCS
// goroutines: every write goes through the one writer connection, so this
// shows what the single writer costs under contention.
func BenchmarkCreateTokenParallel(b *testing.B) {
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			n++
			if err := st.CreateToken(context.Background(), benchToken(storage.KindAccess, fmt.Sprint("req_", n), "client", now)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
