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
                                 (or prompted for twice on a terminal)
  tenantless user list           list users
  tenantless user passwd NAME    set a new password (read like "add")
  tenantless user delete NAME    delete a user with their sessions, consents and tokens
`

func userCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "user", userUsage)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	sub, pos, err := subcommand(fs, e, args, map[string]int{"add": 1, "passwd": 1, "delete": 1, "list": 0})
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()

	switch sub {
	case "add":
		name := pos[0]
		if err := authz.ValidateUsername(name); err != nil {
			return err
		}
		pw, err := readPassword(e)
		if err != nil {
			return err
		}
		u, err := authz.NewUser(name, pw, now)
		if err != nil {
			return err
		}
		if err := st.CreateUser(ctx, u); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("user %q already exists (use \"tenantless user passwd %s\" to change the password)", name, name)
			}
			return err
		}
		fmt.Fprintf(e.Stdout, "added user %s\n", name)
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
		if err := st.SetUserPassword(ctx, u.ID, hash, now); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "password of %s changed\n", u.Username)
	case "delete":
		u, err := findUser(ctx, st, pos[0])
		if err != nil {
			return err
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "deleted user %s\n", u.Username)
	case "list":
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type row struct {
				ID        string    `json:"id"`
				Username  string    `json:"username"`
				CreatedAt time.Time `json:"created_at"`
			}
			rows := make([]row, 0, len(users))
			for _, u := range users {
				rows = append(rows, row{u.ID, u.Username, u.CreatedAt})
			}
			return printJSON(e.Stdout, rows)
		}
		tw := table(e.Stdout)
		fmt.Fprintln(tw, "USERNAME\tID\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Username, u.ID, formatTime(u.CreatedAt))
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
	CreatedAt               time.Time `json:"created_at"`
	LastUsedAt              time.Time `json:"last_used_at,omitzero"`
}

func toClientJSON(c storage.Client, secret string) clientJSON {
	return clientJSON{
		ClientID: c.ID, ClientSecret: secret, ClientName: c.Name, RedirectURIs: c.RedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Source: c.Source, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt,
	}
}

func clientCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "client", clientUsage)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	name := fs.String("name", "", "client_name shown on the consent page (add)")
	confidential := fs.Bool("confidential", false, "issue a client secret; the client authenticates with client_secret_basic (add)")
	metadataURL := fs.String("metadata-url", "", "with --from-file: pre-register a client ID metadata document client under this URL (add)")
	fromFile := fs.String("from-file", "", "local copy of the metadata document at --metadata-url, for machines that cannot fetch it (add)")
	var redirects stringList
	fs.Var(&redirects, "redirect-uri", "redirect URI, repeatable (add); http only on localhost/127.0.0.1/[::1], any port accepted at sign-in")
	sub, pos, err := subcommand(fs, e, args, map[string]int{"add": 0, "list": 0, "show": 1, "delete": 1})
	if err != nil {
		return err
	}
	if sub == "add" && (*metadataURL == "") != (*fromFile == "") {
		return fmt.Errorf("%w: --metadata-url and --from-file go together", errUsage)
	}
	if sub == "add" && len(redirects) == 0 && *metadataURL == "" {
		return fmt.Errorf("%w: client add needs at least one --redirect-uri (or --metadata-url with --from-file)", errUsage)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub {
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
		if err := st.CreateClient(ctx, c); err != nil {
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
		if err := st.DeleteClient(ctx, pos[0]); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no client %q (see \"tenantless client list\")", pos[0])
			}
			return err
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
	if err := cimd.ValidateURL(metadataURL); err != nil {
		return fmt.Errorf("--metadata-url: %w", err)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--from-file: %w", err)
	}
	doc, err := cimd.Parse(metadataURL, body)
	if err != nil {
		return fmt.Errorf("--from-file %s: %w", file, err)
	}
	c := authz.CIMDClient(doc, time.Now()) // zero ExpiresAt: kept until deleted
	if err := st.CreateClient(ctx, c); errors.Is(err, storage.ErrConflict) {
		old, gerr := st.GetClient(ctx, c.ID)
		if gerr != nil {
			return gerr
		}
		c.CreatedAt, c.LastUsedAt = old.CreatedAt, old.LastUsedAt
		err = st.UpdateClient(ctx, c)
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.Stdout, toClientJSON(c, ""))
	}
	fmt.Fprintf(e.Stdout, "client_id:     %s\nredirect_uris: %s\n(pre-registered from %s; it is not fetched while this record exists)\n",
		c.ID, strings.Join(c.RedirectURIs, " "), file)
	return nil
}
