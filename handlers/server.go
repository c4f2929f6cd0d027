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
	// Live, when set, gives the IdP's metadata as it stands now (refreshed, uploaded); it then
	// replaces Policy.Descriptor and SSOURL at every request. Nil: they are fixed.
	Live DescriptorSource
}

// DescriptorSource gives an IdP's current metadata; an error when there is none that may be used
// (expired and not renewed). metadata/registry implements it.
type DescriptorSource interface {
	Descriptor(name string) (*saml.IdPDescriptor, error)
}

// errMetadataUnavailable is why a login cannot start or finish: the IdP's metadata has expired.
type errMetadataUnavailable struct{ err error }

func (e errMetadataUnavailable) Error() string { return "idp metadata: " + e.err.Error() }
func (e errMetadataUnavailable) Unwrap() error { return e.err }

// idp returns the named IdP with its metadata as it stands now: a copy whose Policy.Descriptor
// and SSOURL are current. An unknown name gives (nil, nil); metadata that may not be used gives
// an error, which the error handler shows as "the IdP cannot be reached".
func (s *Server) idp(name string) (*IdP, error) {
	idp, ok := s.IdPs[name]
	if !ok {
		return nil, nil
	}
	if idp.Live == nil {
		return idp, nil
	}
	desc, err := idp.Live.Descriptor(name)
	if err != nil {
		return nil, &pageError{Status: http.StatusServiceUnavailable, Key: "idp_unreachable", Reason: "metadata",
			Err: errMetadataUnavailable{err}}
	}
	cp := *idp
	pol := *idp.Policy
	pol.Descriptor = desc
	cp.Policy = &pol
	if sso, ok := saml.EndpointFor(desc.SingleSignOn, saml.BindingHTTPRedirect); ok {
		cp.SSOURL = sso.Location
	}
	return &cp, nil
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
	// MetricsElsewhere: GET /metrics is served on a listener of its own (metrics_listen), not
	// by this server.
	MetricsElsewhere bool
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
	// NextSigner and GET /saml/metadata serves SPMetadataFunc's rolled-over metadata, as it
	// will read once the next key is promoted to current.
	RolloverAt time.Time
	// RolloverForced, when set, reports that an operator switched signing to the next key ahead
	// of RolloverAt (eidsp rollover, or the admin pages); it is read at every request.
	RolloverForced func() bool
	// SPMetadataFunc, when set, builds the metadata served at now (validUntil moves with the
	// date); it replaces SPMetadata, which is served unchanged otherwise.
	SPMetadataFunc func(now time.Time, rolledOver bool) []byte
	// Expiring, when set, lists what /readyz reports the expiry of.
	Expiring func() []Expiring
	// Warnings, when set, adds problems to /readyz's warnings that do not take the instance out
	// (an OpenID provider's discovery that could not be re-read, say).
	Warnings func() []string
	// OIDC are the OpenID Connect providers by name; a profile's IdP may name one.
	OIDC map[string]OIDCClient
	// Admin turns on /admin/ and /admin/api/; nil: off (404).
	Admin *Admin
	// AuditTrail, when set, receives every login, logout and admin event for the admin pages'
	// "recent events" (the log stays the authoritative record).
	AuditTrail func(*session.AuditEvent)
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
	if s.Metrics != nil && !s.Opt.MetricsElsewhere {
		e.GET("/metrics", echo.WrapHandler(s.Metrics.Handler()))
	}
	s.adminRoutes(e)
	s.oidcRoutes(e)
	e.StaticFS("/static", templates.Static())
	return e
}

// NIDHash is nidHash for the wiring (the admin list is held as these hashes).
func (s *Server) NIDHash(nid string) string { return s.nidHash(nid) }

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
