package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/resource"
	"github.com/tenantless/tenantless/resource/weather"
	"github.com/tenantless/tenantless/storage"
)

// openServeStore opens the database serve runs on, after making sure no
// other server runs on it (lockDatabase). Closing the store and calling
// release end both.
func openServeStore(ctx context.Context, path string, log *slog.Logger) (st storage.Store, release func(), err error) {
	unlock := func() {}
	if path == "" || path == ":memory:" {
		_, err := openStoreLogged(ctx, path, false, log) // the usage error
		return nil, nil, err
	}
	if !strings.Contains(path, "://") {
		if unlock, err = lockDatabase(path); err != nil {
			return nil, nil, err
		}
	}
	st, err = openStoreLogged(ctx, path, false, log)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return st, func() { _ = st.Close(); unlock() }, nil
}

// checkServeFlags checks the serve flags that a later step would otherwise
// reject with a less helpful message, so that each is a usage error (exit
// 2) that names the flag.
func checkServeFlags(c serveConfig) error {
	if c.issuer != "" {
		u, err := url.Parse(c.issuer)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			return usagef("--issuer %q is not an absolute URL; write it as http(s)://HOST[:PORT][/PATH], for example https://auth.example.com", c.issuer)
		case u.Scheme != "http" && u.Scheme != "https":
			return usagef("--issuer %q: the scheme must be https (or http), not %s", c.issuer, u.Scheme)
		case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/") || u.User != nil:
			return usagef("--issuer %q: an issuer has no query, fragment, user or trailing slash; for example https://auth.example.com", c.issuer)
		}
	}
	switch c.registration {
	case "", "open", "token", "off":
	default:
		return usagef("--registration %q: use open, token or off", c.registration)
	}
	if err := (cimd.Config{AllowHosts: c.cimdAllowHosts, AllowDomains: c.cimdAllowDomains}).Validate(); err != nil {
		return usagef("%v", err)
	}
	if c.weather != "" && !slices.Contains(weather.Modes(), c.weather) {
		return usagef("--weather %q: use one of %s", c.weather, strings.Join(weather.Modes(), ", "))
	}
	switch c.rateLimits {
	case "on", "all", "off":
	default:
		return usagef("--rate-limits %q: use on, all or off", c.rateLimits)
	}
	switch c.signingAlg {
	case "ES256", "RS256":
	default:
		return usagef("--signing-alg %q: use ES256 or RS256", c.signingAlg)
	}
	if _, port, err := net.SplitHostPort(c.addr); err != nil || port == "" {
		return usagef("--addr %q needs a port: write HOST:PORT, for example localhost:8080, 127.0.0.1:9090 or [::1]:8080", c.addr)
	}
	return nil
}

// readyInfo is what serve prints once it accepts connections: the banner,
// or with --json one JSON object on stdout.
type readyInfo struct {
	Listen       []string `json:"listen"`
	Issuer       string   `json:"issuer"`
	MCPURL       string   `json:"mcp_url"`
	AccountURL   string   `json:"account_url"`
	DB           string   `json:"db"`
	Registration string   `json:"registration"`
	// Behind says what the MCP endpoint serves: the weather tools, or the
	// upstream MCP server the gateway protects.
	Behind        string `json:"behind"`
	AdminUsername string `json:"admin_username,omitempty"`
	// AdminPassword is set only when serve generated it now: the only
	// time it is shown.
	AdminPassword string `json:"admin_password,omitempty"`
}

// announce tells the user the server is ready: the banner on stderr, or
// with asJSON the readyInfo on stdout. adminPassword is the generated
// password of a newly created admin, if any; adminFromEnv says that the
// user admin exists and TENANTLESS_ADMIN_PASSWORD is set, so the banner
// says whom to sign in as without showing the password.
func announce(e env, asJSON bool, ln net.Listener, issuer, db, registration, adminPassword string, adminFromEnv bool, behind string) error {
	if !asJSON {
		fmt.Fprint(e.Stderr, banner(issuer, db, adminPassword, adminFromEnv, behind))
		return nil
	}
	abs, err := filepath.Abs(db)
	if err != nil || strings.Contains(db, "://") {
		abs = db
	}
	info := readyInfo{
		Listen: strings.Fields(listenAddrs(ln)), Issuer: issuer, MCPURL: issuer + resource.Paths[0],
		AccountURL: issuer + "/account", DB: abs, Registration: registration, AdminPassword: adminPassword,
		Behind: behind,
	}
	if adminPassword != "" || adminFromEnv {
		info.AdminUsername = "admin"
	}
	return printJSON(e.Stdout, info)
}

// adminFromEnv reports whether TENANTLESS_ADMIN_PASSWORD is set and the
// user admin exists, so that the banner can say whom to sign in as.
func adminFromEnv(ctx context.Context, st storage.Store, e env) bool {
	if e.Getenv("TENANTLESS_ADMIN_PASSWORD") == "" {
		return false
	}
	_, err := st.GetUserByUsername(ctx, "admin")
	return err == nil
}
