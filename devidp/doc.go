// Package devidp is a development identity provider for eidsp, for development and tests only:
// it emulates the IdP side of the ID-porten SAML 2.0 profile and Buypass IPS instrument choice with
// synthetic test persons, so that the service provider can be exercised end to end without a real
// IdP. It runs inside `eidsp dev` and in tests; no production configuration may enable it.
//
// The flow: an SP registers with its metadata, from a program ([IdP.RegisterSP], lenient) or, as
// at ID-porten's self-service, uploaded on the admin page /idp/admin/, which registers only what
// [metadata.CheckSP] accepts and lists every problem otherwise; its browser arrives at the
// SingleSignOnService with a signed Redirect-binding AuthnRequest, which is verified against the
// SP's metadata (signature, Destination, ACS URL and binding, instruments); the login page lists the
// test persons and the methods the request allows (the ID-porten chooser, or only the requested
// Buypass instruments); the user's choice becomes an Assertion in ID-porten's shape, signed with the
// IdP key and encrypted for the SP. On the HTTP-Artifact binding the browser takes a one-time
// artifact back to the SP, which resolves it over the SOAP back channel and gets a signed
// ArtifactResponse; on the HTTP-POST binding the browser posts a signed Response. An SSO session at
// the IdP (a cookie) answers later requests without the page unless they ask for ForceAuthn or a
// level or instrument the session cannot give.
//
// Single logout (HTTP-Redirect binding, query signatures both ways) follows ID-porten: a signed
// LogoutRequest from an SP at the SingleLogoutService, or the user at /idp/logout, starts a walk
// through every other SP of the session. The browser goes to each SP's SingleLogoutService with
// a signed LogoutRequest for its NameID and the SessionIndex and comes back with its signed
// LogoutResponse; when the last has answered the session ends, and the SP that asked gets a
// LogoutResponse (PartialLogout when an SP failed or could not be told) or the user the IdP's
// logged-out page. A LogoutRequest that names no live session is answered Success at once, so
// that an SP's logout never breaks.
//
// The pending logins, the SSO sessions, the artifacts and the logouts in progress live in
// memory; the browser only ever holds random tokens. Clock and randomness come from [Config]; the log never carries a national
// identity number or raw XML.
package devidp
