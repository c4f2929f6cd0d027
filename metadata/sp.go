package metadata

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/internal/xmlout"
	"github.com/eidsp/eidsp/saml"
)

// maxEntityIDLength is the limit of md:entityIDType.
const maxEntityIDLength = 1024

// indentSpaces is the indentation of the document, one level.
const indentSpaces = 2

// organizationLang is the xml:lang of the Organization elements, which the schema requires.
const organizationLang = "en"

// encryptionMethods are the algorithms the SP can decrypt, announced on every encryption key so an IdP
// that reads them picks one of these. rsa-1_5 is left out on purpose although we can decrypt it: an IdP
// should not be invited to use it.
var encryptionMethods = []string{
	"http://www.w3.org/2001/04/xmlenc#aes128-cbc",
	"http://www.w3.org/2001/04/xmlenc#aes256-cbc",
	"http://www.w3.org/2009/xmlenc11#aes128-gcm",
	"http://www.w3.org/2009/xmlenc11#aes256-gcm",
	"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
}

// SP describes this service provider as its metadata announces it.
type SP struct {
	EntityID        string
	SigningCert     *x509.Certificate   // current signing cert
	EncryptionCerts []*x509.Certificate // current (+ next during rollover)
	NextSigningCert *x509.Certificate   // optional: published as a second signing KeyDescriptor during rollover
	ACSArtifact     string              // URL of the Artifact ACS (index 1, isDefault)
	ACSPost         string              // optional: POST ACS, index 2, only when configured
	SLO             string              // SingleLogoutService Location and ResponseLocation (Redirect binding)
	ValidUntil      time.Time           // zero: omit
	CacheDuration   time.Duration       // zero: omit; else xs:duration like PT6H

	// Optional Organization element: all three or none.
	OrganizationName, OrganizationDisplayName, OrganizationURL string

	// Signer, when set, signs the document: an enveloped XML signature (RSA-SHA256 or RSA-SHA512,
	// exclusive c14n) as the EntityDescriptor's first child, which then gets an ID derived from
	// the unsigned document, so that the same settings still give the same bytes.
	Signer *saml.Signer
}

// Validate reports every problem with the settings at once.
func (sp SP) Validate() error {
	p := problems{subject: "SP metadata settings"}
	switch {
	case sp.EntityID == "":
		p.add("entity ID is empty")
	case utf8.RuneCountInString(sp.EntityID) > maxEntityIDLength:
		p.add("entity ID is longer than %d characters", maxEntityIDLength)
	case strings.ContainsFunc(sp.EntityID, unicode.IsSpace):
		p.add("entity ID %q contains white space", sp.EntityID)
	}
	if sp.SigningCert == nil {
		p.add("signing certificate is missing")
	}
	if len(sp.EncryptionCerts) == 0 {
		p.add("encryption certificate is missing")
	}
	for i, c := range sp.EncryptionCerts {
		if c == nil {
			p.add("encryption certificate #%d is missing", i+1)
		}
	}
	checkURL(&p, "Artifact AssertionConsumerService URL", sp.ACSArtifact, true)
	checkURL(&p, "POST AssertionConsumerService URL", sp.ACSPost, false)
	checkURL(&p, "SingleLogoutService URL", sp.SLO, true)
	if sp.CacheDuration < 0 {
		p.add("cache duration %s is negative", sp.CacheDuration)
	}
	org := []string{sp.OrganizationName, sp.OrganizationDisplayName, sp.OrganizationURL}
	if set := countNonEmpty(org); set > 0 && set < len(org) {
		p.add("organization needs name, display name and URL together (or none of them)")
	}
	if sp.OrganizationURL != "" {
		checkURL(&p, "organization URL", sp.OrganizationURL, true)
	}
	if s := sp.Signer; s != nil {
		switch {
		case s.Key == nil || s.Cert == nil:
			p.add("metadata signer needs a key and a certificate")
		default:
			if pub, ok := s.Cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(s.Key.Public()) {
				p.add("metadata signer certificate does not match its key")
			}
		}
		// Metadata readers (ours included) refuse SHA-1 signatures on metadata.
		if s.Alg != "" && s.Alg != saml.AlgRSASHA256 && s.Alg != saml.AlgRSASHA512 {
			p.add("metadata signature algorithm %q is not RSA-SHA256 or RSA-SHA512", s.Alg)
		}
	}
	return p.err()
}

