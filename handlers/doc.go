// Package handlers is eidsp's HTTP surface: thin Echo handlers that parse a request, call the
// saml package and the session store, and render a page, a redirect or JSON. Protocol logic
// lives in saml; every error becomes one page and one log line in the error handler.
//
// A login: GET /login stores a pending login and redirects to the IdP with a signed
// AuthnRequest; GET (artifact) or POST /saml/acs consumes the pending login once, has saml verify
// the answer, takes the assertion ID in the replay cache, checks the level and creates a fresh
// server-side session. Portals read it from GET /session (JSON) or GET /auth (forward-auth).
package handlers
