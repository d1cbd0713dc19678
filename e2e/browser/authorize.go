package browser

import (
	"fmt"
	"net/url"
)

// Authorize plays the person at an authorization URL: it signs in with
// username and password when the login form (inputs "username" and
// "password") appears, answers the consent form (buttons named "decision")
// with decision ("allow" or "deny"), and returns the URL the server
// finally redirected to outside itself: the client's redirect URI with
// the authorization response. consentShown reports whether the consent
// page appeared.
func (b *Browser) Authorize(authURL, username, password, decision string) (redirect *url.URL, consentShown bool, err error) {
	p, err := b.Get(authURL)
	if err != nil {
		return nil, false, err
	}
	for range 4 {
		if p.Status == 303 || p.Status == 302 {
			loc, err := p.Location()
			return loc, consentShown, err
		}
		if p.Status != 200 && p.Status != 401 {
			return nil, consentShown, fmt.Errorf("unexpected status %d at %s: %.500s", p.Status, p.URL, p.Body)
		}
		f, kind := b.pageForm(p)
		switch kind {
		case "login":
			p, err = b.Submit(p.URL, f, url.Values{"username": {username}, "password": {password}})
		case "consent":
			consentShown = true
			p, err = b.Submit(p.URL, f, url.Values{"decision": {decision}})
		default:
			return nil, consentShown, fmt.Errorf("no login or consent form at %s (status %d): %.500s", p.URL, p.Status, p.Body)
		}
		if err != nil {
			return nil, consentShown, err
		}
	}
	return nil, consentShown, fmt.Errorf("no redirect after sign-in and consent; last page %s status %d", p.URL, p.Status)
}

// pageForm finds tenantless's login or consent form on a page.
func (b *Browser) pageForm(p *Page) (Form, string) {
	for _, f := range p.Forms {
		if _, ok := f.Fields["password"]; ok {
			return f, "login"
		}
		if _, ok := f.Buttons["decision"]; ok {
			return f, "consent"
		}
	}
	return Form{}, ""
}
