package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/resource"
	"github.com/tenantless/tenantless/storage"
)

const resourceUsage = `Usage:
  tenantless resource add URL --scopes "a b" [--name NAME] [--description TEXT]
                                   [--scope-description "a=what a allows" ...]
                                   register an MCP server (its URL, exactly as its
                                   protected resource metadata names it) that
                                   tenantless issues tokens for; each scope
                                   belongs to one resource only
  tenantless resource list         list resources, the built-in one included
  tenantless resource show URL     show one resource
  tenantless resource delete URL [--revoke]
                                   stop issuing tokens for it (at once: a running
                                   server notices within seconds); its live tokens
                                   stay valid until they expire, unless --revoke
                                   revokes its grants too

A token for a resource carries "aud": URL and only that resource's scopes.
`

// resourceJSON is the stable --json form of a resource.
type resourceJSON struct {
	URL         string   `json:"url"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
	// ScopeDescriptions say what each described scope allows, in the
	// order of Scopes; [] when none. A list, not a map keyed by scope, so
	// that every key of the JSON is a field name.
	ScopeDescriptions []scopeDescriptionJSON `json:"scope_descriptions"`
	Aliases           []string               `json:"aliases"`
	Source            string                 `json:"source"`
	CreatedAt         time.Time              `json:"created_at"`
}

// scopeDescriptionJSON is one scope's description in resourceJSON.
type scopeDescriptionJSON struct {
	Scope       string `json:"scope"`
	Description string `json:"description"`
}

func toResourceJSON(r storage.Resource) resourceJSON {
	j := resourceJSON{URL: r.URL, Name: r.Name, Description: r.Description, Scopes: r.Scopes, ScopeDescriptions: []scopeDescriptionJSON{},
		Aliases: r.Aliases, Source: r.Source, CreatedAt: r.CreatedAt}
	for _, sc := range r.Scopes {
		if d, ok := r.ScopeDescriptions[sc]; ok && d != "" {
			j.ScopeDescriptions = append(j.ScopeDescriptions, scopeDescriptionJSON{Scope: sc, Description: d})
		}
	}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	if j.Aliases == nil {
		j.Aliases = []string{}
	}
	return j
}

// resourceCmd manages registered resources.
func resourceCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "resource", resourceUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	scopes := fs.String("scopes", "", "space-separated scopes of the resource (add)")
	name := fs.String("name", "", "name shown on the consent page (add)")
	desc := fs.String("description", "", "what the server is, shown on the consent page (add)")
	revoke := fs.Bool("revoke", false, "also revoke every grant for the resource (delete)")
	var scopeDescs repeated
	fs.Var(&scopeDescs, "scope-description", "`SCOPE=TEXT`: what a scope allows, shown on the consent page; repeatable (add)")
	sub, pos, err := subcommand(fs, e, args)
	if err != nil {
		return err
	}
	if sub.name == "add" && strings.TrimSpace(*scopes) == "" {
		return usagef("resource add needs --scopes, e.g. --scopes \"notes:read notes:write\"")
	}
	st, err := openStore(ctx, *db, sub.readOnly)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub.name {
	case "add":
		descs := map[string]string{}
		for _, d := range scopeDescs {
			sc, text, ok := strings.Cut(d, "=")
			if !ok || strings.TrimSpace(sc) == "" {
				return usagef("--scope-description %q: use SCOPE=TEXT", d)
			}
			descs[strings.TrimSpace(sc)] = text
		}
		rec, err := authz.AddResource(ctx, st, authz.NewResource{URL: pos[0], Scopes: strings.Fields(*scopes), Name: *name,
			Description: *desc, ScopeDescriptions: descs, Actor: storage.ActorCLI}, time.Now())
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, toResourceJSON(rec))
		}
		fmt.Fprintf(e.Stdout, "added resource %s with scopes %s\n", rec.URL, strings.Join(rec.Scopes, " "))
		fmt.Fprintf(e.Stdout, "(a running server issues tokens for it within %s)\n", authz.ResourceReloadInterval)
	case "list":
		list, err := st.ListResources(ctx)
		if err != nil {
			return err
		}
		// The built-in resource first, then the registered ones in the
		// order they were added.
		slices.SortStableFunc(list, func(a, b storage.Resource) int {
			return cmp.Compare(sourceRank(a.Source), sourceRank(b.Source))
		})
		if *asJSON {
			rows := make([]resourceJSON, 0, len(list))
			for _, r := range list {
				rows = append(rows, toResourceJSON(r))
			}
			return printJSON(e.Stdout, rows)
		}
		tw := table(e.Stdout)
		fmt.Fprintln(tw, "URL\tNAME\tSCOPES\tSOURCE\tCREATED")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.URL, orDash(r.Name), strings.Join(r.Scopes, " "), r.Source, formatTime(r.CreatedAt))
		}
		return tw.Flush()
	case "show":
		r, err := authz.FindResource(ctx, st, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, toResourceJSON(r))
		}
		tw := table(e.Stdout)
		fmt.Fprintf(tw, "URL\t%s\n", r.URL)
		fmt.Fprintf(tw, "Name\t%s\n", orDash(r.Name))
		fmt.Fprintf(tw, "Description\t%s\n", orDash(r.Description))
		fmt.Fprintf(tw, "Scopes\t%s\n", strings.Join(r.Scopes, " "))
		for _, sc := range r.Scopes {
			if d := r.ScopeDescriptions[sc]; d != "" {
				fmt.Fprintf(tw, "  %s\t%s\n", sc, d)
			}
		}
		if len(r.Aliases) > 0 {
			fmt.Fprintf(tw, "Aliases\t%s\n", strings.Join(r.Aliases, " "))
		}
		fmt.Fprintf(tw, "Source\t%s\n", r.Source)
		fmt.Fprintf(tw, "Created\t%s\n", formatTime(r.CreatedAt))
		return tw.Flush()
	case "delete":
		r, revoked, err := authz.DeleteResource(ctx, st, pos[0], *revoke, time.Now(), storage.ActorCLI)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, map[string]any{"deleted": r.URL, "revoked_grants": len(revoked)})
		}
		fmt.Fprintf(e.Stdout, "deleted resource %s\n", r.URL)
		if *revoke {
			fmt.Fprintf(e.Stdout, "revoked %d grant(s); a running server refuses their tokens within seconds\n", len(revoked))
		} else {
			fmt.Fprintln(e.Stdout, "its live access tokens stay valid until they expire (use --revoke to revoke them)")
		}
	}
	return nil
}

const tokenUsage = `Usage:
  tenantless token --user NAME --resource URL [--scope "a b"] [--ttl 10m] [--json]

Mints an access token for testing a resource server with curl:

  curl -H "Authorization: Bearer $(tenantless token --user admin --resource URL)" URL

It is the token the server would issue (same claims, key and audience),
its grant is stored and audited, and "tenantless grant revoke" revokes it.
--scope defaults to all of the resource's scopes. --issuer defaults to the
issuer of the server that last started on this database.
`

// tokenCmd mints an access token.
func tokenCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "token", tokenUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	user := fs.String("user", "", "user the token is for (required)")
	res := fs.String("resource", "", "registered resource URL, the token's audience (required)")
	scope := fs.String("scope", "", "space-separated scopes; default all of the resource's")
	ttl := fs.Duration("ttl", 10*time.Minute, "lifetime, at most 24h")
	issuer := fs.String("issuer", "", "issuer (iss) of the running server; default the one recorded by the last \"tenantless serve\" on this database (env TENANTLESS_ISSUER)")
	client := fs.String("client", "", "existing client_id to name in the token; default "+authz.CLIClientID)
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("token takes no arguments, got %q", pos)
	}
	if *user == "" || *res == "" {
		return usagef("token needs --user and --resource (see \"tenantless token --help\")")
	}
	st, err := openStore(ctx, *db, true)
	if err != nil {
		return err
	}
	defer st.Close()
	iss := strings.TrimSuffix(*issuer, "/")
	if iss == "" {
		if iss, err = recordedIssuer(ctx, st); err != nil {
			return err
		}
	}
	t, err := authz.MintAccessToken(ctx, st, authz.Mint{
		Issuer: iss, Username: *user, Resource: *res, Scopes: strings.Fields(*scope), TTL: *ttl, ClientID: *client, Actor: storage.ActorCLI,
	}, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.Stdout, map[string]any{
			"access_token": t.AccessToken, "token_type": "Bearer", "expires_in": int(t.ExpiresAt.Sub(t.IssuedAt) / time.Second),
			"expires_at": t.ExpiresAt, "iss": iss, "sub": t.Subject, "preferred_username": t.Username, "aud": t.Resource,
			"client_id": t.ClientID, "scope": strings.Join(t.Scopes, " "), "jti": t.JTI, "kid": t.KeyID, "alg": t.Algorithm,
		})
	}
	fmt.Fprintln(e.Stdout, t.AccessToken)
	return nil
}

// repeated is a repeatable flag whose values are kept whole (commas
// included).
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, "; ") }

func (r *repeated) Set(v string) error {
	*r = append(*r, v)
	return nil
}

func sourceRank(source string) int {
	if source == storage.ResourceSourceBuiltin {
		return 0
	}
	return 1
}

// recordedIssuer is the issuer of the server that last started on st: its
// built-in resource is the issuer plus the MCP path.
func recordedIssuer(ctx context.Context, st storage.Store) (string, error) {
	list, err := st.ListResources(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range list {
		if r.Source == storage.ResourceSourceBuiltin {
			if iss, ok := strings.CutSuffix(r.URL, resource.Paths[0]); ok {
				return iss, nil
			}
		}
	}
	return "", errors.New("no server has started on this database yet: start it (tenantless serve) or pass --issuer")
}

// maintainResources keeps the server's registered resources current while
// ctx lives, so "tenantless resource add|delete" take effect without a
// restart.
func maintainResources(ctx context.Context, as *authz.Server) {
	go as.MaintainResources(ctx)
}
