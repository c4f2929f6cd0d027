package metadata

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

// ParseOptions says which entity to take from a metadata document and how much to trust it.
type ParseOptions struct {
	// EntityID is required when the document is an EntitiesDescriptor; when set, it must match.
	EntityID string
	// AllowInsecure allows http:// endpoints, but only on loopback hosts (127.0.0.0/8, ::1,
	// localhost): for development and tests against a local IdP, never for a remote one.
	AllowInsecure bool
	// Now is the time the document's validUntil is checked against; zero means the current time.
	Now time.Time
	// TrustedCerts, when not empty, makes an enveloped XML signature on the root element by one of
	// these certificates mandatory; the entity is then read only from what that signature covers.
	TrustedCerts []*x509.Certificate
}

// ParseIdP reads an identity provider's SAML 2.0 metadata: an md:EntityDescriptor, or an
// md:EntitiesDescriptor aggregate from which the entity named by opt.EntityID is taken.
//
// Errors from reading the XML wrap a *saml.Error (saml.ReasonOf gives its Reason, e.g. a DOCTYPE);
// signature problems are a *saml.Error with ReasonSignature or ReasonAlgorithm; everything wrong with
// the content is listed in one *InvalidError.
func ParseIdP(data []byte, opt ParseOptions) (idp *saml.IdPDescriptor, err error) {
	defer func() {
		if r := recover(); r != nil {
			idp = nil
			err = &saml.Error{Reason: saml.ReasonPanic, Err: fmt.Errorf("reading IdP metadata: recovered: %v", r)}
		}
	}()
	doc, err := saml.ParseUntrusted(data, saml.MetadataLimits())
	if err != nil {
		return nil, fmt.Errorf("IdP metadata is not acceptable XML: %w", err)
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	root := doc.Root()
	if len(opt.TrustedCerts) > 0 {
		if root, err = verifySignature(root, opt.TrustedCerts, now); err != nil {
			return nil, err
		}
	}
	p := &problems{subject: "IdP metadata"}
	chain := selectEntity(p, root, opt.EntityID)
	if chain == nil {
		return nil, p.err()
	}
	entity := chain[len(chain)-1]
	idp = &saml.IdPDescriptor{EntityID: entity.SelectAttrValue("entityID", "")}
	if sso := idpSSODescriptor(p, entity); sso != nil {
		chain = append(chain, sso)
		readIdPSSODescriptor(p, sso, idp, opt.AllowInsecure)
	}
	readLifetime(p, chain, idp, now)
	if err := p.err(); err != nil {
		return nil, err
	}
	return idp, nil
}

// selectEntity returns the EntityDescriptor to use, preceded by the EntitiesDescriptors around it
// (their validUntil and cacheDuration apply to it too).
func selectEntity(p *problems, root *etree.Element, want string) []*etree.Element {
	switch {
	case is(root, saml.NSMetadata, "EntityDescriptor"):
		got := attr(root, "entityID")
		if got == "" {
			p.add("the EntityDescriptor has no entityID")
			return nil
		}
		if want != "" && got != want {
			p.add("the metadata is for entity %q, but %q is configured", got, want)
			return nil
		}
		return []*etree.Element{root}
	case is(root, saml.NSMetadata, "EntitiesDescriptor"):
		if want == "" {
			p.add("the metadata is an aggregate of several entities (EntitiesDescriptor); configure the entity ID of the IdP to use")
			return nil
		}
		var found [][]*etree.Element
		total := 0
		var walk func(el *etree.Element, path []*etree.Element)
		walk = func(el *etree.Element, path []*etree.Element) {
			path = append(path[:len(path):len(path)], el)
			for _, c := range el.ChildElements() {
				switch {
				case is(c, saml.NSMetadata, "EntitiesDescriptor"):
					walk(c, path)
				case is(c, saml.NSMetadata, "EntityDescriptor"):
					total++
					if attr(c, "entityID") == want {
						found = append(found, append(path[:len(path):len(path)], c))
					}
				}
			}
		}
		walk(root, nil)
		switch len(found) {
		case 0:
			p.add("the aggregate holds %d entities, none with entity ID %q", total, want)
			return nil
		case 1:
			return found[0]
		default:
			p.add("entity ID %q appears %d times in the aggregate", want, len(found))
			return nil
		}
	default:
		p.add("the root element is %s, not a SAML metadata EntityDescriptor or EntitiesDescriptor", describe(root))
		return nil
	}
}

// idpSSODescriptor returns the entity's one IDPSSODescriptor for SAML 2.0.
func idpSSODescriptor(p *problems, entity *etree.Element) *etree.Element {
	var all, saml2 []*etree.Element
	for _, c := range entity.ChildElements() {
		if !is(c, saml.NSMetadata, "IDPSSODescriptor") {
			continue
		}
		all = append(all, c)
		for _, proto := range strings.Fields(attr(c, "protocolSupportEnumeration")) {
			if proto == saml.NSProtocol {
				saml2 = append(saml2, c)
				break
			}
		}
	}
	switch {
	case len(all) == 0:
		p.add("entity %q has no IDPSSODescriptor, so it is not an identity provider", attr(entity, "entityID"))
	case len(saml2) == 0:
		p.add("the IDPSSODescriptor does not list the SAML 2.0 protocol (%s) in protocolSupportEnumeration", saml.NSProtocol)
	case len(saml2) > 1:
		p.add("entity %q has %d IDPSSODescriptors for SAML 2.0; expected one", attr(entity, "entityID"), len(saml2))
	default:
		return saml2[0]
	}
	return nil
}

func readIdPSSODescriptor(p *problems, sso *etree.Element, idp *saml.IdPDescriptor, allowInsecure bool) {
	if v := attr(sso, "WantAuthnRequestsSigned"); v != "" {
		b, ok := parseBool(v)
		if !ok {
			p.add("WantAuthnRequestsSigned %q is not true or false", v)
		}
		idp.WantAuthnRequestsSigned = b
	}
	keys := 0
	for _, c := range sso.ChildElements() {
		if c.NamespaceURI() != saml.NSMetadata {
			continue
		}
		switch c.Tag {
		case "KeyDescriptor":
			keys++
			readKeyDescriptor(p, c, keys, idp)
		case "SingleSignOnService":
			if e, ok := readEndpoint(p, c, false, allowInsecure); ok {
				idp.SingleSignOn = append(idp.SingleSignOn, e)
			}
		case "SingleLogoutService":
			if e, ok := readEndpoint(p, c, false, allowInsecure); ok {
				idp.SingleLogout = append(idp.SingleLogout, e)
			}
		case "ArtifactResolutionService":
			if e, ok := readEndpoint(p, c, true, allowInsecure); ok {
				idp.ArtifactResolution = append(idp.ArtifactResolution, e)
			}
		}
	}
	if len(idp.SingleSignOn) == 0 {
		p.add("there is no usable SingleSignOnService")
	}
	if len(idp.SigningCerts) == 0 {
		p.add(`there is no signing certificate (a KeyDescriptor with use="signing" or without use, holding an X509Certificate)`)
	}
}

func readKeyDescriptor(p *problems, kd *etree.Element, n int, idp *saml.IdPDescriptor) {
	use := attr(kd, "use")
	signing, encryption := use == "" || use == "signing", use == "" || use == "encryption"
	if !signing && !encryption {
		p.add(`KeyDescriptor #%d has use=%q; expected "signing", "encryption" or no use`, n, use)
		return
	}
	var certs []*x509.Certificate
	found := 0
	for _, ki := range children(kd, saml.NSDSig, "KeyInfo") {
		for _, xd := range children(ki, saml.NSDSig, "X509Data") {
			for _, xc := range children(xd, saml.NSDSig, "X509Certificate") {
				found++
				cert, err := parseCert(xc)
				if err != nil {
					p.add("KeyDescriptor #%d: %v", n, err)
					continue
				}
				certs = append(certs, cert)
			}
		}
	}
	if found == 0 {
		p.add("KeyDescriptor #%d holds no ds:KeyInfo/ds:X509Data/ds:X509Certificate (only X.509 certificates are supported)", n)
	}
	for _, c := range certs {
		if signing {
			idp.SigningCerts = appendCert(idp.SigningCerts, c)
		}
		if encryption {
			idp.EncryptionCerts = appendCert(idp.EncryptionCerts, c)
		}
	}
}

func parseCert(el *etree.Element) (*x509.Certificate, error) {
	text, ok := textOf(el)
	if !ok {
		return nil, fmt.Errorf("X509Certificate contains elements instead of base64 text")
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return nil, fmt.Errorf("X509Certificate is not valid base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("X509Certificate is not a readable X.509 certificate: %v", err)
	}
	return cert, nil
}

func appendCert(list []*x509.Certificate, c *x509.Certificate) []*x509.Certificate {
	for _, have := range list {
		if bytes.Equal(have.Raw, c.Raw) {
			return list
		}
	}
	return append(list, c)
}

func readEndpoint(p *problems, el *etree.Element, indexed, allowInsecure bool) (saml.Endpoint, bool) {
	e := saml.Endpoint{
		Binding:          attr(el, "Binding"),
		Location:         strings.TrimSpace(attr(el, "Location")),
		ResponseLocation: strings.TrimSpace(attr(el, "ResponseLocation")),
	}
	ok := true
	if e.Binding == "" {
		p.add("%s has no Binding", el.Tag)
		ok = false
	}
	if e.Location == "" {
		p.add("%s has no Location", el.Tag)
		ok = false
	} else if msg := checkEndpointURL(e.Location, allowInsecure); msg != "" {
		p.add("%s Location %q %s", el.Tag, e.Location, msg)
		ok = false
	}
	if e.ResponseLocation != "" {
		if msg := checkEndpointURL(e.ResponseLocation, allowInsecure); msg != "" {
			p.add("%s ResponseLocation %q %s", el.Tag, e.ResponseLocation, msg)
			ok = false
		}
	}
	if indexed {
		idx, err := strconv.ParseUint(strings.TrimSpace(attr(el, "index")), 10, 16)
		if err != nil {
			p.add("%s at %q has no valid index (a number from 0 to 65535)", el.Tag, e.Location)
			ok = false
		}
		e.Index = int(idx)
		if v := attr(el, "isDefault"); v != "" {
			b, valid := parseBool(v)
			if !valid {
				p.add("%s at %q has isDefault %q, which is not true or false", el.Tag, e.Location, v)
				ok = false
			}
			e.IsDefault = b
		}
	}
	return e, ok
}

// checkEndpointURL returns why raw is not an acceptable IdP endpoint, or "" when it is.
func checkEndpointURL(raw string, allowInsecure bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "is not an absolute URL"
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if !allowInsecure {
			return "must use https"
		}
		if !isLoopback(u.Hostname()) {
			return "must use https (http is allowed only for loopback hosts in development)"
		}
		return ""
	default:
		return "must use https"
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readLifetime applies the earliest validUntil and the shortest cacheDuration found on the entity,
// its IDPSSODescriptor and every aggregate around it.
func readLifetime(p *problems, chain []*etree.Element, idp *saml.IdPDescriptor, now time.Time) {
	for _, el := range chain {
		if v := attr(el, "validUntil"); v != "" {
			t, err := parseDateTime(v)
			switch {
			case err != nil:
				p.add("%s validUntil %q is not a date and time (like 2026-01-01T00:00:00Z)", el.Tag, v)
			case idp.ValidUntil.IsZero() || t.Before(idp.ValidUntil):
				idp.ValidUntil = t
			}
		}
		if v := attr(el, "cacheDuration"); v != "" {
			d, err := parseDuration(v)
			switch {
			case err != nil:
				p.add("%s cacheDuration %q is not a usable duration: %v", el.Tag, v, err)
			case idp.CacheDuration == 0 || d < idp.CacheDuration:
				idp.CacheDuration = d
			}
		}
	}
	if !idp.ValidUntil.IsZero() && !now.Before(idp.ValidUntil) {
		p.add("the metadata expired at %s (validUntil); fetch a current copy from the IdP",
			idp.ValidUntil.UTC().Format(time.RFC3339))
	}
}

// parseDateTime reads an xs:dateTime; one without a time zone is taken as UTC, as SAML requires.
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
}

// parseBool reads an xs:boolean.
func parseBool(s string) (value, ok bool) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// is reports whether el is the element {ns}local, whatever prefix the document gave it.
func is(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

func children(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// attr returns the value of the unqualified attribute name. etree's SelectAttr would also match a
// namespaced attribute such as evil:Location, which is another attribute altogether.
func attr(el *etree.Element, name string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value
		}
	}
	return ""
}

// textOf joins all character data of el (comments are dropped, as canonicalization drops them); ok
// is false when el has child elements.
func textOf(el *etree.Element) (text string, ok bool) {
	var b strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		case *etree.Element:
			return "", false
		}
	}
	return b.String(), true
}

func describe(el *etree.Element) string {
	if ns := el.NamespaceURI(); ns != "" {
		return "{" + ns + "}" + el.Tag
	}
	return el.Tag
}
