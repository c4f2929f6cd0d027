package saml

import (
	"crypto/x509"
	"time"
)

// Bindings (SAML bindings §3).
const (
	BindingHTTPRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingHTTPPost     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	BindingHTTPArtifact = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
	BindingSOAP         = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
)

// XML namespaces.
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	NSDSig      = "http://www.w3.org/2000/09/xmldsig#"
	NSXEnc      = "http://www.w3.org/2001/04/xmlenc#"
	NSSOAP11    = "http://schemas.xmlsoap.org/soap/envelope/"
	// NSIDPortenExtensions is the namespace of ID-porten's OnBehalfOf extension.
	NSIDPortenExtensions = "https://idporten.difi.no/idporten-extensions"
)

// Name ID formats.
const (
	NameIDFormatTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDFormatPersistent  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDFormatUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// Signature and digest algorithms (XML-DSig, RFC 6931).
const (
	AlgRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	AlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	AlgSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
	AlgSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA512    = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// Endpoint is one endpoint of an entity's metadata.
type Endpoint struct {
	Binding          string
	Location         string
	ResponseLocation string // SingleLogoutService only; empty means Location
	Index            int    // indexed endpoints (ArtifactResolutionService, ACS)
	IsDefault        bool
}

// IdPDescriptor is what the SP knows of an identity provider, taken from its metadata only.
// Keys found anywhere else (KeyInfo in a message) are never trusted.
type IdPDescriptor struct {
	EntityID                string
	SingleSignOn            []Endpoint
	SingleLogout            []Endpoint
	ArtifactResolution      []Endpoint
	SigningCerts            []*x509.Certificate // every one is trusted (IdP key rollover)
	EncryptionCerts         []*x509.Certificate
	WantAuthnRequestsSigned bool
	ValidUntil              time.Time     // zero when the metadata has none
	CacheDuration           time.Duration // zero when the metadata has none
}

// EndpointFor returns the first endpoint of list with the given binding.
func EndpointFor(list []Endpoint, binding string) (Endpoint, bool) {
	for _, e := range list {
		if e.Binding == binding {
			return e, true
		}
	}
	return Endpoint{}, false
}
