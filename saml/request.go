package saml

import (
	"crypto/x509"
	"strings"

	"github.com/eidsp/eidsp/identity"
)

// ParseAuthnRequest reads an AuthnRequest (already inflated from the Redirect binding). It checks
// structure only; the caller verifies the query signature.
func ParseAuthnRequest(data []byte, lim Limits) (r *AuthnRequest, err error) {
	defer guard(&err)
	doc, err := ParseUntrusted(data, lim)
	if err != nil {
		return nil, err
	}
	el := doc.Root()
	if el.Tag != "AuthnRequest" || el.NamespaceURI() != NSProtocol {
		return nil, reject(ReasonMalformed, "%s is not an AuthnRequest", el.Tag)
	}
	if attrValue(el, "Version", "") != "2.0" {
		return nil, reject(ReasonMalformed, "Version is not 2.0")
	}
	r = &AuthnRequest{
		ID:              attrValue(el, "ID", ""),
		Destination:     attrValue(el, "Destination", ""),
		ACSURL:          attrValue(el, "AssertionConsumerServiceURL", ""),
		ProtocolBinding: attrValue(el, "ProtocolBinding", ""),
		ForceAuthn:      attrValue(el, "ForceAuthn", "") == "true" || attrValue(el, "ForceAuthn", "") == "1",
	}
	if r.ID == "" {
		return nil, reject(ReasonMalformed, "AuthnRequest without ID")
	}
	if r.IssueInstant, err = parseTime(attrValue(el, "IssueInstant", "")); err != nil {
		return nil, reject(ReasonMalformed, "IssueInstant: %v", err)
	}
	iss, err := only(el, NSAssertion, "Issuer")
	if err != nil {
		return nil, reject(ReasonIssuer, "%v", err)
	}
	r.Issuer = strings.TrimSpace(text(iss))
	if ext := firstChild(el, NSProtocol, "Extensions"); ext != nil {
		for c := range ext.ChildElementsSeq() {
			switch {
			case c.Tag == "OnBehalfOf" && c.NamespaceURI() == NSIDPortenExtensions:
				r.OnBehalfOf = strings.TrimSpace(text(c))
			case c.Tag == "InstrumentAttribute":
				r.InstrumentNamespace = c.NamespaceURI()
				r.Instruments = append(r.Instruments, attrValue(c, "name", ""))
			}
		}
	}
	if rac := firstChild(el, NSProtocol, "RequestedAuthnContext"); rac != nil {
		if c := attrValue(rac, "Comparison", "exact"); c != "minimum" {
			return nil, reject(ReasonMalformed, "RequestedAuthnContext Comparison %q, want minimum", c)
		}
		for _, ref := range children(rac, NSAssertion, "AuthnContextClassRef") {
			lvl, ok := identity.LevelFromClassRef(strings.TrimSpace(text(ref)))
			if !ok {
				return nil, reject(ReasonMalformed, "unknown AuthnContextClassRef")
			}
			if r.MinLevel == 0 || lvl < r.MinLevel {
				r.MinLevel = lvl
			}
		}
	}
	return r, nil
}

// ParseArtifactResolve reads a SOAP ArtifactResolve and verifies its signature with the
// certificates trustedFor gives for the Issuer it claims (nil for an unknown requester: the
// signature then fails), parsing the message once. It returns the request ID, the issuer and the
// artifact.
func ParseArtifactResolve(soap []byte, trustedFor func(issuer string) []*x509.Certificate, algs Algorithms, lim Limits) (id, issuer, artifact string, err error) {
	defer guard(&err)
	el, err := soapBody(soap, lim)
	if err != nil {
		return "", "", "", err
	}
	if el.Tag != "ArtifactResolve" || el.NamespaceURI() != NSProtocol {
		return "", "", "", reject(ReasonMalformed, "SOAP body is %s, not ArtifactResolve", el.Tag)
	}
	// The Issuer as claimed picks the keys; the verified message must then name exactly it.
	claimed := ""
	if iss := firstChild(el, NSAssertion, "Issuer"); iss != nil {
		claimed = strings.TrimSpace(text(iss))
	}
	v, err := verifyEnveloped(el, trustedFor(claimed), algs)
	if err != nil {
		return "", "", "", err
	}
	iss, err := only(v, NSAssertion, "Issuer")
	if err != nil {
		return "", "", "", reject(ReasonIssuer, "%v", err)
	}
	if issuer = strings.TrimSpace(text(iss)); issuer != claimed {
		return "", "", "", reject(ReasonIssuer, "issuer differs from the one whose keys verified it")
	}
	art, err := only(v, NSProtocol, "Artifact")
	if err != nil {
		return "", "", "", reject(ReasonArtifact, "%v", err)
	}
	return attrValue(v, "ID", ""), issuer, strings.TrimSpace(text(art)), nil
}
