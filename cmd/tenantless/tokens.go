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
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime; 0 means it never expires (add)")
	note := fs.String("note", "", "what the token is for (add)")
	sub, pos, err := subcommand(fs, e, args, map[string]int{"add": 0, "list": 0, "delete": 1})
	if err != nil {
		return err
	}
	if *ttl < 0 {
		return fmt.Errorf("%w: --ttl must not be negative", errUsage)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub {
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
		if err := st.CreateInitialAccessToken(ctx, t); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, map[string]any{"id": tokenID(t.Hash), "initial_access_token": tok, "expires_at": t.ExpiresAt})
		}
		fmt.Fprintf(e.Stdout, "initial access token: %s\n(shown once; send it as \"Authorization: Bearer <token>\" to /register)\n", tok)
	case "list":
		list, err := st.ListInitialAccessTokens(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]map[string]any, 0, len(list))
			for _, t := range list {
				rows = append(rows, map[string]any{"id": tokenID(t.Hash), "note": t.Note, "created_at": t.CreatedAt, "expires_at": t.ExpiresAt})
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
				if err := st.DeleteInitialAccessToken(ctx, t.Hash); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "deleted initial access token %s\n", pos[0])
				return nil
			}
		}
		return fmt.Errorf("no initial access token %q (see \"tenantless initial-token list\")", pos[0])
	}
	return nil
}

// tokenID names a token by the start of its hash.
func tokenID(hash []byte) string {
	return hex.EncodeToString(hash)[:12]
}
