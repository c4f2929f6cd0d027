package oidcop

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clientAssertionType is the only client_assertion_type (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// verifierPattern is a PKCE code_verifier (RFC 7636 §4.1).
var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// accessGrant is what an access token gives at /userinfo.
type accessGrant struct {
	clientID string
	claims   map[string]any
	expires  time.Time
}

// readTokenForm reads the form body of the token and PAR endpoints: each parameter once at most
// (RFC 6749 §3.2), none in the query.
func (p *Provider) readTokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest("the body is not a readable form")
	}
	if r.URL.RawQuery != "" {
		return nil, invalidRequest("parameters belong in the body, not the query")
	}
	for k, v := range r.PostForm {
		if len(v) != 1 {
			return nil, invalidRequest("parameter " + k + " appears more than once")
		}
		if len(v[0]) > 4*maxParamLen {
			return nil, invalidRequest("parameter " + k + " is too long")
		}
	}
	return r.PostForm, nil
}

// authenticateClient authenticates the client by its registered method; a private_key_jwt
// assertion must be addressed to one of audiences.
func (p *Provider) authenticateClient(r *http.Request, form url.Values, audiences ...string) (Client, *oauthError) {
	basicID, basicSecret, basic := r.BasicAuth()
	assertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	n := 0
	for _, used := range []bool{basic, form.Has("client_secret"), assertion} {
		if used {
			n++
		}
	}
	if n > 1 {
		return Client{}, invalidRequest("more than one client authentication method")
	}
	badClient := &oauthError{"invalid_client", "client authentication failed"}
	switch {
	case basic:
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return Client{}, badClient
		}
		if cid := form.Get("client_id"); cid != "" && cid != id {
			return Client{}, badClient
		}
		return p.checkSecret(id, secret, AuthClientSecretBasic)
	case form.Has("client_secret"):
		return p.checkSecret(form.Get("client_id"), form.Get("client_secret"), AuthClientSecretPost)
	case assertion:
		return p.checkAssertion(form, audiences)
	}
	return Client{}, &oauthError{"invalid_client", "client authentication is required"}
}

func (p *Provider) checkSecret(id, secret, method string) (Client, *oauthError) {
	c, ok := p.client(id)
	// Hashes of equal length, so that the comparison says nothing about the secret's length.
	got, want := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(c.Secret))
	if !ok || c.AuthMethod != method || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		p.cfg.Logger.Warn("oidcop: client authentication failed", "preset", p.cfg.Preset, "client_id", id, "method", method)
		return Client{}, &oauthError{"invalid_client", "client authentication failed"}
	}
	return c, nil
}

// checkAssertion verifies a private_key_jwt client assertion (RFC 7523 §3): RS256 by the
// client's key, iss = sub = client_id, aud one of audiences, exp within 120 s, jti never seen.
func (p *Provider) checkAssertion(form url.Values, audiences []string) (Client, *oauthError) {
	fail := func(why string, err error) (Client, *oauthError) {
		p.cfg.Logger.Warn("oidcop: client assertion refused", "preset", p.cfg.Preset, "problem", why, "err", err)
		return Client{}, &oauthError{"invalid_client", "client assertion refused: " + why}
	}
	if form.Get("client_assertion_type") != clientAssertionType {
		return fail("client_assertion_type must be "+clientAssertionType, nil)
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fail("not an RS256 JWS", err)
	}
	// The issuer names the key to verify with; nothing else is trusted before verification.
	var claimed jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claimed); err != nil {
		return fail("unreadable claims", err)
	}
	c, ok := p.client(claimed.Issuer)
	if !ok || c.AuthMethod != AuthPrivateKeyJWT {
		return fail("iss names no private_key_jwt client", nil)
	}
	if cid := form.Get("client_id"); cid != "" && cid != c.ID {
		return fail("client_id is not the assertion's issuer", nil)
	}
	var cl jwt.Claims
	if err := tok.Claims(c.PublicKey, &cl); err != nil {
		return fail("signature", err)
	}
	now := p.cfg.Now()
	if cl.Expiry == nil || cl.ID == "" {
		return fail("exp and jti are required", nil)
	}
	if err := cl.ValidateWithLeeway(jwt.Expected{Issuer: c.ID, Subject: c.ID, AnyAudience: audiences, Time: now}, leeway); err != nil {
		return fail("claims", err)
	}
	exp := cl.Expiry.Time()
	if exp.After(now.Add(assertionMaxLifetime + leeway)) {
		return fail("lifetime over 120 s", nil)
	}
	key := c.ID + "\x00" + cl.ID
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweep(now)
	if _, seen := p.jtis[key]; seen {
		return fail("jti replayed", nil)
	}
	p.jtis[key] = exp.Add(leeway)
	return c, nil
}

