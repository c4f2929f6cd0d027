package oidc

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// clientAssertionLifetime is the exp of a private_key_jwt assertion after its iat; ID-porten
// accepts at most 120 s.
const clientAssertionLifetime = 120 * time.Second

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertion returns a private_key_jwt client assertion (RFC 7523 §2.2, OpenID Connect
// Core §9): RS256, kid = KeyID, iss = sub = client_id, aud = the issuer, a random jti, exp 120 s.
func (p *Provider) clientAssertion() (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.cfg.PrivateKey, KeyID: p.cfg.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("oidc: client assertion signer: %w", err)
	}
	var jti [16]byte
	if _, err := io.ReadFull(p.cfg.Rand, jti[:]); err != nil {
		return "", fmt.Errorf("oidc: client assertion jti: %w", err)
	}
	now := p.cfg.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:   p.cfg.ClientID,
		Subject:  p.cfg.ClientID,
		Audience: jwt.Audience{p.cfg.Issuer},
		ID:       hex.EncodeToString(jti[:]),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(clientAssertionLifetime)),
	}).Serialize()
}

// tokenAuthOptions are the extra token request parameters of private_key_jwt; the secret
// methods are oauth2.Config's AuthStyle.
func (p *Provider) tokenAuthOptions() ([]oauth2.AuthCodeOption, error) {
	if p.cfg.AuthMethod != AuthPrivateKeyJWT {
		return nil, nil
	}
	assertion, err := p.clientAssertion()
	if err != nil {
		return nil, err
	}
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("client_assertion_type", clientAssertionType),
		oauth2.SetAuthURLParam("client_assertion", assertion),
	}, nil
}

// clientAuthRequest builds a form POST to one of the provider's endpoints (PAR) with our client
// authentication, encoded as oauth2 encodes it for the token endpoint.
func (p *Provider) clientAuthRequest(ctx context.Context, endpoint string, form url.Values) (*http.Request, error) {
	form.Set("client_id", p.cfg.ClientID)
	switch p.cfg.AuthMethod {
	case AuthClientSecretPost:
		form.Set("client_secret", p.cfg.ClientSecret)
	case AuthPrivateKeyJWT:
		assertion, err := p.clientAssertion()
		if err != nil {
			return nil, err
		}
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("oidc: request to %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.cfg.AuthMethod == AuthClientSecretBasic {
		// RFC 6749 §2.3.1: form-encode before Basic, as oauth2 does at the token endpoint.
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	return req, nil
}
