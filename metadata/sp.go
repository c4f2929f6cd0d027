package metadata

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

// maxEntityIDLength is the limit of md:entityIDType.
const maxEntityIDLength = 1024

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
	return p.err()
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

// Build renders the SP metadata as indented UTF-8 XML with an XML declaration. The same settings
// always give the same bytes.
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

	doc.Indent(2)
	return doc.WriteToBytes()
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
