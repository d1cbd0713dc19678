// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database TENANTLESS_TEST_POSTGRES_URL names, dropped when
// the test ends. Without that variable the tests that need it are
// skipped. It is imported only by _test.go files.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the database the PostgreSQL tests use.
const EnvVar = "TENANTLESS_TEST_POSTGRES_URL"

// SkipMessage says how to run the PostgreSQL tests.
const SkipMessage = "PostgreSQL tests skipped: run make test-postgres, or set " + EnvVar +
	"=postgres://user@host/db to use a database of your own"

// Enabled reports whether EnvVar is set.
func Enabled() bool { return os.Getenv(EnvVar) != "" }

// Main runs a test binary's tests (call it from TestMain) and, without
// EnvVar, first prints SkipMessage once.
func Main(m *testing.M, pkg string) {
	if !Enabled() {
		fmt.Printf("%s: %s\n", pkg, SkipMessage)
	}
	os.Exit(m.Run())
}

// URL skips t without EnvVar; otherwise it creates a new empty schema and
// returns a URL whose connections use it (search_path), dropping the
// schema with everything in it when t ends.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skip(SkipMessage)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvVar, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
