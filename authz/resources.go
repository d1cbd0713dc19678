package authz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// Audit event types of registered resources.
const (
	AuditResourceAdded   = "resource.added"
	AuditResourceDeleted = "resource.deleted"
)

// ResourceReloadInterval is how often a running server re-reads the
// registered resources (MaintainResources), so that "tenantless resource
// add" and "delete" take effect within it without a restart.
const ResourceReloadInterval = 2 * time.Second

// servedResource is one resource as the server serves it.
type servedResource struct {
	rec storage.Resource
}

// urls returns the resource's URL and aliases.
func (r *servedResource) urls() []string { return append([]string{r.rec.URL}, r.rec.Aliases...) }

// registry is the set of resources tokens are issued for: the built-in one
// from Config, and every one registered in the store. It is replaced whole
// on every reload, so readers take one snapshot under the read lock.
type registry struct {
	mu sync.RWMutex
	// builtin is the resource from Config; it is served even when the
	// store cannot be read.
	builtin *servedResource
	byURL   map[string]*servedResource // every URL and alias
	byScope map[string]*servedResource
	scopes  []string // every scope, resource by resource
	auds    []string // every URL and alias, resource by resource
	list    []*servedResource
}

// set replaces the registered resources with list (the built-in one is
// always kept and always first).
func (g *registry) set(list []storage.Resource) {
	all := []*servedResource{g.builtin}
	for _, rec := range list {
		if rec.Source == storage.ResourceSourceBuiltin {
			continue // this process's built-in resource is g.builtin
		}
		all = append(all, &servedResource{rec: rec})
	}
	byURL := map[string]*servedResource{}
	byScope := map[string]*servedResource{}
	var scopes, auds []string
	for _, r := range all {
		for _, u := range r.urls() {
			if _, taken := byURL[u]; !taken {
				byURL[u] = r
				auds = append(auds, u)
			}
		}
		for _, sc := range r.rec.Scopes {
			if _, taken := byScope[sc]; !taken {
				byScope[sc] = r
				scopes = append(scopes, sc)
			}
		}
	}
	g.mu.Lock()
	g.byURL, g.byScope, g.scopes, g.auds, g.list = byURL, byScope, scopes, auds, all
	g.mu.Unlock()
}

// lookup returns the resource a canonical URL names.
func (g *registry) lookup(canon string) (*servedResource, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.byURL[canon]
	return r, ok
}

// scopeNames returns every scope of every resource; callers must not modify it.
func (g *registry) scopeNames() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.scopes
}

// audiences returns every URL tokens may be issued for; callers must not modify it.
func (g *registry) audiences() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.auds
}

// owner returns the resource a scope belongs to.
func (g *registry) owner(scope string) (*servedResource, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.byScope[scope]
	return r, ok
}

// Resources returns the resources the server issues tokens for, the
// built-in one first.
func (s *Server) Resources() []storage.Resource {
	s.registry.mu.RLock()
	defer s.registry.mu.RUnlock()
	out := make([]storage.Resource, 0, len(s.registry.list))
	for _, r := range s.registry.list {
		out = append(out, r.rec)
	}
	return out
}

// ReloadResources re-reads the registered resources from the store.
func (s *Server) ReloadResources(ctx context.Context) error {
	list, err := s.store.ListResources(ctx)
	if err != nil {
		return fmt.Errorf("load resources: %w", err)
	}
	s.registry.set(list)
	return nil
}

// MaintainResources re-reads the registered resources every
// ResourceReloadInterval until ctx ends, so that resources added or
// deleted with the CLI take effect in a running server.
func (s *Server) MaintainResources(ctx context.Context) {
	t := time.NewTicker(ResourceReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.ReloadResources(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("reload resources", "err", err)
		}
	}
}

// storeBuiltin records the built-in resource in the store, so that
// "tenantless resource list" shows it and "resource add" cannot take its
// URLs or scopes, and removes built-in records of earlier starts under
// another issuer.
func (s *Server) storeBuiltin(ctx context.Context) (err error) {
	list, err := s.store.ListResources(ctx)
	if err != nil {
		return err
	}
	rec := s.registry.builtin.rec
	unchanged := false
	stale := false
	for _, old := range list {
		switch {
		case old.URL == rec.URL:
			unchanged = old.Source == rec.Source && old.Name == rec.Name && old.Description == rec.Description &&
				slices.Equal(old.Aliases, rec.Aliases) && slices.Equal(old.Scopes, rec.Scopes) && maps.Equal(old.ScopeDescriptions, rec.ScopeDescriptions)
		case old.Source == storage.ResourceSourceBuiltin:
			stale = true
		}
	}
	if unchanged && !stale {
		return nil // no write at start-up
	}
	tx, err := s.store.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = s.store.Rollback(tx)
		}
	}()
	for _, old := range list {
		if old.Source == storage.ResourceSourceBuiltin && old.URL != rec.URL {
			if err = s.store.DeleteResource(tx, old.URL); err != nil {
				return err
			}
		}
	}
	if err = s.store.PutResource(tx, rec); err != nil {
		return err
	}
	return s.store.Commit(tx)
}

