package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage"
)

const initialTokenUsage = `Usage:
  tenantless initial-token add [--ttl 24h] [--note TEXT]
                                  create an initial access token for dynamic client
                                  registration when the server runs with
                                  --registration=token; it is printed once
  tenantless initial-token list   list tokens (by ID, never the token itself)
  tenantless initial-token delete ID
`

// initialTokenCmd manages RFC 7591 initial access tokens.
func initialTokenCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "initial-token", initialTokenUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime; 0 means it never expires (add)")
	note := fs.String("note", "", "what the token is for (add)")
	sub, pos, err := subcommand(fs, e, args)
	if err != nil {
		return err
	}
	if *ttl < 0 {
		return usagef("--ttl must not be negative")
	}
	st, err := openStore(ctx, *db, sub.readOnly)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub.name {
	case "add":
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		tok := base64.RawURLEncoding.EncodeToString(raw)
		sum := sha256.Sum256([]byte(tok))
		now := time.Now().UTC().Truncate(time.Second)
		t := storage.InitialAccessToken{Hash: sum[:], Note: *note, CreatedAt: now}
		if *ttl > 0 {
			t.ExpiresAt = now.Add(*ttl)
		}
		err := change(ctx, st, storage.AuditEvent{Type: authz.AuditInitialTokenCreated, Detail: initialTokenDetail(t)},
			func(tx context.Context) error { return st.CreateInitialAccessToken(tx, t) })
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, initialTokenJSON{ID: tokenID(t.Hash), Token: tok, Note: t.Note, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
		}
		fmt.Fprintf(e.Stdout, "initial access token: %s\n(shown once; send it as \"Authorization: Bearer <token>\" to /register)\n", tok)
	case "list":
		list, err := st.ListInitialAccessTokens(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]initialTokenJSON, 0, len(list))
			for _, t := range list {
				rows = append(rows, initialTokenJSON{ID: tokenID(t.Hash), Note: t.Note, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
			}
			return printJSON(e.Stdout, rows)
		}
		tw := table(e.Stdout)
		fmt.Fprintln(tw, "ID\tNOTE\tCREATED\tEXPIRES")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", tokenID(t.Hash), orDash(t.Note), formatTime(t.CreatedAt), formatTime(t.ExpiresAt))
		}
		return tw.Flush()
	case "delete":
		list, err := st.ListInitialAccessTokens(ctx)
		if err != nil {
			return err
		}
		for _, t := range list {
			if tokenID(t.Hash) == strings.ToLower(pos[0]) {
				err := change(ctx, st, storage.AuditEvent{Type: authz.AuditInitialTokenDeleted, Detail: initialTokenDetail(t)},
					func(tx context.Context) error { return st.DeleteInitialAccessToken(tx, t.Hash) })
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.Stdout, initialTokenJSON{ID: tokenID(t.Hash), Note: t.Note, Deleted: true})
				}
				fmt.Fprintf(e.Stdout, "deleted initial access token %s\n", pos[0])
				return nil
			}
		}
		return fmt.Errorf("no initial access token %q (see \"tenantless initial-token list\")", pos[0])
	}
	return nil
}

// initialTokenJSON is how the CLI prints an initial access token with
// --json; Token only once, when it is created.
type initialTokenJSON struct {
	ID        string    `json:"id"`
	Token     string    `json:"initial_access_token,omitempty"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Deleted   bool      `json:"deleted,omitempty"`
}

// initialTokenDetail is the audit detail of an initial access token: its ID
// and note, never the token.
func initialTokenDetail(t storage.InitialAccessToken) string {
	d := "initial access token " + tokenID(t.Hash)
	if t.Note != "" {
		d += ": " + t.Note
	}
	return d
}

// tokenID names a token by the start of its hash.
func tokenID(hash []byte) string {
	return hex.EncodeToString(hash)[:12]
}
