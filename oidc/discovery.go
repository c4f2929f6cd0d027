package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Response size limits. Discovery documents and key sets are a few KiB; these bound what a
// broken or hostile endpoint can make us read.
const (
	maxDiscoveryBytes = 256 << 10
	maxJWKSBytes      = 256 << 10
	maxPARBytes       = 64 << 10
)

// idTokenAlgs are the ID token signature algorithms we accept at all (the contract's list); the
// provider's id_token_signing_alg_values_supported narrows it. Never none, never HS*.
var idTokenAlgs = []string{"RS256", "RS384", "RS512", "PS256", "ES256"}

// discovery is the part of the OpenID Provider Metadata we use.
type discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	PAREndpoint           string   `json:"pushed_authorization_request_endpoint"`
	RequirePAR            bool     `json:"require_pushed_authorization_requests"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	IDTokenAlgs           []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	ResponseTypes         []string `json:"response_types_supported"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs  []string `json:"token_endpoint_auth_signing_alg_values_supported"`
}

// fetchDiscovery reads and checks the provider's discovery document against cfg. It returns the
// ID token algorithms we will accept from this provider.
func fetchDiscovery(ctx context.Context, cfg Config) (discovery, []string, error) {
	var d discovery
	wellKnown := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, cfg.HTTP, wellKnown, maxDiscoveryBytes, &d); err != nil {
		return d, nil, err
	}
	algs, err := d.check(cfg)
	return d, algs, err
}

// check reports every problem of the document at once.
func (d discovery) check(cfg Config) ([]string, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// OpenID Connect Discovery §4.3: the issuer must be identical to the one we asked; this is
	// what stops one provider's metadata from standing in for another's.
	if d.Issuer != cfg.Issuer {
		add("discovery issuer %q is not the configured issuer %q", d.Issuer, cfg.Issuer)
	}
	for _, ep := range []struct {
		name, url string
		required  bool
	}{
		{"authorization_endpoint", d.AuthorizationEndpoint, true},
		{"token_endpoint", d.TokenEndpoint, true},
		{"jwks_uri", d.JWKSURI, true},
		{"end_session_endpoint", d.EndSessionEndpoint, false},
		{"pushed_authorization_request_endpoint", d.PAREndpoint, false},
	} {
		if ep.url == "" && !ep.required {
			continue
		}
		if err := checkURL(ep.url, cfg.AllowInsecure); err != nil {
			add("%s: %v", ep.name, err)
		}
	}
	if d.RequirePAR && d.PAREndpoint == "" {
		add("require_pushed_authorization_requests is set but there is no PAR endpoint")
	}
	if len(d.ResponseTypes) > 0 && !slices.Contains(d.ResponseTypes, "code") {
		add("response type code is not supported")
	}
	if len(d.CodeChallengeMethods) > 0 && !slices.Contains(d.CodeChallengeMethods, "S256") {
		add("PKCE S256 is not supported")
	}
	if len(d.TokenAuthMethods) > 0 && !slices.Contains(d.TokenAuthMethods, cfg.AuthMethod) {
		add("token endpoint auth method %s is not supported (provider offers %q)", cfg.AuthMethod, d.TokenAuthMethods)
	}
	if cfg.AuthMethod == AuthPrivateKeyJWT && len(d.TokenAuthSigningAlgs) > 0 && !slices.Contains(d.TokenAuthSigningAlgs, "RS256") {
		add("the provider does not accept RS256 client assertions")
	}

	var algs []string
	if len(d.IDTokenAlgs) == 0 {
		algs = []string{"RS256"} // OpenID Connect Core §15.1: RS256 is the one every provider supports
	}
	for _, a := range d.IDTokenAlgs {
		if slices.Contains(idTokenAlgs, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		add("no acceptable ID token signing algorithm among %q (we accept %q)", d.IDTokenAlgs, idTokenAlgs)
	}
	return algs, errors.Join(errs...)
}

// getJSON GETs url and decodes a JSON body of at most limit bytes into v. Error texts name the
// URL and the status, never the body.
func getJSON(ctx context.Context, client *http.Client, url string, limit int64, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %v", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	body, err := readLimited(resp.Body, limit)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if err := decodeJSONObject(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// readLimited reads all of r, failing when there is more than limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("body larger than %d bytes", limit)
	}
	return body, nil
}

// decodeJSONObject decodes exactly one JSON object. The error never quotes the input.
func decodeJSONObject(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("not JSON (offset %d)", se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("JSON field %q has the wrong type", te.Field)
		}
		return errors.New("not a JSON object")
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}
