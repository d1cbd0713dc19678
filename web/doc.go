// Package web owns the HTML that people see during an OAuth authorization:
// the sign-in page, the consent page and the error page, plus the one small
// stylesheet they share.
//
// Templates and assets are embedded in the binary. [New] parses every page
// once at start-up and fails if one is missing or broken, so a bad template
// stops the server rather than a user's sign-in. Each page has a typed data
// struct ([LoginPage], [ConsentPage], [ErrorPage]) and one method on
// [Templates] that renders it into a buffer, sets the security headers
// ([SetPageHeaders]) and then writes the status and body, so a template
// error never leaves a half-written page.
//
// The pages carry no JavaScript, no inline styles and no external fonts: the
// Content-Security-Policy that [SetPageHeaders] sets allows only the
// stylesheet served from this origin. Every user-controlled string goes
// through html/template's contextual escaping.
//
// Routes: none of its own. The authorization server (package authz) renders
// the pages from its handlers and mounts the assets:
//
//	GET /static/style.css   web.StaticHandler(), i.e. web.Static() under web.StaticPrefix
//
// Package web imports only the standard library. It must not import authz or
// storage; the page data types live here so that they need not.
package web
