package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/eidsp/eidsp/identity"
)

// AuthParams is one login as the authorization request states it and the callback must match.
// State is the pending login's key; Nonce and CodeVerifier come from Derive(key, State).
type AuthParams struct {
	State        string
	Nonce        string
	CodeVerifier string
	MinLevel     int    // 0, 3 or 4: acr_values to request (idporten, bankid) and the least level accepted
	Locale       string // ui_locales: nb, nn, en or se; empty for the provider's default
	ForceLogin   bool   // prompt=login (≙ SAML ForceAuthn)
	OnBehalfOf   string // ID-porten onbehalfof; echoed into Identity.OnBehalfOf
}

// errNoState is returned for AuthParams without the values every login must carry.
var errNoState = errors.New("oidc: AuthParams needs State, Nonce and CodeVerifier (see Derive)")

func (a AuthParams) check() error {
	var errs []error
	if a.State == "" || a.Nonce == "" || a.CodeVerifier == "" {
		errs = append(errs, errNoState)
	}
	if len(a.State) > maxStateLen || !allBytes(a.State, isUnreserved) {
		errs = append(errs, errors.New("oidc: State must be base64url (RFC 3986 unreserved), at most 256 bytes"))
	}
	if len(a.Nonce) > 255 || !allBytes(a.Nonce, isUnreserved) {
		errs = append(errs, errors.New("oidc: Nonce must be base64url, at most 255 bytes"))
	}
	// RFC 7636 §4.1.
	if a.CodeVerifier != "" && (len(a.CodeVerifier) < 43 || len(a.CodeVerifier) > 128 || !allBytes(a.CodeVerifier, isUnreserved)) {
		errs = append(errs, errors.New("oidc: CodeVerifier must be 43-128 unreserved characters"))
	}
	switch a.MinLevel {
	case 0, identity.Level3, identity.Level4:
	default:
		errs = append(errs, fmt.Errorf("oidc: MinLevel %d is not 0, 3 or 4", a.MinLevel))
	}
	switch a.Locale {
	case "", "nb", "nn", "en", "se":
	default:
		errs = append(errs, fmt.Errorf("oidc: Locale %q is not nb, nn, en or se", a.Locale))
	}
	if a.OnBehalfOf != "" && !identity.ValidOnBehalfOf(a.OnBehalfOf) {
		errs = append(errs, errors.New("oidc: OnBehalfOf must be at most 64 of A-Z a-z 0-9 _ -"))
	}
	return errors.Join(errs...)
}

// AuthURL returns the URL to send the browser to: the authorization endpoint with response_type
// code, client_id, redirect_uri, scope, state, nonce, the PKCE S256 challenge of CodeVerifier,
// and acr_values, ui_locales, prompt=login and onbehalfof as a asks. When the request is pushed
// (Config.UsePAR and the provider advertises PAR, or the provider requires it), those parameters
// go to the PAR endpoint with our client authentication and the URL carries only client_id and
// request_uri. Invalid AuthParams are a plain error (a programming or configuration mistake); a
// failed push is an *Error (ReasonTransport, or ReasonStatus with the provider's error code).
func (p *Provider) AuthURL(ctx context.Context, a AuthParams) (string, error) {
	if err := a.check(); err != nil {
		return "", err
	}
	st := p.current(ctx)
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(a.CodeVerifier),
		oauth2.SetAuthURLParam("nonce", a.Nonce),
	}
	if acr := p.preset.ACRForLevel(a.MinLevel); acr != "" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", acr))
	}
	if a.Locale != "" {
		opts = append(opts, oauth2.SetAuthURLParam("ui_locales", a.Locale))
	}
	if a.ForceLogin {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	if a.OnBehalfOf != "" {
		opts = append(opts, oauth2.SetAuthURLParam("onbehalfof", a.OnBehalfOf))
	}
	authURL := st.oauth.AuthCodeURL(a.State, opts...)
	if st.doc.PAREndpoint == "" || !(p.cfg.UsePAR || st.doc.RequirePAR) {
		return authURL, nil
	}

	u, err := url.Parse(authURL)
	if err != nil {
		return "", fmt.Errorf("oidc: authorization URL: %w", err)
	}
	requestURI, err := p.push(ctx, st, u.Query())
	if err != nil {
		return "", err
	}
	// RFC 9126 §4: the authorization request is now client_id and request_uri only.
	q := url.Values{}
	for k, v := range u.Query() {
		if !slices.Contains(requestParams, k) {
			q[k] = v // parameters the endpoint URL itself carries
		}
	}
	q.Set("client_id", p.cfg.ClientID)
	q.Set("request_uri", requestURI)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// requestParams are the parameters AuthCodeURL adds; what else the authorization endpoint's
// query holds is the provider's own and stays in the pushed request's URL.
var requestParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "acr_values", "ui_locales", "prompt", "onbehalfof"}

// push sends the authorization request to the PAR endpoint and returns the request_uri.
func (p *Provider) push(ctx context.Context, st *state, params url.Values) (string, error) {
	form := url.Values{}
	for _, k := range requestParams {
		if v := params.Get(k); v != "" {
			form.Set(k, v)
		}
	}
	req, err := p.clientAuthRequest(ctx, st.doc.PAREndpoint, form)
	if err != nil {
		return "", err
	}
	resp, err := p.cfg.HTTP.Do(req)
	if err != nil {
		return "", &Error{Reason: ReasonTransport, Err: fmt.Errorf("PAR: %w", err)}
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, maxPARBytes)
	if err != nil {
		return "", &Error{Reason: ReasonTransport, Err: fmt.Errorf("PAR: %w", err)}
	}
	var out struct {
		RequestURI       string `json:"request_uri"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	decodeErr := decodeJSONObject(body, &out)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		if decodeErr == nil && out.Error != "" {
			return "", oauthError(ReasonStatus, "PAR endpoint", out.Error, out.ErrorDescription)
		}
		return "", reject(ReasonTransport, "PAR endpoint answered HTTP %d", resp.StatusCode)
	}
	if decodeErr != nil {
		return "", reject(ReasonTransport, "PAR response: %v", decodeErr)
	}
	if out.RequestURI == "" || len(out.RequestURI) > 2048 || !allBytes(out.RequestURI, isVSChar) {
		return "", reject(ReasonTransport, "PAR response without a usable request_uri")
	}
	return out.RequestURI, nil
}

// oauthError turns an OAuth error answer from one of the provider's endpoints into an *Error.
// A code outside RFC 6749's alphabet is not echoed; the description is quoted and cut short.
func oauthError(r Reason, endpoint, code, desc string) *Error {
	if len(code) > maxErrorLen || !allBytes(code, isErrorChar) {
		return reject(ReasonTransport, "%s answered a malformed OAuth error", endpoint)
	}
	if len(desc) > 200 {
		desc = desc[:200]
	}
	desc = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, desc)
	return &Error{Reason: r, Code: code, Err: fmt.Errorf("%s answered %s: %q", endpoint, code, desc)}
}
