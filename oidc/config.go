package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/identity"
)

// Client authentication methods at the token (and PAR) endpoint.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Defaults for the zero values of Config.
const (
	DefaultSkew             = 3 * time.Minute // as saml.clock_skew's default
	DefaultDiscoveryRefresh = time.Hour
	DefaultHTTPTimeout      = 10 * time.Second
)

// Config describes one OpenID provider and our client there.
type Config struct {
	Name   string // configured IdP name; becomes Identity.IdP
	Preset string // "idporten" | "bankid" | "generic" (identity.OIDCPreset)

	// Issuer is the provider's issuer identifier exactly as its discovery document states it;
	// discovery is read from Issuer + "/.well-known/openid-configuration".
	Issuer       string
	ClientID     string
	ClientSecret string // client_secret_basic and client_secret_post
	// AuthMethod is how we authenticate at the token and PAR endpoints; empty means
	// client_secret_basic, the OAuth default.
	AuthMethod string
	PrivateKey *rsa.PrivateKey // private_key_jwt: RS256 client assertions, at least 2048 bits
	KeyID      string          // private_key_jwt: kid of PrivateKey as registered at the provider

	RedirectURL string // BASE/oidc/callback
	// Scopes to request; "openid" is always added. A BankID client entitled to the national id
	// lists "nnin_altsub" here, and only then is the nnin_altsub claim read.
	Scopes []string
	// UsePAR pushes the authorization request (RFC 9126) when the provider advertises a PAR
	// endpoint. A provider that sets require_pushed_authorization_requests gets PAR regardless.
	UsePAR bool

	AllowSynthetic bool // accept synthetic test persons; never in production
	// AllowInsecure permits http:// for the issuer, the redirect URL and the endpoints, but only
	// on loopback hosts (the dev OpenID provider, tests). https is required everywhere else.
	AllowInsecure bool

	// HTTP is the client for discovery, JWKS, PAR and token requests. Default: a 10 s timeout
	// and no redirects followed (an endpoint that redirects is a misconfiguration, and a
	// redirected POST would carry our client credentials elsewhere).
	HTTP *http.Client
	Now  func() time.Time // default time.Now
	Rand io.Reader        // jti of client assertions; default crypto/rand.Reader
	// Skew is the clock difference allowed on exp, iat, nbf and auth_time. Default 3 min.
	Skew time.Duration
	// DiscoveryRefresh: discovery and JWKS are read again at most this often, on the first
	// AuthURL or Exchange after it has passed; a failed read keeps the last good copy.
	// Default 1 h. An ID token signed by a key not in the cached JWKS also triggers a re-read
	// (rate-limited to one per JWKSMinRefetch), so a key rotation needs no wait.
	DiscoveryRefresh time.Duration
}

// JWKSMinRefetch is the least time between two JWKS reads caused by a token whose key is not
// in the cached set.
const JWKSMinRefetch = 10 * time.Second

// withDefaults returns cfg with the zero values replaced and "openid" prepended to the scopes.
func (cfg Config) withDefaults() Config {
	if cfg.AuthMethod == "" {
		cfg.AuthMethod = AuthClientSecretBasic
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{
			Timeout:       DefaultHTTPTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Skew == 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.DiscoveryRefresh == 0 {
		cfg.DiscoveryRefresh = DefaultDiscoveryRefresh
	}
	scopes := []string{"openid"}
	for _, s := range cfg.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	cfg.Scopes = scopes
	return cfg
}

// validate reports every problem of a defaulted Config at once.
func (cfg Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.Name == "" {
		add("name is required")
	}
	if !identity.OIDCPreset(cfg.Preset).Valid() {
		add("preset %q is not one of idporten, bankid, generic", cfg.Preset)
	}
	if err := checkURL(cfg.Issuer, cfg.AllowInsecure); err != nil {
		add("issuer: %v", err)
	}
	if cfg.ClientID == "" {
		add("client_id is required")
	}
	switch cfg.AuthMethod {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if cfg.ClientSecret == "" {
			add("%s needs a client secret", cfg.AuthMethod)
		}
	case AuthPrivateKeyJWT:
		switch {
		case cfg.PrivateKey == nil:
			add("private_key_jwt needs a private key")
		case cfg.PrivateKey.N.BitLen() < 2048:
			add("private_key_jwt key has %d bits, want at least 2048", cfg.PrivateKey.N.BitLen())
		}
	default:
		add("auth method %q is not one of %s, %s, %s", cfg.AuthMethod, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT)
	}
	if err := checkURL(cfg.RedirectURL, cfg.AllowInsecure); err != nil {
		add("redirect URL: %v", err)
	}
	for _, s := range cfg.Scopes {
		if !validScope(s) {
			add("scope %q is not a scope token", s)
		}
	}
	if cfg.Skew < 0 || cfg.Skew > 10*time.Minute {
		add("skew %s must be between 0 and 10m", cfg.Skew)
	}
	if cfg.DiscoveryRefresh < time.Minute {
		add("discovery refresh %s must be at least 1m", cfg.DiscoveryRefresh)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("oidc: provider %q: %w", cfg.Name, errors.Join(errs...))
}

// checkURL accepts an absolute https URL without fragment or user info, or http on a loopback
// host when allowInsecure.
func checkURL(raw string, allowInsecure bool) error {
	if raw == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%q must be an absolute URL without user info or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowInsecure && isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (http only on a loopback host with allow_insecure)", raw)
	}
	return fmt.Errorf("%q must use https", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScope is RFC 6749 §3.3's scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScope(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
