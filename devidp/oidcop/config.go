package oidcop

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/devidp/internal/devkit"
	"github.com/eidsp/eidsp/identity"
)

// Presets: which OpenID provider a Provider plays.
const (
	PresetIDPorten = "idporten"
	PresetBankID   = "bankid"
)

// Client authentication methods at the token and PAR endpoints (RFC 7591 names).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Lifetimes. Codes live 60 s and ID tokens 120 s as at ID-porten; the session lifetime is
// ID-porten's maximum SSO session.
const (
	DefaultKeyOverlap = 10 * time.Minute
	codeTTL           = 60 * time.Second
	idTokenTTL        = 120 * time.Second
	accessTokenTTL    = 120 * time.Second
	sessionTTL        = 120 * time.Minute
	loginTTL          = 10 * time.Minute
	parTTL            = 60 * time.Second
	// assertionMaxLifetime bounds a private_key_jwt client assertion (the contract: exp ≤ 120 s),
	// and with it how long its jti must be remembered.
	assertionMaxLifetime = 120 * time.Second
	// leeway is the clock skew allowed on client assertions.
	leeway = 30 * time.Second
)

// Config configures a Provider. Zero values take the defaults named on each field.
type Config struct {
	// BaseURL is where the provider is served, e.g. http://127.0.0.1:8081; the issuer is
	// BaseURL + "/oidc/" + Preset.
	BaseURL string
	// Preset is PresetIDPorten or PresetBankID.
	Preset string
	// Signer is the ID token signing key (RSA, at least 2048 bits; RS256).
	Signer *rsa.PrivateKey
	// Persons are the test persons offered; default devidp.DefaultPersons(). Only synthetic
	// numbers (month + 80) are accepted, so that nothing this provider asserts passes a production
	// configuration.
	Persons []devidp.Person
	// KeyOverlap is how long a key replaced by RotateKey stays in the JWKS; default 10 min.
	KeyOverlap time.Duration
	Now        func() time.Time
	Rand       io.Reader // default crypto/rand; used behind a lock, so any reader will do
	Logger     *slog.Logger
	// AllowInsecure permits an http BaseURL and http redirect, logout and front-channel URIs
	// (local development); without it every URL must be https.
	AllowInsecure bool
}

