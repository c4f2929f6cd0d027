package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/eidsp/eidsp/identity"
)

// Provider is one configured OpenID provider: its checked discovery document and keys, and our
// client there. It is safe for concurrent use.
type Provider struct {
	cfg    Config
	preset identity.OIDCPreset
	nnin   bool // the client asks for nnin_altsub (BankID)

	cur atomic.Pointer[state]

	refreshMu   sync.Mutex // one refresh at a time; others keep using cur
	mu          sync.Mutex // guards lastAttempt, lastErr
	lastAttempt time.Time
	lastErr     error
}

// state is one good reading of the provider's discovery document and keys.
type state struct {
	doc      discovery
	algs     []string
	keys     *keySet
	verifier *gooidc.IDTokenVerifier
	oauth    oauth2.Config
	fetched  time.Time
}

// New checks cfg, reads the provider's discovery document and JWKS, and returns the Provider.
// It fails, naming every problem it can see, when the configuration is incomplete, discovery
// cannot be read, its issuer is not exactly cfg.Issuer, an endpoint is not https (http only for
// loopback hosts with AllowInsecure), the provider lacks code flow, PKCE S256, our client auth
// method or an acceptable ID token algorithm, or the JWKS holds no usable key.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:    cfg,
		preset: identity.OIDCPreset(cfg.Preset),
		nnin:   slices.Contains(cfg.Scopes, identity.ScopeNNINAltSub),
	}
	st, err := p.fetchState(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: provider %q: %w", cfg.Name, err)
	}
	p.cur.Store(st)
	p.lastAttempt = st.fetched
	return p, nil
}

// Issuer returns the configured (and discovered) issuer identifier.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// DiscoveryStatus reports when the discovery document in use was read, and the error of the
// last refresh attempt (nil when it succeeded), for readiness checks and the admin pages.
func (p *Provider) DiscoveryStatus() (fetched time.Time, lastErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur.Load().fetched, p.lastErr
}

// fetchState reads discovery and keys. prev, when given, lends its key set if jwks_uri is
// unchanged: the set is re-read, and a failed re-read keeps its last good keys.
func (p *Provider) fetchState(ctx context.Context, prev *state) (*state, error) {
	doc, algs, err := fetchDiscovery(ctx, p.cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var keys *keySet
	var keysErr error
	if prev != nil && prev.doc.JWKSURI == doc.JWKSURI {
		keys = prev.keys
		keysErr = keys.refresh(ctx)
	} else if keys, err = newKeySet(ctx, doc.JWKSURI, p.cfg.HTTP, p.cfg.Now); err != nil {
		return nil, err
	}
	authStyle := oauth2.AuthStyleInParams
	secret := p.cfg.ClientSecret
	switch p.cfg.AuthMethod {
	case AuthClientSecretBasic:
		authStyle = oauth2.AuthStyleInHeader
	case AuthPrivateKeyJWT:
		secret = ""
	}
	st := &state{
		doc:  doc,
		algs: algs,
		keys: keys,
		// go-oidc checks the alg against algs, the signature through keys, iss and aud. exp is
		// left to checkClaims, which applies Skew (go-oidc allows none) and also checks iat, nbf,
		// azp and the nonce.
		verifier: gooidc.NewVerifier(p.cfg.Issuer, keys, &gooidc.Config{
			ClientID:             p.cfg.ClientID,
			SupportedSigningAlgs: algs,
			SkipExpiryCheck:      true,
			Now:                  p.cfg.Now,
		}),
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: secret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   doc.AuthorizationEndpoint,
				TokenURL:  doc.TokenEndpoint,
				AuthStyle: authStyle,
			},
			RedirectURL: p.cfg.RedirectURL,
			Scopes:      p.cfg.Scopes,
		},
		fetched: p.cfg.Now(),
	}
	// The document is good; a JWKS that could not be re-read keeps its last keys, and the error
	// is still reported.
	return st, keysErr
}

// refreshTimeout bounds a scheduled refresh, whatever Config.HTTP's own timeout.
const refreshTimeout = 15 * time.Second

// current returns the state to use, first refreshing it when DiscoveryRefresh has passed since
// the last attempt. Only one caller refreshes; the others go on with the state they have.
func (p *Provider) current(ctx context.Context) *state {
	st := p.cur.Load()
	now := p.cfg.Now()
	p.mu.Lock()
	due := now.Sub(p.lastAttempt) >= p.cfg.DiscoveryRefresh
	p.mu.Unlock()
	if !due || !p.refreshMu.TryLock() {
		return st
	}
	defer p.refreshMu.Unlock()
	p.mu.Lock()
	if now.Sub(p.lastAttempt) < p.cfg.DiscoveryRefresh { // another caller just refreshed
		p.mu.Unlock()
		return p.cur.Load()
	}
	p.lastAttempt = now
	p.mu.Unlock()

	// The refresh is the provider's, not this request's: a browser that goes away must not leave
	// the next DiscoveryRefresh period without a fresh document.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	next, err := p.fetchState(rctx, st)
	if next != nil {
		p.cur.Store(next)
		st = next
	}
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
	return st
}

// Derive returns the PKCE code verifier and the nonce of the login whose state is state:
// base64url(HMAC-SHA256(key, "pkce:"+state)) and base64url(HMAC-SHA256(key, "nonce:"+state)),
// 43 characters each. Deriving them means the pending login stores neither; key is the server's
// hash key and must stay secret, or both can be computed from the state in the URL.
func Derive(key []byte, state string) (verifier, nonce string) {
	return hmacB64(key, "pkce:"+state), hmacB64(key, "nonce:"+state)
}

func hmacB64(key []byte, msg string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// EndSessionURL returns the provider's RP-initiated logout URL (OpenID Connect RP-Initiated
// Logout 1.0) with id_token_hint, post_logout_redirect_uri, state and client_id, the empty ones
// left out; false when the provider has no end_session_endpoint.
func (p *Provider) EndSessionURL(idTokenHint, postLogoutRedirect, state string) (string, bool) {
	ep := p.cur.Load().doc.EndSessionEndpoint
	if ep == "" {
		return "", false
	}
	u, err := url.Parse(ep)
	if err != nil { // checked at discovery; unreachable
		return "", false
	}
	q := u.Query()
	for k, v := range map[string]string{
		"id_token_hint":            idTokenHint,
		"post_logout_redirect_uri": postLogoutRedirect,
		"state":                    state,
		"client_id":                p.cfg.ClientID,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// ParseFrontChannelLogout reads the provider's front-channel logout request
// (GET BASE/oidc/frontchannel-logout?iss=…&sid=…, OpenID Connect Front-Channel Logout 1.0 §2)
// with the same strictness as ParseCallback. The caller compares iss with Issuer() and ends the
// session whose SID is sid.
func ParseFrontChannelLogout(q url.Values) (iss, sid string, err error) {
	for _, f := range []struct {
		name string
		dst  *string
		max  int
	}{{"iss", &iss, maxIssLen}, {"sid", &sid, 255}} {
		v, present, perr := single(q, f.name)
		if perr != nil {
			return "", "", perr
		}
		if !present || v == "" {
			return "", "", reject(ReasonMalformed, "front-channel logout without %s", f.name)
		}
		if len(v) > f.max || !allBytes(v, isVSChar) {
			return "", "", reject(ReasonMalformed, "front-channel logout %s is too long or has characters outside %%x21-7E", f.name)
		}
		*f.dst = v
	}
	return iss, sid, nil
}
