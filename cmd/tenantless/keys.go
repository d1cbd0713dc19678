package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage"
)

const keysUsage = `Usage:
  tenantless keys list     list the token signing keys (never the private keys)
  tenantless keys rotate   create a new signing key now; a running server signs
                           with it within seconds, and keeps the old public key in
                           its JWKS until every token it signed has expired
`

// keysCmd lists and rotates signing keys.
func keysCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "keys", keysUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	sub, _, err := subcommand(fs, e, args)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *db, sub.readOnly)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub.name == "rotate" {
		kid, err := authz.RotateSigningKey(ctx, st, time.Now(), storage.ActorCLI)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, map[string]string{"kid": kid})
		}
		fmt.Fprintf(e.Stdout, "new signing key %s\n", kid)
		return nil
	}
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	type row struct {
		KID       string    `json:"kid"`
		Algorithm string    `json:"alg"`
		State     string    `json:"state"`
		CreatedAt time.Time `json:"created_at"`
		RetiredAt time.Time `json:"retired_at,omitzero"`
	}
	rows := make([]row, 0, len(keys))
	for _, k := range keys {
		state := "signing"
		if !k.RetiredAt.IsZero() {
			state = "retired (verifies until its tokens expire)"
		}
		rows = append(rows, row{k.ID, k.Algorithm, state, k.CreatedAt, k.RetiredAt})
	}
	if *asJSON {
		return printJSON(e.Stdout, rows)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tRETIRED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.KID, r.Algorithm, r.State, formatTime(r.CreatedAt), formatTime(r.RetiredAt))
	}
	return tw.Flush()
}
