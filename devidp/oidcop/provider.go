package oidcop

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Provider is one development OpenID provider (one issuer). It is safe for concurrent use.
type Provider struct {
	cfg          Config
	preset       *preset
	issuer       string
	prefix       string // URL path of the issuer; every endpoint hangs below it
	urls         endpoints
	cookie       string // the SSO session cookie's name
	cookieSecure bool
	pairwiseKey  []byte

	mu       sync.Mutex
	clients  map[string]Client
	keys     []signingKey // the current key first
	pending  map[string]*pendingLogin
	pushed   map[string]*pushedRequest
	codes    map[string]*authCode
	tokens   map[string]*accessGrant
	sessions map[string]*session // by cookie value
	jtis     map[string]time.Time
}

type endpoints struct {
	discovery, jwks, authorize, token, userinfo, endsession, par string
}

// signingKey is a key of the JWKS; the current one signs, retired ones are published until retire.
type signingKey struct {
	kid    string
	key    *rsa.PrivateKey
	retire time.Time
}

// New checks cfg and returns a provider without clients.
func New(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.BaseURL)
	issuer := cfg.BaseURL + "/oidc/" + cfg.Preset
	prefix := strings.TrimRight(u.Path, "/") + "/oidc/" + cfg.Preset
	kid, err := keyID(cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("oidcop: signer: %w", err)
	}
	// The pairwise subject key is derived from the signing key so that subjects stay the same
	// across restarts with the same key (an RP may store them), yet cannot be computed by anyone
	// who knows only the public key.
	mac := hmac.New(sha256.New, cfg.Signer.D.Bytes())
	io.WriteString(mac, "oidcop pairwise subject\x00"+cfg.Preset)
	return &Provider{
		cfg:    cfg,
		preset: presets[cfg.Preset],
		issuer: issuer,
		prefix: prefix,
		urls: endpoints{
			discovery:  issuer + "/.well-known/openid-configuration",
			jwks:       issuer + "/jwks",
			authorize:  issuer + "/authorize",
			token:      issuer + "/token",
			userinfo:   issuer + "/userinfo",
			endsession: issuer + "/endsession",
			par:        issuer + "/par",
		},
		cookie:       "oidcop_" + cfg.Preset,
		cookieSecure: u.Scheme == "https",
		pairwiseKey:  mac.Sum(nil),
		clients:      map[string]Client{},
		keys:         []signingKey{{kid: kid, key: cfg.Signer}},
		pending:      map[string]*pendingLogin{},
		pushed:       map[string]*pushedRequest{},
		codes:        map[string]*authCode{},
		tokens:       map[string]*accessGrant{},
		sessions:     map[string]*session{},
		jtis:         map[string]time.Time{},
	}, nil
}

// Issuer is BaseURL + "/oidc/" + preset, the iss of everything the provider issues.
func (p *Provider) Issuer() string { return p.issuer }

// Handler serves the provider's endpoints at their full paths below the issuer's path
// (/oidc/<preset>/...), so that both presets can share one mux.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p.prefix+"/.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET "+p.prefix+"/jwks", p.serveJWKS)
	mux.HandleFunc("GET "+p.prefix+"/authorize", p.serveAuthorize)
	mux.HandleFunc("POST "+p.prefix+"/authorize", p.serveLogin)
	mux.HandleFunc("POST "+p.prefix+"/token", p.serveToken)
	mux.HandleFunc("GET "+p.prefix+"/userinfo", p.serveUserinfo)
	mux.HandleFunc("POST "+p.prefix+"/userinfo", p.serveUserinfo)
	mux.HandleFunc("GET "+p.prefix+"/endsession", p.serveEndSession)
	mux.HandleFunc("POST "+p.prefix+"/endsession", p.serveEndSession)
	mux.HandleFunc("POST "+p.prefix+"/par", p.servePAR)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// RegisterClient checks c and registers it; registering the same ID again replaces the earlier
// registration. An empty AuthMethod is client_secret_basic (RFC 7591's default).
func (p *Provider) RegisterClient(c Client) error {
	if c.AuthMethod == "" {
		c.AuthMethod = AuthClientSecretBasic
	}
	if err := c.check(p.cfg.Preset, p.cfg.AllowInsecure); err != nil {
		return fmt.Errorf("oidcop: client %q: %w", c.ID, err)
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	p.mu.Lock()
	p.clients[c.ID] = c
	p.mu.Unlock()
	p.cfg.Logger.Info("oidcop: client registered", "preset", p.cfg.Preset, "client_id", c.ID, "auth_method", c.AuthMethod)
	return nil
}

// RotateKey makes key the signing key. The JWKS publishes it under a new kid at once and keeps
// the previous key for Config.KeyOverlap, so that ID tokens signed before the rotation still
// verify. Rotating to the current key changes nothing; a nil or weak key panics, as a
// programming error of the test or dev setup that calls it.
func (p *Provider) RotateKey(key *rsa.PrivateKey) {
	if err := checkKey(key); err != nil {
		panic("oidcop: RotateKey: " + err.Error())
	}
	kid, err := keyID(key)
	if err != nil {
		panic("oidcop: RotateKey: " + err.Error())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys[0].kid == kid {
		return
	}
	now := p.cfg.Now()
	keys := []signingKey{{kid: kid, key: key}}
	for i, k := range p.keys {
		if i == 0 {
			k.retire = now.Add(p.cfg.KeyOverlap)
		}
		if k.kid != kid && now.Before(k.retire) {
			keys = append(keys, k)
		}
	}
	p.keys = keys
	p.cfg.Logger.Info("oidcop: signing key rotated", "preset", p.cfg.Preset, "kid", kid)
}

// keyID is the RFC 7638 thumbprint of the public key: stable for a key, new for a new key.
func keyID(k *rsa.PrivateKey) (string, error) {
	jwk := jose.JSONWebKey{Key: &k.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// publishedKeys are the keys of the JWKS now: the current one and those not yet retired.
func (p *Provider) publishedKeys() []signingKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	var out []signingKey
	for i, k := range p.keys {
		if i == 0 || now.Before(k.retire) {
			out = append(out, k)
		}
	}
	return out
}

// randomToken is 32 random bytes, base64url: codes, tokens, cookies, form tokens, sids.
func (p *Provider) randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(p.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("oidcop: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// client returns a registered client.
func (p *Provider) client(id string) (Client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[id]
	return c, ok
}

// sweep forgets everything expired; p.mu is held. The stores are small (a developer's browser,
// a test), so a walk on every write is cheap enough.
func (p *Provider) sweep(now time.Time) {
	for k, v := range p.pending {
		if !now.Before(v.expires) {
			delete(p.pending, k)
		}
	}
	for k, v := range p.pushed {
		if !now.Before(v.expires) {
			delete(p.pushed, k)
		}
	}
	for k, v := range p.codes {
		if !now.Before(v.expires) {
			delete(p.codes, k)
		}
	}
	for k, v := range p.tokens {
		if !now.Before(v.expires) {
			delete(p.tokens, k)
		}
	}
	for k, v := range p.sessions {
		if !now.Before(v.expires) {
			delete(p.sessions, k)
		}
	}
	for k, v := range p.jtis {
		if !now.Before(v) {
			delete(p.jtis, k)
		}
	}
}
