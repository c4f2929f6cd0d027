// Package saml is the SAML 2.0 protocol of eidsp: it builds signed AuthnRequests (with the
// ID-porten and Buypass IPS Extensions), encodes and signs Redirect-binding messages, resolves
// artifacts over a signed SOAP back channel, and verifies, decrypts and checks the answer until it
// is an identity.Identity or a typed error.
//
// Everything here is a pure function over explicit inputs (keys, clock, IdP descriptor, limits):
// the package imports no web framework and no store. Untrusted XML is parsed once, with DOCTYPE
// refused and size and element limits, and only the element a signature covers is consumed.
package saml