// clientAuthError answers a failed client authentication: 401 for invalid_client (with a Basic
// challenge when Basic was tried, RFC 6749 §5.2), 400 otherwise.
func (p *Provider) clientAuthError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	status := http.StatusBadRequest
	if e.code == "invalid_client" {
		status = http.StatusUnauthorized
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`)
		}
	}
	p.writeOAuthError(w, status, e)
}

// serveToken is POST /token: the authorization_code grant with PKCE.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	form, oerr := p.readTokenForm(w, r)
	if oerr != nil {
		p.writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	c, oerr := p.authenticateClient(r, form, p.issuer, p.urls.token)
	if oerr != nil {
		p.clientAuthError(w, r, oerr)
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
	case "":
		p.writeOAuthError(w, http.StatusBadRequest, invalidRequest("grant_type is required"))
		return
	default:
		p.writeOAuthError(w, http.StatusBadRequest, &oauthError{"unsupported_grant_type", "only authorization_code"})
		return
	}
	code, verifier := form.Get("code"), form.Get("code_verifier")
	if code == "" {
		p.writeOAuthError(w, http.StatusBadRequest, invalidRequest("code is required"))
		return
	}
	if !verifierPattern.MatchString(verifier) {
		p.writeOAuthError(w, http.StatusBadRequest, invalidRequest("code_verifier is required (43 to 128 unreserved characters)"))
		return
	}
	now := p.cfg.Now()
	// The code is used up whatever follows: a second try with it is always invalid_grant.
	p.mu.Lock()
	ac := p.codes[code]
	delete(p.codes, code)
	p.mu.Unlock()
	badGrant := func(why string) {
		p.cfg.Logger.Warn("oidcop: code refused", "preset", p.cfg.Preset, "client_id", c.ID, "problem", why)
		p.writeOAuthError(w, http.StatusBadRequest, &oauthError{"invalid_grant", why})
	}
	switch sum := sha256.Sum256([]byte(verifier)); {
	case ac == nil:
		badGrant("code unknown or used")
	case !now.Before(ac.expires):
		badGrant("code expired")
	case ac.req.clientID != c.ID:
		badGrant("code issued to another client")
	case form.Get("redirect_uri") != ac.req.redirectURI:
		badGrant("redirect_uri differs from the authorization request's")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != ac.req.challenge:
		badGrant("code_verifier does not match code_challenge (S256)")
	default:
		p.issueTokens(w, r, c, ac, now)
	}
}

// issueTokens answers a good code with an ID token and an access token for /userinfo.
func (p *Provider) issueTokens(w http.ResponseWriter, r *http.Request, c Client, ac *authCode, now time.Time) {
	access, err := p.randomToken()
	if err != nil {
		p.tokenServerError(w, r, err)
		return
	}
	req := ac.req
	sub := p.pairwiseSubject(c.ID, ac.person.NationalID)
	userinfo := map[string]any{"sub": sub}
	extra := map[string]any{
		"nonce":     req.nonce,
		"acr":       p.preset.acr[ac.eid.Level],
		"amr":       ac.eid.AMR,
		"auth_time": ac.authTime.Unix(),
		"sid":       ac.sid,
		"at_hash":   atHash(access),
	}
	switch p.cfg.Preset {
	case PresetIDPorten:
		extra["pid"], userinfo["pid"] = ac.person.NationalID, ac.person.NationalID
		extra["locale"], userinfo["locale"] = req.locale, req.locale
	case PresetBankID:
		// Checked again here: the entitlement may have been withdrawn since the code was issued.
		if c.NNINAltsub && slices.Contains(req.scopes, "nnin_altsub") {
			extra["nnin_altsub"], userinfo["nnin_altsub"] = ac.person.NationalID, ac.person.NationalID
		}
		if slices.Contains(req.scopes, "profile") {
			userinfo["name"] = ac.person.Name
		}
	}
	idToken, err := p.sign(jwt.Claims{
		Issuer:   p.issuer,
		Subject:  sub,
		Audience: jwt.Audience{c.ID},
		Expiry:   jwt.NewNumericDate(now.Add(idTokenTTL)),
		IssuedAt: jwt.NewNumericDate(now),
	}, extra)
	if err != nil {
		p.tokenServerError(w, r, err)
		return
	}
	p.mu.Lock()
	p.tokens[access] = &accessGrant{clientID: c.ID, claims: userinfo, expires: now.Add(accessTokenTTL)}
	p.mu.Unlock()
	p.cfg.Logger.Info("oidcop: tokens issued", "preset", p.cfg.Preset, "client_id", c.ID, "acr", extra["acr"])
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(accessTokenTTL / time.Second),
		"id_token":     idToken,
		"scope":        strings.Join(req.scopes, " "),
	})
}

// sign makes a JWT signed RS256 with the current key, its kid in the header.
func (p *Provider) sign(claims ...any) (string, error) {
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       jose.JSONWebKey{Key: k.key, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("oidcop: signer: %w", err)
	}
	b := jwt.Signed(signer)
	for _, c := range claims {
		b = b.Claims(c)
	}
	s, err := b.Serialize()
	if err != nil {
		return "", fmt.Errorf("oidcop: sign: %w", err)
	}
	return s, nil
}

// pairwiseSubject is the sub a client sees for a person (OIDC Core §8.1): the same for the same
// client, unlinkable across clients.
func (p *Provider) pairwiseSubject(clientID, nationalID string) string {
	return hmacBase64(p.pairwiseKey, clientID+"\x00"+nationalID)
}

// atHash is the at_hash claim (OIDC Core §3.1.3.6, RS256): the left half of SHA-256 of the
// access token.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func (p *Provider) tokenServerError(w http.ResponseWriter, r *http.Request, err error) {
	p.cfg.Logger.Error("oidcop: internal error", "path", r.URL.Path, "err", err)
	p.writeOAuthError(w, http.StatusInternalServerError, &oauthError{"server_error", "see the provider's log"})
}

// serveUserinfo is GET or POST /userinfo with a Bearer access token (RFC 6750 §2.1).
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`"`)
		p.writeOAuthError(w, http.StatusUnauthorized, invalidRequest("a Bearer access token is required"))
		return
	}
	p.mu.Lock()
	g := p.tokens[strings.TrimSpace(token)]
	p.mu.Unlock()
	if g == nil || !p.cfg.Now().Before(g.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="invalid_token"`)
		p.writeOAuthError(w, http.StatusUnauthorized, &oauthError{"invalid_token", "access token unknown or expired"})
		return
	}
	writeJSON(w, http.StatusOK, g.claims)
}

func (p *Provider) writeOAuthError(w http.ResponseWriter, status int, e *oauthError) {
	writeJSON(w, status, map[string]string{"error": e.code, "error_description": e.description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings, numbers and string slices are written.
		panic(errors.New("oidcop: JSON: " + err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
