package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/eidsp/eidsp/identity"
	"github.com/labstack/echo/v5"
)

// The identity headers a portal behind eidsp reads. Whoever puts eidsp in front of a portal
// must make sure no client can send them itself: the reverse proxy here strips every X-Eid-*
// header; the nginx configuration in deploy/nginx sets each of them.
const (
	headerNationalID = "X-Eid-National-Id"
	headerLevel      = "X-Eid-Level"
	headerInstrument = "X-Eid-Instrument"
	headerAuthMethod = "X-Eid-Auth-Method"
	headerIdP        = "X-Eid-IdP"
	// headerSubject is the provider's own subject, set only for an identity without a national
	// identity number (BankID OIDC for a client not entitled to nnin_altsub); the portal must
	// not treat an empty X-Eid-National-Id as a person.
	headerSubject = "X-Eid-Subject"

	// headerMinLevel is set by the forward-auth proxy per protected location.
	headerMinLevel = "X-Eid-Min-Level"
	// headerReturnTo answers a refused forward-auth request with the original URI, already
	// escaped for a query string: nginx cannot escape $request_uri itself, and an unescaped
	// "&" or "%20" would lose or break the return_to of the login it redirects to.
	headerReturnTo = "X-Eid-Return-To"
)

// The identity headers' keys in canonical form, computed once instead of by Header.Set on
// every forward-auth request.
var (
	keyNationalID = http.CanonicalHeaderKey(headerNationalID)
	keyLevel      = http.CanonicalHeaderKey(headerLevel)
	keyInstrument = http.CanonicalHeaderKey(headerInstrument)
	keyAuthMethod = http.CanonicalHeaderKey(headerAuthMethod)
	keyIdP        = http.CanonicalHeaderKey(headerIdP)
	keySubject    = http.CanonicalHeaderKey(headerSubject)
)

// setIdentityHeaders writes the X-Eid-* identity headers of id into h, replacing any value.
func setIdentityHeaders(h http.Header, id identity.Identity) {
	h[keyNationalID] = []string{id.NationalID}
	h[keyLevel] = []string{strconv.Itoa(id.Level)}
	h[keyInstrument] = []string{id.Instrument}
	h[keyAuthMethod] = []string{id.AuthMethod}
	h[keyIdP] = []string{id.IdP}
	if id.NationalID == "" && id.Subject != "" {
		h[keySubject] = []string{id.Subject}
	} else {
		delete(h, keySubject)
	}
}

// forwardAuth: GET /auth for nginx auth_request, Traefik ForwardAuth and Caddy forward_auth.
// 200 with the X-Eid-* identity headers for a live session, 401 without one, and 403 when the
// session's level is below the minimum the proxy asks for (?min_level=4 or X-Eid-Min-Level: 4),
// so that the proxy can send the user to a login of that level. When both name a level the
// higher one counts: neither can lower what the other demands.
//
// With ?login=<profile> a refusal is instead a redirect to that profile's login, with the
// original URI as return_to: Traefik and Caddy hand the auth server's refusal to the browser as
// it is, where nginx turns a 401 or 403 into the redirect itself (error_page). A profile whose
// level is below the minimum asked for is refused (400): its login could never let the user in.
func (s *Server) forwardAuth(c *echo.Context) error {
	r := c.Request()
	var query url.Values
	if r.URL.RawQuery != "" { // most forward-auth requests have none: skip parsing
		query = r.URL.Query()
	}
	minLevel, err := requestedMinLevel(r, query)
	if err != nil {
		return badRequest("min_level", err)
	}
	var login *Profile
	if name := query.Get("login"); name != "" {
		p, ok := s.profile(name)
		if !ok {
			return badRequest("login", fmt.Errorf("login profile %q is not configured", name))
		}
		if p.MinLevel < minLevel {
			return badRequest("login", fmt.Errorf("login profile %q gives level %d, below the minimum %d", name, p.MinLevel, minLevel))
		}
		login = p
	}
	sess, err := s.currentSession(c)
	if err != nil {
		return err
	}
	if sess == nil || sess.Identity.Level < minLevel {
		rt, ok := originalURI(r)
		if login != nil {
			q := url.Values{"profile": {login.Name}}
			if ok {
				q.Set("return_to", rt)
			}
			return c.Redirect(http.StatusFound, "/login?"+q.Encode())
		}
		if ok {
			c.Response().Header().Set(headerReturnTo, url.QueryEscape(rt))
		}
		if sess == nil {
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.NoContent(http.StatusForbidden)
	}
	h := c.Response().Header()
	setIdentityHeaders(h, sess.Identity)
	if _, ok := h[keySubject]; !ok {
		// Always answered, empty when the identity has a national identity number: Caddy 2.6's
		// copy_headers hands the portal a header the answer lacks as its literal placeholder
		// ("{http.reverse_proxy.header.X-Eid-Subject}"). nginx passes an empty one as none.
		h[keySubject] = []string{""}
	}
	return c.NoContent(http.StatusOK)
}

// requestedMinLevel is the highest level named by the min_level query parameter and the
// X-Eid-Min-Level header, or 0 when neither names one.
func requestedMinLevel(r *http.Request, query url.Values) (int, error) {
	level := 0
	for _, values := range [2][]string{query["min_level"], r.Header.Values(headerMinLevel)} {
		for _, v := range values {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || (n != identity.Level3 && n != identity.Level4) {
				return 0, errors.New("min_level must be 3 or 4")
			}
			level = max(level, n)
		}
	}
	return level, nil
}

// originalURI is the URI the user asked the proxy for, as nginx (X-Original-URI, set by our
// configuration) or Traefik and Caddy (X-Forwarded-Uri) pass it, when it is a safe return_to.
func originalURI(r *http.Request) (string, bool) {
	raw := r.Header.Get("X-Original-URI")
	if raw == "" {
		raw = r.Header.Get("X-Forwarded-Uri")
	}
	if raw == "" {
		return "", false
	}
	return safeReturnTo(raw)
}
