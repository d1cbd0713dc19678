package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/storage"
)

func termIsTerminal(fd int) bool { return term.IsTerminal(fd) }

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

const userUsage = `Usage:
  tenantless user add NAME       add a user; the password is read from stdin
                                 (or prompted for twice on a terminal);
                                 --admin lets them open the auth trace (/trace)
  tenantless user list           list users
  tenantless user passwd NAME    set a new password (read like "add")
  tenantless user delete NAME    delete a user with their sessions, consents and tokens
`

// userJSON is how the CLI prints a user with --json.
type userJSON struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Deleted   bool      `json:"deleted,omitempty"`
}

func userCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "user", userUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	admin := fs.Bool("admin", false, "make the new user an admin, who may open the auth trace and inject faults (add)")
	sub, pos, err := subcommand(fs, e, args)
	if err != nil {
		return err
	}
	if sub.name == "add" {
		if err := authz.ValidateUsername(pos[0]); err != nil {
			return usagef("user name %q: %v", pos[0], err)
		}
	}
	st, err := openStore(ctx, *db, sub.readOnly)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()

	switch sub.name {
	case "add":
		name := pos[0]
		pw, err := readPassword(e)
		if err != nil {
			return err
		}
		u, err := authz.NewUser(name, pw, now)
		if err != nil {
			return err
		}
		u.Admin = *admin
		detail := u.Username
		if u.Admin {
			detail += " (admin)"
		}
		err = change(ctx, st, storage.AuditEvent{Type: authz.AuditUserCreated, UserID: u.ID, Detail: detail},
			func(tx context.Context) error { return st.CreateUser(tx, u) })
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("user %q already exists (use \"tenantless user passwd %s\" to change the password)", name, name)
		} else if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, userJSON{ID: u.ID, Username: u.Username, Admin: u.Admin, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt})
		}
		if u.Admin {
			fmt.Fprintf(e.Stdout, "added admin user %s\n", name)
		} else {
			fmt.Fprintf(e.Stdout, "added user %s\n", name)
		}
	case "passwd":
		u, err := findUser(ctx, st, pos[0])
		if err != nil {
			return err
		}
		pw, err := readPassword(e)
		if err != nil {
			return err
		}
		hash, err := authz.HashPassword(pw)
		if err != nil {
			return err
		}
		err = change(ctx, st, storage.AuditEvent{Type: authz.AuditUserPasswordChanged, UserID: u.ID, Detail: u.Username},
			func(tx context.Context) error { return st.SetUserPassword(tx, u.ID, hash, now) })
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, userJSON{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt, UpdatedAt: now.UTC().Truncate(time.Second)})
		}
		fmt.Fprintf(e.Stdout, "password of %s changed\n", u.Username)
	case "delete":
		u, err := findUser(ctx, st, pos[0])
		if err != nil {
			return err
		}
		err = change(ctx, st, storage.AuditEvent{Type: authz.AuditUserDeleted, UserID: u.ID, Detail: u.Username},
			func(tx context.Context) error { return st.DeleteUser(tx, u.ID) })
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, userJSON{ID: u.ID, Username: u.Username, Deleted: true})
		}
		fmt.Fprintf(e.Stdout, "deleted user %s\n", u.Username)
	case "list":
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]userJSON, 0, len(users))
			for _, u := range users {
				rows = append(rows, userJSON{ID: u.ID, Username: u.Username, Admin: u.Admin, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt})
			}
			return printJSON(e.Stdout, rows)
		}
		tw := table(e.Stdout)
		fmt.Fprintln(tw, "USERNAME\tID\tCREATED\tADMIN")
		for _, u := range users {
			adm := ""
			if u.Admin {
				adm = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, u.ID, formatTime(u.CreatedAt), adm)
		}
		return tw.Flush()
	}
	return nil
}

func findUser(ctx context.Context, st storage.Store, name string) (storage.User, error) {
	u, err := st.GetUserByUsername(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return u, fmt.Errorf("no user %q (see \"tenantless user list\")", name)
	}
	return u, err
}

