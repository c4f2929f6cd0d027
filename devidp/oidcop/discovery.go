package oidcop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// serveDiscovery is the OpenID Provider Metadata (OpenID Connect Discovery 1.0, RFC 8414,
// RFC 9126, RFC 9207): what the contract's client reads instead of hard-coding.
func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                           p.issuer,
		"authorization_endpoint":                           p.urls.authorize,
		"token_endpoint":                                   p.urls.token,
		"userinfo_endpoint":                                p.urls.userinfo,
		"jwks_uri":                                         p.urls.jwks,
		"end_session_endpoint":                             p.urls.endsession,
		"pushed_authorization_request_endpoint":            p.urls.par,
		"require_pushed_authorization_requests":            false,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code"},
		"subject_types_supported":                          []string{"pairwise"},
		"id_token_signing_alg_values_supported":            []string{string(jose.RS256)},
		"token_endpoint_auth_methods_supported":            []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT},
		"token_endpoint_auth_signing_alg_values_supported": []string{string(jose.RS256)},
		"code_challenge_methods_supported":                 []string{"S256"},
		"scopes_supported":                                 p.preset.scopes,
		"claims_supported":                                 p.preset.claims,
		"acr_values_supported":                             p.preset.acrValues(),
		"ui_locales_supported":                             []string{"nb", "nn", "en", "se"},
		"prompt_values_supported":                          []string{"login", "none"},
		"request_parameter_supported":                      false,
		"authorization_response_iss_parameter_supported":   true,
		"frontchannel_logout_supported":                    true,
		"frontchannel_logout_session_supported":            true,
	})
}

// serveJWKS publishes the current signing key and the retired ones still in their overlap.
func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	var set jose.JSONWebKeySet
	for _, k := range p.publishedKeys() {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	// Clients cache the set and refetch on an unknown kid, so a short cache is harmless.
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, set)
}

func hmacBase64(key []byte, msg string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