// withDefaults returns cfg with every zero value replaced by its default.
func (cfg Config) withDefaults() Config {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Persons == nil {
		cfg.Persons = devidp.DefaultPersons()
	}
	if cfg.KeyOverlap == 0 {
		cfg.KeyOverlap = DefaultKeyOverlap
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Rand = devkit.NewLockedReader(cfg.Rand)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports every problem of a configuration (after defaults) at once.
func (cfg Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(cfg.BaseURL); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		(u.Scheme != "https" && (u.Scheme != "http" || !cfg.AllowInsecure)) {
		add("oidcop: base URL %q is not an absolute https URL without query (http only with AllowInsecure)", cfg.BaseURL)
	}
	if presets[cfg.Preset] == nil {
		add("oidcop: preset %q is neither %q nor %q", cfg.Preset, PresetIDPorten, PresetBankID)
	}
	if err := checkKey(cfg.Signer); err != nil {
		add("oidcop: signer: %w", err)
	}
	if cfg.KeyOverlap < 0 {
		add("oidcop: key overlap %v is negative", cfg.KeyOverlap)
	}
	if len(cfg.Persons) == 0 {
		add("oidcop: no test persons")
	}
	seen := map[string]bool{}
	for n, p := range cfg.Persons {
		// The error of ParseNationalID never contains the number; neither does this one.
		if kind, err := identity.ParseNationalID(p.NationalID); err != nil {
			add("oidcop: test person %d (%s): %w", n, p.Name, err)
		} else if !kind.Synthetic() {
			add("oidcop: test person %d (%s) is not synthetic (month + 80)", n, p.Name)
		}
		if seen[p.NationalID] {
			add("oidcop: test person %d (%s) appears twice", n, p.Name)
		}
		seen[p.NationalID] = true
	}
	return errors.Join(errs...)
}

func checkKey(k *rsa.PrivateKey) error {
	if k == nil {
		return errors.New("no RSA key")
	}
	if k.N.BitLen() < 2048 {
		return fmt.Errorf("RSA key of %d bits; at least 2048", k.N.BitLen())
	}
	return k.Validate()
}

// Client is a relying party registered with the provider, as at ID-porten's or BankID's
// self-service.
type Client struct {
	ID string
	// Secret authenticates client_secret_basic and client_secret_post clients.
	Secret string
	// PublicKey verifies private_key_jwt client assertions (RS256).
	PublicKey *rsa.PublicKey
	// AuthMethod is AuthClientSecretBasic (the default), AuthClientSecretPost or
	// AuthPrivateKeyJWT; a client may authenticate only by its method.
	AuthMethod string
	// RedirectURIs are the only redirect_uri values accepted (exact match).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the only post_logout_redirect_uri values accepted (exact match).
	PostLogoutRedirectURIs []string
	// FrontchannelLogoutURI, if set, is loaded in an iframe with iss and sid when another client
	// of the same SSO session logs out.
	FrontchannelLogoutURI string
	// NNINAltsub entitles a BankID client to the national identity number (claim nnin_altsub,
	// when it asks for the scope nnin_altsub). Only the bankid preset knows it.
	NNINAltsub bool
}

// originPattern is what a URL's origin may look like to be named in a Content-Security-Policy
// (frame-src) without quoting.
var originPattern = regexp.MustCompile(`^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// check reports every problem of a client registration at once.
func (c *Client) check(preset string, allowInsecure bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ID == "" || len(c.ID) > 255 || strings.ContainsFunc(c.ID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		add("client ID %q is empty, too long or not printable ASCII", c.ID)
	}
	switch c.AuthMethod {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if c.Secret == "" {
			add("%s needs a secret", c.AuthMethod)
		}
		if c.PublicKey != nil {
			add("%s takes no public key", c.AuthMethod)
		}
	case AuthPrivateKeyJWT:
		if c.PublicKey == nil {
			add("%s needs a public key", c.AuthMethod)
		} else if c.PublicKey.N.BitLen() < 2048 {
			add("public key of %d bits; at least 2048", c.PublicKey.N.BitLen())
		}
		if c.Secret != "" {
			add("%s takes no secret", c.AuthMethod)
		}
	default:
		add("auth method %q is not %s, %s or %s", c.AuthMethod, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT)
	}
	if len(c.RedirectURIs) == 0 {
		add("no redirect URI")
	}
	for _, u := range c.RedirectURIs {
		if err := checkURL(u, allowInsecure); err != nil {
			add("redirect URI: %w", err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkURL(u, allowInsecure); err != nil {
			add("post-logout redirect URI: %w", err)
		}
	}
	if c.FrontchannelLogoutURI != "" {
		if err := checkURL(c.FrontchannelLogoutURI, allowInsecure); err != nil {
			add("front-channel logout URI: %w", err)
		} else if !originPattern.MatchString(origin(c.FrontchannelLogoutURI)) {
			add("front-channel logout URI %q: host cannot be named in a Content-Security-Policy", c.FrontchannelLogoutURI)
		}
	}
	if c.NNINAltsub && preset != PresetBankID {
		add("nnin_altsub is a BankID entitlement; this provider plays %s", preset)
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL (http with allowInsecure) without fragment or user info.
func checkURL(s string, allowInsecure bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(s, " \t\r\n\"'<>\\") ||
		(u.Scheme != "https" && (u.Scheme != "http" || !allowInsecure)) {
		return fmt.Errorf("%q is not an absolute https URL without fragment (http only with AllowInsecure)", s)
	}
	return nil
}

// origin is the scheme://host[:port] of an absolute URL already checked by checkURL.
func origin(s string) string {
	u, _ := url.Parse(s)
	return u.Scheme + "://" + u.Host
}

// eID is a login method the page offers.
type eID struct {
	ID    string   // form value
	Name  string   // proper noun, shown as is
	Level int      // Norwegian security level 3 or 4
	AMR   []string // the amr claim
}

// preset is what differs between the providers played.
type preset struct {
	eIDs   []eID
	acr    map[int]string // level → acr value
	scopes []string       // scopes granted when asked for; others are ignored
	claims []string       // claims_supported
}

var presets = map[string]*preset{
	PresetIDPorten: {
		eIDs: []eID{
			{"minid", "MinID", 3, []string{"MinID-PIN"}},
			{"bankid", "BankID", 4, []string{"BankID"}},
			{"buypass", "Buypass ID", 4, []string{"Buypass"}},
			{"commfides", "Commfides", 4, []string{"Commfides"}},
			{"testid", "TestID", 4, []string{"TestID"}},
		},
		acr:    map[int]string{3: "idporten-loa-substantial", 4: "idporten-loa-high"},
		scopes: []string{"openid", "profile"},
		claims: []string{"iss", "sub", "aud", "exp", "iat", "nonce", "acr", "amr", "auth_time", "sid", "pid", "locale", "at_hash"},
	},
	PresetBankID: {
		eIDs: []eID{
			{"bid", "BankID", 4, []string{"BID"}},
			{"bis", "BankID (substantial)", 3, []string{"BIS"}},
		},
		acr:    map[int]string{3: "urn:bankid:bis;LOA=3", 4: "urn:bankid:bid;LOA=4"},
		scopes: []string{"openid", "profile", "nnin_altsub"},
		claims: []string{"iss", "sub", "aud", "exp", "iat", "nonce", "acr", "amr", "auth_time", "sid", "nnin_altsub", "name", "at_hash"},
	},
}

// acrValues lists the preset's acr values, lowest level first.
func (p *preset) acrValues() []string {
	levels := make([]int, 0, len(p.acr))
	for l := range p.acr {
		levels = append(levels, l)
	}
	slices.Sort(levels)
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = p.acr[l]
	}
	return out
}

// levelOf is the level of an acr value.
func (p *preset) levelOf(acr string) (int, bool) {
	for l, v := range p.acr {
		if v == acr {
			return l, true
		}
	}
	return 0, false
}