// readPassword reads a new password: prompted twice without echo on a
// terminal, else the first line of stdin.
func readPassword(e env) (string, error) {
	if fd, ok := isTerminal(e.Stdin); ok {
		fmt.Fprint(e.Stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(e.Stderr, "Repeat password: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(e.Stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin (pipe one in: echo 'secret-password' | tenantless user add NAME)")
	}
	return pw, nil
}

const clientUsage = `Usage:
  tenantless client add --name NAME --redirect-uri URI [--redirect-uri URI ...] [--confidential]
                          register a client; public (PKCE only) by default,
                          --confidential prints a client secret once
  tenantless client add --metadata-url URL --from-file doc.json
                          pre-register a client ID metadata document client from a
                          local copy of its document (for machines that are offline)
  tenantless client list  list registered clients
  tenantless client show CLIENT_ID
                          show one client
  tenantless client delete CLIENT_ID
                          delete a client with its consents and tokens
`

// clientJSON is how the CLI prints a client with --json.
type clientJSON struct {
	ClientID                string    `json:"client_id"`
	ClientSecret            string    `json:"client_secret,omitempty"`
	ClientName              string    `json:"client_name,omitempty"`
	RedirectURIs            []string  `json:"redirect_uris"`
	GrantTypes              []string  `json:"grant_types"`
	ResponseTypes           []string  `json:"response_types"`
	TokenEndpointAuthMethod string    `json:"token_endpoint_auth_method"`
	Source                  string    `json:"source"`
	CreatedAt               time.Time `json:"created_at,omitzero"`
	LastUsedAt              time.Time `json:"last_used_at,omitzero"`
	ExpiresAt               time.Time `json:"expires_at,omitzero"`
	Deleted                 bool      `json:"deleted,omitempty"`
}

func toClientJSON(c storage.Client, secret string) clientJSON {
	return clientJSON{
		ClientID: c.ID, ClientSecret: secret, ClientName: c.Name, RedirectURIs: c.RedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Source: c.Source, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, ExpiresAt: c.ExpiresAt,
	}
}

func clientCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "client", clientUsage)
	db := dbFlag(fs)
	asJSON := jsonFlag(fs)
	name := fs.String("name", "", "client_name shown on the consent page (add)")
	confidential := fs.Bool("confidential", false, "issue a client secret; the client authenticates with client_secret_basic (add)")
	metadataURL := fs.String("metadata-url", "", "with --from-file: pre-register a client ID metadata document client under this URL (add)")
	fromFile := fs.String("from-file", "", "local copy of the metadata document at --metadata-url, for machines that cannot fetch it (add)")
	var redirects stringList
	fs.Var(&redirects, "redirect-uri", "redirect URI, repeatable (add); http only on localhost/127.0.0.1/[::1], any port accepted at sign-in")
	sub, pos, err := subcommand(fs, e, args)
	if err != nil {
		return err
	}
	if sub.name == "add" {
		if (*metadataURL == "") != (*fromFile == "") {
			return usagef("--metadata-url and --from-file go together")
		}
		if len(redirects) == 0 && *metadataURL == "" {
			return usagef("client add needs at least one --redirect-uri (or --metadata-url with --from-file)")
		}
		if *metadataURL != "" && len(redirects) > 0 {
			return usagef("--redirect-uri does not go with --metadata-url: the document lists the redirect URIs")
		}
		for _, u := range redirects {
			if err := authz.ValidateRedirectURI(u); err != nil {
				return usagef("--redirect-uri %q: %v", u, err)
			}
		}
		if *metadataURL != "" {
			if err := cimd.ValidateURL(*metadataURL); err != nil {
				return usagef("--metadata-url %q: %v", *metadataURL, err)
			}
		}
	}
	st, err := openStore(ctx, *db, sub.readOnly)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub.name {
	case "add":
		if *metadataURL != "" {
			return addCIMDClient(ctx, st, e, *metadataURL, *fromFile, *asJSON)
		}
		h, err := authz.NewSecretHasher(ctx, st)
		if err != nil {
			return err
		}
		c, secret, err := authz.NewStaticClient(ctx, h, authz.StaticClient{
			Name: *name, RedirectURIs: redirects, Confidential: *confidential,
		}, time.Now())
		if err != nil {
			return err
		}
		err = change(ctx, st, storage.AuditEvent{Type: authz.AuditClientRegistered, ClientID: c.ID, Detail: "command line: " + c.Name},
			func(tx context.Context) error { return st.CreateClient(tx, c) })
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, toClientJSON(c, secret))
		}
		fmt.Fprintf(e.Stdout, "client_id:     %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(e.Stdout, "client_secret: %s\n", secret)
			fmt.Fprintln(e.Stdout, "(shown once: only a hash is stored)")
		}
	case "list":
		clients, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			rows := make([]clientJSON, 0, len(clients))
			for _, c := range clients {
				rows = append(rows, toClientJSON(c, ""))
			}
			return printJSON(e.Stdout, rows)
		}
		tw := table(e.Stdout)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tSOURCE\tAUTH\tREDIRECT_URIS\tLAST_USED")
		for _, c := range clients {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, orDash(c.Name), c.Source, c.TokenEndpointAuthMethod,
				strings.Join(c.RedirectURIs, " "), formatTime(c.LastUsedAt))
		}
		return tw.Flush()
	case "show":
		c, err := st.GetClient(ctx, pos[0])
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q (see \"tenantless client list\")", pos[0])
		} else if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, toClientJSON(c, ""))
		}
		tw := table(e.Stdout)
		for _, kv := range [][2]string{
			{"client_id", c.ID}, {"name", orDash(c.Name)}, {"source", c.Source},
			{"auth method", c.TokenEndpointAuthMethod}, {"redirect URIs", strings.Join(c.RedirectURIs, " ")},
			{"grant types", strings.Join(c.GrantTypes, " ")}, {"created", formatTime(c.CreatedAt)},
			{"last used", formatTime(c.LastUsedAt)}, {"cached until", formatTime(c.ExpiresAt)},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
		}
		return tw.Flush()
	case "delete":
		err := change(ctx, st, storage.AuditEvent{Type: authz.AuditClientDeleted, ClientID: pos[0]},
			func(tx context.Context) error { return st.DeleteClient(tx, pos[0]) })
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q (see \"tenantless client list\")", pos[0])
		} else if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.Stdout, clientJSON{ClientID: pos[0], Deleted: true})
		}
		fmt.Fprintf(e.Stdout, "deleted client %s\n", pos[0])
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// addCIMDClient pre-registers a metadata-document client from a file.
func addCIMDClient(ctx context.Context, st storage.Store, e env, metadataURL, file string, asJSON bool) error {
	body, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--from-file: %w", err)
	}
	doc, err := cimd.Parse(metadataURL, body)
	if err != nil {
		return fmt.Errorf("--from-file %s: %w", file, err)
	}
	c := authz.CIMDClient(doc, time.Now()) // zero ExpiresAt: kept until deleted
	ev := storage.AuditEvent{Type: authz.AuditClientRegistered, ClientID: c.ID, Detail: "client ID metadata document pre-registered from " + file}
	err = change(ctx, st, ev, func(tx context.Context) error {
		old, err := st.GetClient(tx, c.ID)
		if errors.Is(err, storage.ErrNotFound) {
			return st.CreateClient(tx, c)
		} else if err != nil {
			return err
		}
		c.CreatedAt, c.LastUsedAt = old.CreatedAt, old.LastUsedAt
		return st.UpdateClient(tx, c)
	})
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.Stdout, toClientJSON(c, ""))
	}
	fmt.Fprintf(e.Stdout, "client_id:     %s\nredirect_uris: %s\n(pre-registered from %s; it is not fetched while this record exists)\n",
		c.ID, strings.Join(c.RedirectURIs, " "), file)
	return nil
}