// NewResource describes a resource an operator registers.
type NewResource struct {
	// URL is the resource indicator clients send as "resource" (the MCP
	// server's URL, exactly as its protected resource metadata names it).
	URL string
	// Scopes are the scopes its tokens may carry; at least one, each
	// belonging to no other resource.
	Scopes []string
	// Name and Description are shown on the consent page.
	Name        string
	Description string
	// ScopeDescriptions say what each scope allows, on the consent page;
	// optional, by scope.
	ScopeDescriptions map[string]string
	// Actor is who registers it, for the audit log: storage.ActorCLI, or
	// storage.ActorServer when empty.
	Actor string
}

// AddResource validates and registers a resource. A running server serves
// it within ResourceReloadInterval (at once if added with
// Server.AddResource).
func AddResource(ctx context.Context, st storage.Store, n NewResource, now time.Time) (rec storage.Resource, err error) {
	canon, err := canonicalResource(n.URL)
	if err != nil {
		return storage.Resource{}, fmt.Errorf("resource URL %q %v", n.URL, err)
	}
	if u, _ := url.Parse(canon); u.Scheme != "http" && u.Scheme != "https" {
		return storage.Resource{}, fmt.Errorf("resource URL %q must be an http or https URL (the MCP server's URL)", n.URL)
	}
	if len(n.Scopes) == 0 {
		return storage.Resource{}, errors.New("a resource needs at least one scope (--scopes \"notes:read notes:write\")")
	}
	var scopes []string
	for _, sc := range n.Scopes {
		if !validScopeToken(sc) {
			return storage.Resource{}, fmt.Errorf("scope %q is not a valid scope token (RFC 6749 §3.3: printable ASCII without spaces, quotes or backslashes)", sc)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(n.Name) > 200 || len(n.Description) > 1000 {
		return storage.Resource{}, errors.New("the name is limited to 200 and the description to 1000 characters")
	}
	var descs map[string]string
	for sc, d := range n.ScopeDescriptions {
		if !slices.Contains(scopes, sc) {
			return storage.Resource{}, fmt.Errorf("a description is given for %q, which is not one of the scopes %s", sc, strings.Join(scopes, " "))
		}
		if d = strings.TrimSpace(d); d != "" {
			if len(d) > 200 {
				return storage.Resource{}, fmt.Errorf("the description of %q is longer than 200 characters", sc)
			}
			if descs == nil {
				descs = map[string]string{}
			}
			descs[sc] = d
		}
	}
	ts := now.UTC().Truncate(time.Second)
	rec = storage.Resource{URL: canon, Name: strings.TrimSpace(n.Name), Description: strings.TrimSpace(n.Description),
		Scopes: scopes, ScopeDescriptions: descs, Source: storage.ResourceSourceCLI, CreatedAt: ts, UpdatedAt: ts}

	tx, err := st.BeginTx(ctx)
	if err != nil {
		return storage.Resource{}, err
	}
	defer func() {
		if err != nil {
			_ = st.Rollback(tx)
		}
	}()
	list, err := st.ListResources(tx)
	if err != nil {
		return storage.Resource{}, err
	}
	for _, other := range list {
		if other.URL == canon || slices.Contains(other.Aliases, canon) {
			return storage.Resource{}, fmt.Errorf("resource %s is already registered%s", canon, builtinNote(other))
		}
		for _, sc := range scopes {
			if slices.Contains(other.Scopes, sc) {
				return storage.Resource{}, fmt.Errorf("scope %q already belongs to resource %s%s; a scope names one resource only, so give each server scopes of its own (for example prefixed with its name)",
					sc, other.URL, builtinNote(other))
			}
		}
	}
	if err = st.CreateResource(tx, rec); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return storage.Resource{}, fmt.Errorf("resource %s is already registered", canon)
		}
		return storage.Resource{}, err
	}
	if err = st.AppendAudit(tx, storage.AuditEvent{Time: now.UTC(), Type: AuditResourceAdded, Outcome: "success", Actor: actorOr(n.Actor),
		Detail: canon + " scopes " + strings.Join(scopes, " ")}); err != nil {
		return storage.Resource{}, err
	}
	return rec, st.Commit(tx)
}

func builtinNote(r storage.Resource) string {
	if r.Source == storage.ResourceSourceBuiltin {
		return " (the MCP server tenantless serves itself)"
	}
	return ""
}

