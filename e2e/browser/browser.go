// Package browser is a test-only stand-in for a person's web browser: an
// HTTP client with a cookie jar that reads HTML forms and submits them the
// way a browser would (Origin and Sec-Fetch-Site headers included). It
// stops at redirects that leave the server under test, so a test can read
// the authorization response a client would receive.
//
// Tests that need a real rendering engine use Chromium in e2e/; this
// package covers the protocol-level flows every `go test` run exercises.
package browser

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// Browser keeps cookies across requests to one origin.
type Browser struct {
	// Origin is the scheme://host[:port] of the server under test; a
	// redirect anywhere else is not followed.
	Origin string
	client *http.Client
}

// New returns a browser for the server at origin.
func New(origin string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{Origin: strings.TrimSuffix(origin, "/")}
	b.client = &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme+"://"+req.URL.Host != b.Origin {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// Page is a response as the browser saw it.
type Page struct {
	// Status is the final HTTP status.
	Status int
	// URL is the final URL (after same-origin redirects).
	URL *url.URL
	// Header is the final response's header.
	Header http.Header
	// Body is the final response body.
	Body string
	// Forms are the page's forms, in document order.
	Forms []Form
}

// Location returns the Location header of a redirect that left the server.
func (p *Page) Location() (*url.URL, error) {
	loc := p.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("no redirect: status %d, body %.300s", p.Status, p.Body)
	}
	return url.Parse(loc)
}

// Form is an HTML form: its action, method and successful controls.
type Form struct {
	Action string
	Method string
	// Fields are the named input values (hidden, text, password).
	Fields url.Values
	// Buttons maps each submit button's name to its possible values.
	Buttons map[string][]string
}

// Get loads a URL.
func (b *Browser) Get(u string) (*Page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// Submit posts form with its fields, overridden by set (a button press is
// set["decision"] = "allow", say). The action resolves against base.
func (b *Browser) Submit(base *url.URL, f Form, set url.Values) (*Page, error) {
	target, err := base.Parse(f.Action)
	if err != nil {
		return nil, err
	}
	vals := url.Values{}
	for k, v := range f.Fields {
		vals[k] = append([]string(nil), v...)
	}
	for k, v := range set {
		vals[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// Post sends a raw form post (for tests that forge requests).
func (b *Browser) Post(u string, vals url.Values, header http.Header) (*Page, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

func (b *Browser) do(req *http.Request) (*Page, error) {
	res, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	p := &Page{Status: res.StatusCode, URL: res.Request.URL, Header: res.Header, Body: string(body)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		p.Forms, err = parseForms(string(body))
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseForms(doc string) ([]Form, error) {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	var forms []Form
	var walk func(n *html.Node, f *Form)
	walk = func(n *html.Node, f *Form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				forms = append(forms, Form{
					Action:  attr(n, "action"),
					Method:  strings.ToUpper(attr(n, "method")),
					Fields:  url.Values{},
					Buttons: map[string][]string{},
				})
				f = &forms[len(forms)-1]
			case "input":
				if f != nil && attr(n, "name") != "" {
					switch attr(n, "type") {
					case "submit":
						f.Buttons[attr(n, "name")] = append(f.Buttons[attr(n, "name")], attr(n, "value"))
					case "checkbox", "radio":
						if hasAttr(n, "checked") {
							f.Fields.Add(attr(n, "name"), attr(n, "value"))
						}
					default:
						f.Fields.Add(attr(n, "name"), attr(n, "value"))
					}
				}
			case "button":
				if f != nil && attr(n, "name") != "" && (attr(n, "type") == "" || attr(n, "type") == "submit") {
					f.Buttons[attr(n, "name")] = append(f.Buttons[attr(n, "name")], attr(n, "value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(root, nil)
	return forms, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}