// ValidUntilFor is the validUntil for metadata built at built and meant to be valid for validFor:
// built+validFor, but never after the signing certificate (or the metadata signer's certificate)
// expires, since an IdP must not keep trusting a key past its certificate; truncated to the second.
func (sp SP) ValidUntilFor(built time.Time, validFor time.Duration) time.Time {
	until := built.Add(validFor)
	certs := []*x509.Certificate{sp.SigningCert}
	if sp.Signer != nil {
		certs = append(certs, sp.Signer.Cert)
	}
	for _, c := range certs {
		if c != nil && c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	return until.UTC().Truncate(time.Second)
}

func countNonEmpty(list []string) int {
	n := 0
	for _, s := range list {
		if s != "" {
			n++
		}
	}
	return n
}

// checkURL requires an absolute http(s) URL; the IdP posts or redirects browsers there.
func checkURL(p *problems, what, raw string, required bool) {
	if raw == "" {
		if required {
			p.add("%s is empty", what)
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		p.add("%s %q is not a URL: %v", what, raw, err)
		return
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add("%s %q is not an absolute http(s) URL", what, raw)
	}
}

// Build renders the SP metadata as indented UTF-8 XML with an XML declaration, signed when
// sp.Signer is set. The same settings always give the same bytes.
func (sp SP) Build() ([]byte, error) {
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)

	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", saml.NSMetadata)
	ed.CreateAttr("xmlns:ds", saml.NSDSig)
	ed.CreateAttr("entityID", sp.EntityID)
	if !sp.ValidUntil.IsZero() {
		ed.CreateAttr("validUntil", sp.ValidUntil.UTC().Format(time.RFC3339Nano))
	}
	if sp.CacheDuration > 0 {
		ed.CreateAttr("cacheDuration", formatDuration(sp.CacheDuration))
	}

	sso := ed.CreateElement("md:SPSSODescriptor")
	sso.CreateAttr("AuthnRequestsSigned", "true")
	sso.CreateAttr("WantAssertionsSigned", "true")
	sso.CreateAttr("protocolSupportEnumeration", saml.NSProtocol)

	addKey(sso, "signing", sp.SigningCert, nil)
	if sp.NextSigningCert != nil {
		addKey(sso, "signing", sp.NextSigningCert, nil)
	}
	for _, c := range sp.EncryptionCerts {
		addKey(sso, "encryption", c, encryptionMethods)
	}

	slo := sso.CreateElement("md:SingleLogoutService")
	slo.CreateAttr("Binding", saml.BindingHTTPRedirect)
	slo.CreateAttr("Location", sp.SLO)
	slo.CreateAttr("ResponseLocation", sp.SLO)

	sso.CreateElement("md:NameIDFormat").SetText(saml.NameIDFormatTransient)

	addACS(sso, saml.BindingHTTPArtifact, sp.ACSArtifact, 1, true)
	if sp.ACSPost != "" {
		addACS(sso, saml.BindingHTTPPost, sp.ACSPost, 2, false)
	}

	if sp.OrganizationName != "" {
		org := ed.CreateElement("md:Organization")
		for _, f := range []struct{ tag, value string }{
			{"md:OrganizationName", sp.OrganizationName},
			{"md:OrganizationDisplayName", sp.OrganizationDisplayName},
			{"md:OrganizationURL", sp.OrganizationURL},
		} {
			el := org.CreateElement(f.tag)
			el.CreateAttr("xml:lang", organizationLang)
			el.SetText(f.value)
		}
	}

	doc.Indent(indentSpaces)
	if sp.Signer == nil {
		return xmlout.Bytes(doc), nil
	}
	return sp.sign(doc)
}

// sign adds the ID and the enveloped signature to the indented document. Indenting came first on
// purpose: the white space between elements is part of what the signature covers, so nothing may
// re-indent the document afterwards.
func (sp SP) sign(doc *etree.Document) ([]byte, error) {
	unsigned := xmlout.Bytes(doc)
	// The ID only has to be unique among the documents an IdP holds and stable for the same
	// content; a hash of the unsigned document is both, and an NCName with the leading "_".
	sum := sha256.Sum256(unsigned)
	root := doc.Root()
	id := etree.Attr{Key: "ID", Value: "_" + hex.EncodeToString(sum[:20])}
	at := slices.IndexFunc(root.Attr, func(a etree.Attr) bool { return a.Key == "entityID" })
	root.Attr = slices.Insert(root.Attr, at, id)

	// An extra indentation ahead of the first child gives the signature a line of its own: it
	// goes between the two, and the enveloped transform removes only the Signature element, so
	// the digest sees the same white space the signer did.
	root.InsertChildAt(0, etree.NewText("\n"+strings.Repeat(" ", indentSpaces)))
	// The signer gets a copy: goxmldsig canonicalizes the element it signs in place (sorted
	// attributes, namespace declarations moved), and the document should keep the shape of the
	// unsigned one. Its canonical form, which the digest covers, is the same either way.
	signed, err := sp.Signer.SignEnveloped(root.Copy())
	if err != nil {
		return nil, fmt.Errorf("signing the SP metadata: %w", err)
	}
	var sig *etree.Element
	for _, c := range signed.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == saml.NSDSig {
			sig = c
			break
		}
	}
	if sig == nil {
		return nil, fmt.Errorf("signing the SP metadata: the signer returned no ds:Signature")
	}
	// The schema wants ds:Signature as the EntityDescriptor's first child.
	root.InsertChildAt(1, sig)
	return xmlout.Bytes(doc), nil
}

func addKey(parent *etree.Element, use string, cert *x509.Certificate, methods []string) {
	kd := parent.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", use)
	kd.CreateElement("ds:KeyInfo").
		CreateElement("ds:X509Data").
		CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(cert.Raw))
	for _, m := range methods {
		kd.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", m)
	}
}

func addACS(parent *etree.Element, binding, location string, index int, isDefault bool) {
	acs := parent.CreateElement("md:AssertionConsumerService")
	acs.CreateAttr("Binding", binding)
	acs.CreateAttr("Location", location)
	acs.CreateAttr("index", strconv.Itoa(index))
	if isDefault {
		acs.CreateAttr("isDefault", "true")
	}
}

// formatDuration writes d as an xs:duration in hours, minutes and seconds (PT6H, PT1H30M, PT0.5S);
// xs:duration hours are exact, unlike its days-to-years.
func formatDuration(d time.Duration) string {
	var b strings.Builder
	b.WriteString("PT")
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if d > 0 {
		sec, frac := d/time.Second, d%time.Second
		b.WriteString(strconv.FormatInt(int64(sec), 10))
		if frac > 0 {
			b.WriteString(strings.TrimRight(fmt.Sprintf(".%09d", int64(frac)), "0"))
		}
		b.WriteString("S")
	}
	return b.String()
}
