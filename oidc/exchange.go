package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/eidsp/eidsp/identity"
)

// Result is a verified login.
type Result struct {
	Identity identity.Identity
	IDToken  string // the raw ID token, kept for id_token_hint at logout; a credential, never logged
	SID      string // the provider's session id (sid claim) for front-channel logout; "" when none
}

// maxIDTokenLen bounds the ID token we parse; real ones are 1-3 KiB.
const maxIDTokenLen = 64 << 10

// Exchange finishes a login: cb is the parsed callback, a the pending login's parameters. In
// order it checks the callback's iss (RFC 9207: must equal the issuer when present, and is
// required when discovery advertises authorization_response_iss_parameter_supported or the
// preset is idporten), that cb.State is a.State, turns an error answer into ReasonStatus with the
// OAuth code (see Outcome), redeems the code at the token endpoint with the PKCE verifier and our
// client authentication (invalid_grant: ReasonReplay), validates the ID token (alg, signature,
// iss, aud, azp, exp, iat, nbf, auth_time, nonce) and maps its claims to the Identity, refusing
// a level below a.MinLevel. Every rejection is an *Error; see Reason for the classes.
func (p *Provider) Exchange(ctx context.Context, cb Callback, a AuthParams) (res *Result, err error) {
	defer guard(&err)
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := cb.check(); err != nil {
		return nil, err
	}
	st := p.current(ctx)

	// Mix-up defence first: an answer from another provider, even an error, is not ours to show.
	switch {
	case cb.Iss != "" && cb.Iss != p.cfg.Issuer:
		return nil, reject(ReasonIssuer, "authorization response iss %q is not %q", cb.Iss, p.cfg.Issuer)
	case cb.Iss == "" && (st.doc.IssParameterSupported || p.preset == identity.OIDCIDPorten):
		return nil, reject(ReasonIssuer, "authorization response without iss, which %s always sends", p.cfg.Issuer)
	}
	if subtle.ConstantTimeCompare([]byte(cb.State), []byte(a.State)) != 1 {
		return nil, reject(ReasonInResponseTo, "state does not belong to this login")
	}
	if cb.Error != "" {
		return nil, oauthError(ReasonStatus, "authorization endpoint", cb.Error, cb.ErrorDescription)
	}

	opts, err := p.tokenAuthOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, oauth2.VerifierOption(a.CodeVerifier))
	tok, err := st.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.cfg.HTTP), cb.Code, opts...)
	if err != nil {
		return nil, tokenError(err, cb.Code)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, reject(ReasonMalformed, "token response without id_token")
	}

	now := p.cfg.Now()
	claims, err := p.verifyIDToken(ctx, st, raw, a.Nonce, now)
	if err != nil {
		return nil, err
	}
	id, err := identity.MapClaims(claims, identity.ClaimOptions{
		Preset:         p.preset,
		IdP:            p.cfg.Name,
		NNINRequested:  p.nnin,
		AllowSynthetic: p.cfg.AllowSynthetic,
		OnBehalfOf:     a.OnBehalfOf,
		Now:            now,
	})
	if err != nil {
		if errors.Is(err, identity.ErrInvalidLevel) {
			return nil, &Error{Reason: ReasonLevel, Err: err}
		}
		return nil, &Error{Reason: ReasonAttributes, Err: err}
	}
	if id.Level < a.MinLevel {
		return nil, reject(ReasonLevel, "level %d is below the required %d", id.Level, a.MinLevel)
	}
	return &Result{Identity: id, IDToken: raw, SID: id.SessionIndex}, nil
}

// tokenError classifies a failed code redemption. oauth2's own error text is not used for a
// RetrieveError: it would quote the response body. A description that quotes the code loses it.
func tokenError(err error, code string) *Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &Error{Reason: ReasonTransport, Err: fmt.Errorf("token endpoint: %w", err)}
	}
	if code != "" {
		re.ErrorDescription = strings.ReplaceAll(re.ErrorDescription, code, "[code]")
	}
	switch {
	case re.ErrorCode == "invalid_grant":
		// RFC 6749 §5.2: the code is unknown, used, expired, or was issued for another
		// redirect_uri or PKCE challenge. All of them mean this code cannot log anyone in again.
		return oauthError(ReasonReplay, "token endpoint", re.ErrorCode, re.ErrorDescription)
	case re.ErrorCode != "":
		return oauthError(ReasonStatus, "token endpoint", re.ErrorCode, re.ErrorDescription)
	case re.Response != nil:
		return reject(ReasonTransport, "token endpoint answered HTTP %d", re.Response.StatusCode)
	}
	return reject(ReasonTransport, "token endpoint failed")
}

