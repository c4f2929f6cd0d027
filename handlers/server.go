package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/templates"
	"github.com/labstack/echo/v5"
)

// Profile is one login choice: which IdP, which Buypass instruments, which level.
type Profile struct {
	Name        string
	Label       string // message key
	IdP         string
	Instruments []string
	MinLevel    int
	ForceAuthn  bool
	OnBehalfOf  string
}

// satisfiedBy reports whether a session's identity already meets the profile: same IdP, level at
// least the minimum and, when the profile names instruments, one of them.
func (p *Profile) satisfiedBy(id identity.Identity) bool {
	return id.IdP == p.IdP && id.Level >= p.MinLevel &&
		(len(p.Instruments) == 0 || slices.Contains(p.Instruments, id.Instrument))
}

// IdP is a configured identity provider as the handlers use it.
type IdP struct {
	Name                string
	Policy              *saml.IdP   // what saml verifies against
	SSOURL              string      // SingleSignOnService, HTTP-Redirect
	Binding             string      // saml.BindingHTTPArtifact or saml.BindingHTTPPost
	Signer              saml.Signer // our key, with this IdP's signature algorithm
	InstrumentNamespace string
	// NextSigner is the next key pair during a key rollover, with the same algorithm; it signs
	// from Server.RolloverAt. Nil: no rollover.
	NextSigner *saml.Signer
}

// Options are the server's settings.
type Options struct {
	BaseURL      string // e.g. https://login.example.no
	EntityID     string
	PortalName   string
	CookieName   string
	IdleTimeout  time.Duration
	MaxLifetime  time.Duration
	PendingTTL   time.Duration
	SOAPTimeout  time.Duration
	MaxPostBytes int64
	HashKey      []byte // keyed hash of national identity numbers in logs; CSRF tokens
	LoggedOutURL string // where a finished logout goes; empty: our "logged out" page
	// Reverse-proxy mode: every path that is not eidsp's own (including /) is proxied to Upstream
	// for a session of at least DefaultProfile's level; nil: off.
	Upstream       *url.URL
	DefaultProfile string // the login an unauthenticated browser is sent to in reverse-proxy mode
}

// Server holds the handlers' dependencies. Everything is a field; nothing is global.
type Server struct {
	Opt        Options
	Store      session.Store
	Pages      *templates.Set
	Log        *slog.Logger
	Now        func() time.Time
	Rand       io.Reader // nil: crypto/rand
	Verifier   saml.Verifier
	SOAP       saml.SOAPClient
	IdPs       map[string]*IdP
	Profiles   []Profile
	SPMetadata []byte
	Metrics    Observer // nil: no metrics, no GET /metrics
	// Key rollover: from RolloverAt (zero: never) every request is signed with each IdP's
	// NextSigner and GET /saml/metadata serves SPMetadataRolledOver, the metadata as it will
	// read once the next key is promoted to current.
	RolloverAt           time.Time
	SPMetadataRolledOver []byte
}

func (s *Server) acsURL() string { return s.Opt.BaseURL + "/saml/acs" }

func (s *Server) secure() bool { return strings.HasPrefix(s.Opt.BaseURL, "https://") }

func (s *Server) profile(name string) (*Profile, bool) {
	for i := range s.Profiles {
		if s.Profiles[i].Name == name {
			return &s.Profiles[i], true
		}
	}
	return nil, false
}

// Echo builds the router with its middleware and the one error handler.
func (s *Server) Echo() *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	e.Pre(s.reference, s.securityHeaders)
	e.Use(s.recoverPanic, s.limitOwnBody)
	if s.Opt.Upstream == nil {
		e.GET("/", s.index)
	} else {
		e.Any(proxyRoute, s.reverseProxy())
	}
	e.GET("/login", s.login)
	e.GET("/saml/acs", s.acsArtifact)
	e.POST("/saml/acs", s.acsPost)
	e.GET("/saml/metadata", s.metadata)
	e.GET("/logout", s.logout)
	e.POST("/logout", s.logout)
	e.GET("/saml/slo", s.slo)
	e.GET("/session", s.sessionJSON)
	e.GET("/auth", s.forwardAuth)
	e.GET("/healthz", func(c *echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	if s.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.Metrics.Handler()))
	}
	e.StaticFS("/static", templates.Static())
	return e
}

// nidHash correlates national identity numbers across log lines without revealing them: an
// HMAC under the log hash key, 80 bits in lowercase base32. Not hex: one hex string in 30 holds
// eleven digits in a row, which the logger's last-line redaction would mask.
func (s *Server) nidHash(nid string) string {
	m := hmac.New(sha256.New, s.Opt.HashKey)
	m.Write([]byte("nid:" + nid))
	return strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil)[:10]))
}

// safeReturnTo accepts only a same-origin absolute path: "/cases?id=1". Anything that a browser
// could read as another origin (//evil, /\evil, schemes, encoded variants) is refused.
func safeReturnTo(raw string) (string, bool) {
	if raw == "" {
		return "/", true
	}
	if len(raw) > 1024 || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") ||
		strings.ContainsAny(raw, "\\\x00\r\n\t ") {
		return "", false
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return "", false
	}
	if strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
		return "", false
	}
	return raw, true
}
