package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage"
)

const grantUsage = `Usage:
  tenantless grant list [--user NAME] [--client CLIENT_ID]
                          list live grants (a user's authorization of a client)
                          with the scopes each grant holds
  tenantless grant revoke GRANT_ID
                          what Revoke on the account page does: delete the user's
                          consent for the grant's client (it must ask again) and
                          revoke every grant between them; the client's next call
                          fails (a running server notices within 10 seconds on
                          SQLite, within a second on PostgreSQL)
`

// grantRow is one grant as the CLI prints it.
type grantRow struct {
	GrantID   string    `json:"grant_id"`
	Username  string    `json:"username"`
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Resource  string    `json:"resource,omitempty"`
	Tokens    int       `json:"active_tokens"`
	Scopes    []string  `json:"scopes"`
	UpdatedAt time.Time `json:"last_issued_at"`
}

func grantCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "grant", grantUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	user := fs.String("user", "", "only this user's grants (list)")
	client := fs.String("client", "", "only this client's grants (list)")
	sub, pos, err := subcommand(fs, e, args)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *db, sub.readOnly)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := listGrants(ctx, st, *user, *client)
	if err != nil {
		return err
	}
	if sub.name == "revoke" {
		i := slices.IndexFunc(rows, func(g grantRow) bool { return g.GrantID == pos[0] })
		if i < 0 {
			return fmt.Errorf("no live grant %q (see \"tenantless grant list\")", pos[0])
		}
		g := rows[i]
		revoked, err := authz.RevokeConsent(ctx, st, g.UserID, g.ClientID, cliEvent(storage.AuditEvent{
			Type: authz.AuditConsentRevoked, UserID: g.UserID, ClientID: g.ClientID, Detail: "grant " + g.GrantID,
		}))
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, map[string]any{
				"grant_id": g.GrantID, "user_id": g.UserID, "username": g.Username, "client_id": g.ClientID,
				"revoked_grant_ids": revoked, "consent_deleted": true,
			})
		}
		fmt.Fprintf(e.Stdout, "revoked %s's consent for %s and %d grant(s): %s\n", g.Username, g.ClientID, len(revoked), strings.Join(revoked, " "))
		return nil
	}
	if *asJSON {
		return printJSON(e.Stdout, rows)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "GRANT_ID\tUSER\tCLIENT_ID\tRESOURCE\tTOKENS\tSCOPES\tLAST_ISSUED")
	for _, g := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", g.GrantID, g.Username, g.ClientID, orDash(g.Resource), g.Tokens, strings.Join(g.Scopes, " "), formatTime(g.UpdatedAt))
	}
	return tw.Flush()
}

// listGrants groups the live tokens of every (or one) user by grant, each
// with the scopes it was granted.
func listGrants(ctx context.Context, st storage.Store, username, clientID string) ([]grantRow, error) {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	if username != "" {
		u, err := findUser(ctx, st, username)
		if err != nil {
			return nil, err
		}
		users = []storage.User{u}
	}
	rows := []grantRow{}
	for _, u := range users {
		tokens, err := st.ListGrantTokens(ctx, u.ID, clientID)
		if err != nil {
			return nil, err
		}
		idx := map[string]int{}
		for _, t := range tokens {
			i, ok := idx[t.RequestID]
			if !ok {
				i = len(rows)
				idx[t.RequestID] = i
				rows = append(rows, grantRow{GrantID: t.RequestID, Username: u.Username, UserID: u.ID, ClientID: t.ClientID, Resource: t.Resource, Scopes: []string{}})
			}
			if sc, err := authz.GrantScopes(t); err == nil {
				for _, s := range sc {
					if !slices.Contains(rows[i].Scopes, s) {
						rows[i].Scopes = append(rows[i].Scopes, s)
					}
				}
			}
			rows[i].Tokens++
			if t.RequestedAt.After(rows[i].UpdatedAt) {
				rows[i].UpdatedAt = t.RequestedAt
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b grantRow) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return rows, nil
}

const auditUsage = `Usage:
  tenantless audit [--since 24h] [--user NAME] [--client CLIENT_ID] [--type TYPE] [--actor cli|server] [--limit N]
                          show the audit log, newest first: registrations, sign-ins,
                          consent, codes and tokens issued, refreshes, revocations,
                          refresh-token reuse, swept clients, key rotations, and
                          every change made with these commands (actor "cli")
`

func auditCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "audit", auditUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	since := fs.Duration("since", 0, "only events newer than this (e.g. 24h); 0 means all")
	user := fs.String("user", "", "only this user's events")
	client := fs.String("client", "", "only this client's events")
	typ := fs.String("type", "", "only events of this type: "+strings.Join(authz.AuditTypes(), ", "))
	actor := fs.String("actor", "", "only events of this actor: cli (these commands) or server")
	limit := fs.Int("limit", 100, "at most this many events")
	if len(args) > 0 && args[0] == "help" {
		args = []string{"--help"}
	}
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("audit takes no arguments, got %q (filters are flags: run \"tenantless audit --help\")", pos)
	}
	if *limit < 1 {
		return usagef("--limit must be at least 1")
	}
	if *since < 0 {
		return usagef("--since %v: give a positive duration, for example 24h", *since)
	}
	if *typ != "" && !slices.Contains(authz.AuditTypes(), *typ) {
		return usagef("--type %q is not an audit event type; use one of %s", *typ, strings.Join(authz.AuditTypes(), ", "))
	}
	if *actor != "" && *actor != storage.ActorCLI && *actor != storage.ActorServer {
		return usagef("--actor %q: use cli or server", *actor)
	}
	st, err := openStore(ctx, *db, true)
	if err != nil {
		return err
	}
	defer st.Close()
	f := storage.AuditFilter{ClientID: *client, Type: *typ, Actor: *actor, Limit: *limit}
	if *since > 0 {
		f.Since = time.Now().Add(-*since)
	}
	names := map[string]string{}
	if users, err := st.ListUsers(ctx); err == nil {
		for _, u := range users {
			names[u.ID] = u.Username
		}
	}
	if *user != "" {
		u, err := findUser(ctx, st, *user)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	events, err := st.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		type row struct {
			ID       int64     `json:"id"`
			Time     time.Time `json:"time"`
			Type     string    `json:"type"`
			Outcome  string    `json:"outcome"`
			Actor    string    `json:"actor"`
			UserID   string    `json:"user_id,omitempty"`
			Username string    `json:"username,omitempty"`
			ClientID string    `json:"client_id,omitempty"`
			Address  string    `json:"address,omitempty"`
			Detail   string    `json:"detail,omitempty"`
		}
		rows := make([]row, 0, len(events))
		for _, ev := range events {
			rows = append(rows, row{ev.ID, ev.Time, ev.Type, ev.Outcome, ev.Actor, ev.UserID, names[ev.UserID], ev.ClientID, ev.Address, ev.Detail})
		}
		return printJSON(e.Stdout, rows)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "TIME\tTYPE\tOUTCOME\tACTOR\tUSER\tCLIENT\tADDRESS\tDETAIL")
	for _, ev := range events {
		user := names[ev.UserID]
		if user == "" {
			user = ev.UserID // a deleted user
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Type, ev.Outcome,
			orDash(ev.Actor), orDash(user), orDash(ev.ClientID), orDash(ev.Address), orDash(ev.Detail))
	}
	return tw.Flush()
}