// FindResource returns the registered resource a URL names (its URL or
// an alias, compared canonically), or storage.ErrNotFound.
func FindResource(ctx context.Context, st storage.Store, raw string) (storage.Resource, error) {
	canon, err := canonicalResource(raw)
	if err != nil {
		return storage.Resource{}, fmt.Errorf("resource URL %q %v", raw, err)
	}
	list, err := st.ListResources(ctx)
	if err != nil {
		return storage.Resource{}, err
	}
	for _, r := range list {
		if r.URL == canon || slices.Contains(r.Aliases, canon) {
			return r, nil
		}
	}
	return storage.Resource{}, fmt.Errorf("no resource %s is registered (see \"tenantless resource list\"): %w", canon, storage.ErrNotFound)
}

// DeleteResource removes a registered resource: no new token is issued
// for it (at once in a server that deletes it with Server.DeleteResource,
// within ResourceReloadInterval in others). Its live access tokens stay
// valid until they expire unless revoke is set; then every grant for it
// is revoked, and the request IDs of those grants are returned. actor
// (storage.ActorCLI or ActorServer) is recorded in the audit log.
func DeleteResource(ctx context.Context, st storage.Store, raw string, revoke bool, now time.Time, actor string) (rec storage.Resource, revoked []string, err error) {
	rec, err = FindResource(ctx, st, raw)
	if err != nil {
		return storage.Resource{}, nil, err
	}
	if rec.Source == storage.ResourceSourceBuiltin {
		return storage.Resource{}, nil, fmt.Errorf("resource %s is the MCP server tenantless serves itself; it cannot be deleted", rec.URL)
	}
	tx, err := st.BeginTx(ctx)
	if err != nil {
		return storage.Resource{}, nil, err
	}
	defer func() {
		if err != nil {
			_ = st.Rollback(tx)
		}
	}()
	if err = st.DeleteResource(tx, rec.URL); err != nil {
		return storage.Resource{}, nil, err
	}
	// Consents forget the resource, so that one registered again under
	// the same URL is consented to again.
	if err = forgetInConsents(tx, st, rec, now); err != nil {
		return storage.Resource{}, nil, err
	}
	detail := rec.URL
	if revoke {
		for _, u := range append([]string{rec.URL}, rec.Aliases...) {
			ids, err := st.RevokeResourceGrants(tx, u)
			if err != nil {
				return storage.Resource{}, nil, err
			}
			revoked = append(revoked, ids...)
		}
		detail += fmt.Sprintf(", %d grant(s) revoked", len(revoked))
	}
	if err = st.AppendAudit(tx, storage.AuditEvent{Time: now.UTC(), Type: AuditResourceDeleted, Outcome: "success", Detail: detail, Actor: actorOr(actor)}); err != nil {
		return storage.Resource{}, nil, err
	}
	return rec, revoked, st.Commit(tx)
}

// forgetInConsents removes a resource's URLs and scopes from every consent.
func forgetInConsents(ctx context.Context, st storage.Store, rec storage.Resource, now time.Time) error {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	urls := append([]string{rec.URL}, rec.Aliases...)
	for _, u := range users {
		consents, err := st.ListConsents(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, c := range consents {
			resources := slices.DeleteFunc(slices.Clone(c.Resources), func(r string) bool { return slices.Contains(urls, r) })
			scopes := slices.DeleteFunc(slices.Clone(c.Scopes), func(sc string) bool { return slices.Contains(rec.Scopes, sc) })
			if len(resources) == len(c.Resources) && len(scopes) == len(c.Scopes) {
				continue
			}
			if len(resources) == 0 && len(scopes) == 0 {
				if err := st.DeleteConsent(ctx, c.UserID, c.ClientID); err != nil {
					return err
				}
				continue
			}
			c.Resources, c.Scopes, c.UpdatedAt = resources, scopes, now.UTC().Truncate(time.Second)
			if err := st.PutConsent(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddResource registers a resource (see the package function) and serves
// it at once.
func (s *Server) AddResource(ctx context.Context, n NewResource) (storage.Resource, error) {
	rec, err := AddResource(ctx, s.store, n, s.now())
	if err != nil {
		return storage.Resource{}, err
	}
	return rec, s.ReloadResources(ctx)
}

// DeleteResource deletes a resource (see the package function): this
// server stops issuing tokens for it at once and, with revoke, stops
// accepting its revoked tokens at once.
func (s *Server) DeleteResource(ctx context.Context, raw string, revoke bool) (storage.Resource, error) {
	rec, ids, err := DeleteResource(ctx, s.store, raw, revoke, s.now(), storage.ActorServer)
	if err != nil {
		return storage.Resource{}, err
	}
	for _, id := range ids {
		s.verified.dropGrant(id)
	}
	return rec, s.ReloadResources(ctx)
}

// validScopeToken reports whether sc is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(sc string) bool {
	if sc == "" || len(sc) > 200 {
		return false
	}
	for i := 0; i < len(sc); i++ {
		c := sc[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// actorOr is actor, or storage.ActorServer when it is empty.
func actorOr(actor string) string {
	if actor == "" {
		return storage.ActorServer
	}
	return actor
}
