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
  tenantless grant revoke GRANT_ID
                          revoke every token of a grant; the client's next call fails
                          (a running server notices within 10 seconds on SQLite,
                          within a second on PostgreSQL)
`

// grantRow is one grant as the CLI prints it.
type grantRow struct {
	GrantID   string    `json:"grant_id"`
	Username  string    `json:"username"`
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Tokens    int       `json:"active_tokens"`
	Scopes    []string  `json:"scopes"`
	UpdatedAt time.Time `json:"last_issued_at"`
}

func grantCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "grant", grantUsage)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	user := fs.String("user", "", "only this user's grants (list)")
	client := fs.String("client", "", "only this client's grants (list)")
	sub, pos, err := subcommand(fs, e, args, map[string]int{"list": 0, "revoke": 1})
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := listGrants(ctx, st, *user, *client)
	if err != nil {
		return err
	}
	if sub == "revoke" {
		for _, g := range rows {
			if g.GrantID == pos[0] {
				if err := authz.RevokeGrant(ctx, st, g.GrantID); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "revoked grant %s (%s for %s)\n", g.GrantID, g.ClientID, g.Username)
				return nil
			}
		}
		return fmt.Errorf("no live grant %q (see \"tenantless grant list\")", pos[0])
	}
	if *asJSON {
		return printJSON(e.Stdout, rows)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "GRANT_ID\tUSER\tCLIENT_ID\tTOKENS\tSCOPES\tLAST_ISSUED")
	for _, g := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", g.GrantID, g.Username, g.ClientID, g.Tokens, strings.Join(g.Scopes, " "), formatTime(g.UpdatedAt))
	}
	return tw.Flush()
}

// listGrants groups the live tokens of every (or one) user by grant.
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
				rows = append(rows, grantRow{GrantID: t.RequestID, Username: u.Username, UserID: u.ID, ClientID: t.ClientID})
				if c, err := st.GetConsent(ctx, u.ID, t.ClientID); err == nil {
					rows[i].Scopes = c.Scopes
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
  tenantless audit [--since 24h] [--user NAME] [--client CLIENT_ID] [--type TYPE] [--limit N]
                          show the audit log, newest first: registrations, sign-ins,
                          consent, codes and tokens issued, refreshes, revocations,
                          refresh-token reuse, swept clients
`

func auditCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "audit", auditUsage)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	since := fs.Duration("since", 0, "only events newer than this (e.g. 24h); 0 means all")
	user := fs.String("user", "", "only this user's events")
	client := fs.String("client", "", "only this client's events")
	typ := fs.String("type", "", "only events of this type")
	limit := fs.Int("limit", 100, "at most this many events")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fs.SetOutput(e.Stdout)
		fs.Usage()
		return nil
	}
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: audit takes no arguments", errUsage)
	}
	if *limit < 1 {
		return fmt.Errorf("%w: --limit must be at least 1", errUsage)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	f := storage.AuditFilter{ClientID: *client, Type: *typ, Limit: *limit}
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
			storage.AuditEvent
			Username string `json:"username,omitempty"`
		}
		rows := make([]row, 0, len(events))
		for _, ev := range events {
			rows = append(rows, row{ev, names[ev.UserID]})
		}
		return printJSON(e.Stdout, rows)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "TIME\tTYPE\tOUTCOME\tUSER\tCLIENT\tADDRESS\tDETAIL")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Type, ev.Outcome,
			orDash(names[ev.UserID]), orDash(ev.ClientID), orDash(ev.Address), orDash(ev.Detail))
	}
	return tw.Flush()
}
