package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/labstack/echo/v5"
)

// Reverse-proxy mode: eidsp stands in front of a portal that cannot do forward-auth itself.
// Every path that is not eidsp's own goes to Options.Upstream when the browser has a session of
// at least the default profile's level, with the identity in the X-Eid-* headers; a browser
// without one is sent to that profile's login and comes back to the same URI.

// proxyRoute is the route the reverse proxy is registered on: everything the router has no
// other route for.
const proxyRoute = "/*"

// ownPrefixes are eidsp's own paths. They are never proxied, whatever the method: a POST to
// /session is a wrong request to eidsp, not a request to the portal.
var ownPrefixes = []string{"/login", "/logout", "/saml/", "/session", "/auth", "/healthz", "/readyz", "/metrics", "/static/"}

func ownPath(p string) bool {
	for _, pre := range ownPrefixes {
		if p == pre || strings.HasPrefix(p, pre) && (strings.HasSuffix(pre, "/") || p[len(pre)] == '/') {
			return true
		}
	}
	return false
}

// isIdentityHeader reports whether name is an X-Eid-* header in any spelling an upstream might
// read as one: any case, and with "_" for "-" (CGI-style servers map both to HTTP_X_EID_…).
func isIdentityHeader(name string) bool {
	return len(name) >= 6 && strings.EqualFold(strings.ReplaceAll(name[:6], "_", "-"), "x-eid-")
}

// stripIdentityHeaders deletes every X-Eid-* header, including repeated ones.
func stripIdentityHeaders(h http.Header) {
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
		}
	}
}

// withoutCookie removes the cookie name from the Cookie headers of h: the upstream has no use
// for eidsp's session ID, and a portal that logs its requests should not hold one.
func withoutCookie(h http.Header, name string) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		var parts []string
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			n, _, _ := strings.Cut(part, "=")
			if part != "" && strings.TrimSpace(n) != name {
				parts = append(parts, part)
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	h.Del("Cookie")
	for _, v := range kept {
		h.Add("Cookie", v)
	}
}

// pageHeaders are the headers securityHeaders sets for eidsp's own pages. On a proxied response
// the upstream's value wins; the Content-Security-Policy, written for eidsp's pages only, is
// never applied to the portal's.
var pageHeaders = []string{"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security", "Cache-Control", "Pragma"}

// upstreamTransport is the reverse proxy's connection pool. Unlike http.DefaultTransport it
// ignores HTTP_PROXY (the portal is a neighbour, not the Internet) and keeps enough idle
// connections for one busy upstream.
func upstreamTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// reverseProxy is the handler of every path that is not eidsp's own, when Options.Upstream is
// set.
func (s *Server) reverseProxy() echo.HandlerFunc {
	transport := upstreamTransport()
	errLog := slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn)
	base, _ := url.Parse(s.Opt.BaseURL) // validated by config; parsed once, not per request
	return func(c *echo.Context) error {
		r := c.Request()
		if ownPath(r.URL.Path) {
			return echo.ErrMethodNotAllowed
		}
		prof, ok := s.profile(s.Opt.DefaultProfile)
		if !ok {
			return &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "config",
				Err: fmt.Errorf("reverse proxy: default profile %q is not configured", s.Opt.DefaultProfile)}
		}
		sess, err := s.currentSession(c)
		if err != nil {
			return err
		}
		if sess == nil || sess.Identity.Level < prof.MinLevel {
			return s.toLogin(c, prof)
		}
		h := c.Response().Header()
		var upstreamErr error
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { s.rewrite(pr, base, sess.Identity) },
			Transport: transport,
			ModifyResponse: func(res *http.Response) error {
				h.Del("Content-Security-Policy")
				for _, k := range pageHeaders {
					if _, set := res.Header[k]; set || k == "Pragma" && res.Header.Get("Cache-Control") != "" {
						h.Del(k)
					}
				}
				return nil
			},
			ErrorHandler: func(_ http.ResponseWriter, _ *http.Request, err error) { upstreamErr = err },
			ErrorLog:     errLog,
		}
		rp.ServeHTTP(c.Response(), r)
		switch {
		case upstreamErr == nil:
			return nil
		case r.Context().Err() != nil:
			return nil // the client went away; there is no one to answer
		default:
			return &pageError{Status: http.StatusBadGateway, Key: "internal", Reason: "upstream",
				Err: fmt.Errorf("reverse proxy: %w", upstreamErr)}
		}
	}
}

// rewrite makes the upstream request. It runs after ReverseProxy has removed the hop-by-hop
// headers, including any the client named in Connection, so the identity headers set here
// cannot be removed by the client that way.
func (s *Server) rewrite(pr *httputil.ProxyRequest, base *url.URL, id identity.Identity) {
	pr.SetURL(s.Opt.Upstream)
	pr.SetXForwarded()
	// The public origin is eidsp's base URL, whatever Host the client sent and whether or not
	// TLS ended before eidsp.
	if base != nil && base.Host != "" {
		pr.Out.Header.Set("X-Forwarded-Host", base.Host)
		pr.Out.Header.Set("X-Forwarded-Proto", base.Scheme)
	}
	stripIdentityHeaders(pr.Out.Header)
	stripIdentityHeaders(pr.Out.Trailer)
	withoutCookie(pr.Out.Header, s.Opt.CookieName)
	setIdentityHeaders(pr.Out.Header, id)
}

// toLogin answers a request without a good enough session: a browser's GET goes to the login
// and returns to the same URI afterwards; any other request cannot be replayed after a login
// and gets an error page whose "try again" starts one.
func (s *Server) toLogin(c *echo.Context, prof *Profile) error {
	q := url.Values{"profile": {prof.Name}}
	if rt, ok := safeReturnTo(c.Request().URL.RequestURI()); ok {
		q.Set("return_to", rt)
	}
	login := "/login?" + q.Encode()
	if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
		return c.Redirect(http.StatusFound, login)
	}
	return &pageError{Status: http.StatusUnauthorized, Key: "expired", Reason: "no_session", Retry: login,
		Err: errors.New("reverse proxy: request without a session")}
}

// limitOwnBody is limitBody for eidsp's own routes only: the body of a proxied request is the
// upstream's to limit.
func (s *Server) limitOwnBody(next echo.HandlerFunc) echo.HandlerFunc {
	limited := s.limitBody(next)
	return func(c *echo.Context) error {
		if s.Opt.Upstream != nil && c.Path() == proxyRoute {
			return next(c)
		}
		return limited(c)
	}
}
