// Package oidcop is a development OpenID provider for eidsp, for development and tests only: it
// plays ID-porten's and BankID's OpenID Connect issuers (one [Provider] per preset, "idporten" or
// "bankid") with synthetic test persons, so that the relying-party side (package oidc) can be
// exercised end to end with the standard client libraries and without a real OpenID provider. It
// runs inside `eidsp dev` and in tests; no production configuration may enable it.
//
// The flow (the authorization code flow, the only one ID-porten and BankID offer): a client is
// registered from Go ([Provider.RegisterClient]) with its redirect URIs, logout URIs and how it
// authenticates at the token endpoint. Its browser arrives at /authorize with a request that is
// checked strictly (registered redirect_uri exactly, response_type=code, PKCE with S256, state and
// nonce), or with a request_uri from an earlier pushed authorization request (/par). The login page
// lists the test persons and the eIDs at or above the level asked for in acr_values; the choice
// starts an SSO session (a cookie per issuer) and sends the browser back with a single-use code,
// the state and the issuer (RFC 9207). A later request of the same browser without prompt=login is
// answered from the session when its level is enough. The client redeems the code at /token,
// proving the PKCE verifier and authenticating by its registered method (client_secret_basic,
// client_secret_post or private_key_jwt), and gets an RS256 ID token with a pairwise subject and
// the preset's claims (idporten: pid, locale; bankid: nnin_altsub for entitled clients that ask
// for it) and an access token for /userinfo. RP-initiated logout at /endsession ends the session
// and tells every other client of it through front-channel logout iframes (iss and sid), then
// returns to the registered post_logout_redirect_uri.
//
// JOSE (JWS, JWT, JWK) is go-jose's; the signing key can be rotated ([Provider.RotateKey]) with the
// old key published in the JWKS for an overlap. Codes, sessions, pushed requests and tokens live in
// memory; the browser only ever holds random values. Clock and randomness come from [Config]; the
// log never carries a national identity number, a code or a token.
package oidcop