// verifyIDToken runs the ID token through go-oidc (alg allow-list, signature with the provider's
// keys, iss, aud) and checkClaims, and returns the verified claims.
func (p *Provider) verifyIDToken(ctx context.Context, st *state, raw, nonce string, now time.Time) (map[string]any, error) {
	if len(raw) > maxIDTokenLen {
		return nil, reject(ReasonMalformed, "ID token longer than %d bytes", maxIDTokenLen)
	}
	// go-oidc reports every refusal as text; parse once here to give the alg its own reason.
	// Compact serialisation only: an ID token is a JWT (RFC 7519 §7.2), never JWS JSON.
	allowed := make([]jose.SignatureAlgorithm, len(st.algs))
	for i, a := range st.algs {
		allowed[i] = jose.SignatureAlgorithm(a)
	}
	if _, err := jose.ParseSignedCompact(raw, allowed); err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return nil, reject(ReasonAlgorithm, "ID token alg %q is not one of %q", knownAlg(algErr.Got), st.algs)
		}
		return nil, reject(ReasonMalformed, "ID token is not a compact JWS")
	}

	probe := &verifyProbe{}
	_, verr := st.verifier.Verify(context.WithValue(ctx, probeKey{}, probe), raw)
	if probe.payload == nil {
		if verr == nil { // unreachable: go-oidc returned a token without asking the key set
			verr = errors.New("signature was not checked")
		}
		cause := probe.err
		if cause == nil {
			cause = verr
		}
		return nil, &Error{Reason: ReasonSignature, Err: cause}
	}
	var claims map[string]any
	if err := decodeJSONObject(probe.payload, &claims); err != nil || claims == nil {
		return nil, reject(ReasonMalformed, "ID token payload is not a JSON object")
	}
	if err := checkClaims(claims, expectations{
		issuer: p.cfg.Issuer, clientID: p.cfg.ClientID, nonce: nonce, now: now, skew: p.cfg.Skew,
	}); err != nil {
		return nil, err
	}
	if verr != nil {
		// go-oidc refused a token whose claims pass checkClaims (distributed claims, say).
		return nil, &Error{Reason: ReasonMalformed, Err: verr}
	}
	return claims, nil
}

// expectations is what checkClaims holds an ID token to.
type expectations struct {
	issuer, clientID, nonce string
	now                     time.Time
	skew                    time.Duration
}

// checkClaims validates the protocol claims of a verified ID token (OpenID Connect Core §3.1.3.7):
// iss exactly the issuer; aud containing client_id; azp required with several audiences and,
// when present, equal to client_id; exp in the future and iat, nbf and auth_time not in the
// future, each with skew; nonce equal to ours. The identity claims are MapClaims' business.
func checkClaims(c map[string]any, e expectations) error {
	iss, _ := c["iss"].(string)
	if iss != e.issuer {
		return reject(ReasonIssuer, "ID token iss %q is not %q", truncate(iss), e.issuer)
	}

	var aud []string
	switch v := c["aud"].(type) {
	case string:
		aud = []string{v}
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return reject(ReasonMalformed, "ID token aud is not a string or an array of strings")
			}
			aud = append(aud, s)
		}
	default:
		return reject(ReasonMalformed, "ID token aud is not a string or an array of strings")
	}
	if !slices.Contains(aud, e.clientID) {
		return reject(ReasonAudience, "ID token is not for client %q", e.clientID)
	}
	azp, hasAZP := c["azp"]
	if len(aud) > 1 && !hasAZP {
		return reject(ReasonAudience, "ID token with several audiences has no azp")
	}
	if hasAZP && azp != e.clientID {
		return reject(ReasonAudience, "ID token azp is not %q", e.clientID)
	}

	times := map[string]time.Time{}
	for _, name := range []string{"exp", "iat", "nbf", "auth_time"} {
		v, ok := c[name]
		if !ok {
			if name == "exp" || name == "iat" {
				return reject(ReasonMalformed, "ID token has no %s", name)
			}
			continue
		}
		secs, ok := identity.NumericDate(v)
		if !ok {
			return reject(ReasonMalformed, "ID token %s is not a number of seconds", name)
		}
		times[name] = time.Unix(secs, 0)
	}
	if !e.now.Before(times["exp"].Add(e.skew)) {
		return reject(ReasonTime, "ID token expired at %s", times["exp"].UTC().Format(time.RFC3339))
	}
	for _, name := range []string{"iat", "nbf", "auth_time"} {
		if t, ok := times[name]; ok && t.After(e.now.Add(e.skew)) {
			return reject(ReasonTime, "ID token %s %s is in the future", name, t.UTC().Format(time.RFC3339))
		}
	}

	got, _ := c["nonce"].(string)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(e.nonce)) != 1 {
		return reject(ReasonInResponseTo, "ID token nonce does not belong to this login")
	}
	return nil
}

// truncate keeps an untrusted value short enough for a log line.
func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// joseAlgs are the JWS algorithm names (RFC 7518 §3.1, RFC 8037), the only alg values an error
// repeats: the header is the sender's text and may hold anything, a national identity number
// included.
var joseAlgs = map[jose.SignatureAlgorithm]bool{
	"none": true, jose.HS256: true, jose.HS384: true, jose.HS512: true, jose.RS256: true, jose.RS384: true,
	jose.RS512: true, jose.ES256: true, jose.ES384: true, jose.ES512: true, jose.PS256: true, jose.PS384: true,
	jose.PS512: true, jose.EdDSA: true,
}

// knownAlg is alg when it is a JWS algorithm name, else a placeholder.
func knownAlg(alg jose.SignatureAlgorithm) string {
	if joseAlgs[alg] {
		return string(alg)
	}
	return "(not a JWS algorithm)"
}
