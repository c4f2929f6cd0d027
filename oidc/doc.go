// Package oidc is the OpenID Connect protocol of eidsp, for ID-porten and BankID (and a generic
// broker): the authorization code flow with PKCE S256, state and nonce, RFC 9207 iss, optional
// PAR, client authentication by client_secret_basic, client_secret_post or private_key_jwt, and
// ID token validation, ending in the same identity.Identity the saml package produces, or a
// typed *Error. Facts: spec/PROFILE.md §9; contract: the OIDC contract of issue 8.
//
// Like saml, it is pure protocol over explicit inputs (configuration, clock, HTTP client,
// randomness): no web framework, no store, no logger. The handlers own the pending login and
// the session.
//
// # The flow through it
//
//	p, err := oidc.New(ctx, oidc.Config{…})        // at start: discovery + JWKS, checked
//
//	// GET /login
//	state := <32 random bytes, base64url>           // the pending login's key
//	verifier, nonce := oidc.Derive(hashKey, state)  // nothing but state needs storing
//	a := oidc.AuthParams{State: state, Nonce: nonce, CodeVerifier: verifier, MinLevel: 4, …}
//	u, err := p.AuthURL(ctx, a)                     // 302 to u (pushed first when PAR is on)
//
//	// GET /oidc/callback
//	cb, err := oidc.ParseCallback(r.URL.Query())    // strict; ReasonMalformed
//	pending := store.Take(cb.State)                 // one use; unknown state: the handler's error
//	verifier, nonce := oidc.Derive(hashKey, cb.State)
//	res, err := p.Exchange(ctx, cb, oidc.AuthParams{State: pending.Key, Nonce: nonce, CodeVerifier: verifier, MinLevel: …, OnBehalfOf: …})
//	// res.Identity → new session; keep res.IDToken (id_token_hint) and res.SID (front-channel logout)
//
//	// logout
//	u, ok := p.EndSessionURL(res.IDToken, base+"/oidc/logged-out", logoutState)
//	iss, sid, err := oidc.ParseFrontChannelLogout(q) // GET /oidc/frontchannel-logout; compare iss with p.Issuer()
//
// # API
//
//	func New(ctx context.Context, cfg Config) (*Provider, error)
//	func Derive(key []byte, state string) (verifier, nonce string)
//	func (p *Provider) AuthURL(ctx context.Context, a AuthParams) (string, error)
//	func ParseCallback(q url.Values) (Callback, error)
//	func (p *Provider) Exchange(ctx context.Context, cb Callback, a AuthParams) (*Result, error)
//	func (p *Provider) EndSessionURL(idTokenHint, postLogoutRedirect, state string) (string, bool)
//	func ParseFrontChannelLogout(q url.Values) (iss, sid string, err error)
//	func (p *Provider) Issuer() string
//	func (p *Provider) DiscoveryStatus() (fetched time.Time, lastErr error)
//	func ReasonOf(err error) Reason
//	func Outcome(err error) string // cancelled | no_authn_context | idp_error for ReasonStatus
//
// # Errors
//
// Every rejection of what the provider or the browser sent is an *Error whose Reason has the
// same string value as the saml.Reason of the same class, so one mapping serves both protocols:
// malformed, signature, algorithm, issuer, audience, in_response_to (state or nonce), time,
// replay (invalid_grant: the code was used, expired, or its PKCE verifier does not match),
// status (the provider's OAuth error, Code holding it: access_denied → Outcome "cancelled"),
// attributes, level (acr unknown or below MinLevel), transport and panic. Invalid AuthParams or
// Config are plain errors: they are our mistakes, not the provider's. No error text carries a
// token, a code, a national identity number, or our state, nonce or verifier.
//
// # Trust decisions
//
// go-oidc checks the ID token's alg against the provider's advertised list narrowed to RS256,
// RS384, RS512, PS256 and ES256 (never none or HS*, whatever the provider advertises), the
// signature with a key from the JWKS, iss and aud. checkClaims then checks the same claims again
// with a Reason each, plus what go-oidc does not: azp, exp/iat/nbf/auth_time with Config.Skew,
// and the nonce. The JWKS is ours (keySet): re-read every DiscoveryRefresh so withdrawn keys stop
// verifying, re-read at once (at most every JWKSMinRefetch) for a token no cached key verifies,
// and kept when a re-read fails. Discovery is re-read on the same schedule, keeping the last good
// document on failure.
package oidc
