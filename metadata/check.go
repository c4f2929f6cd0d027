package metadata

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

// minRSABits is the smallest SP key ID-porten accepts.
const minRSABits = 2048

// CheckOptions says how CheckSP reads a document.
type CheckOptions struct {
	// AllowInsecure allows http:// endpoints, but only on loopback hosts (development).
	AllowInsecure bool
	// Now is the time validUntil is checked against; zero means the current time.
	Now time.Time
}

// SPInfo is what an accepted SP metadata document says about the service provider.
type SPInfo struct {
	EntityID        string
	SigningCerts    []*x509.Certificate // use="signing" or no use, in document order, without repeats
	EncryptionCerts []*x509.Certificate // use="encryption" or no use; the first is the SP's current key
	ArtifactACS     string              // the HTTP-Artifact AssertionConsumerService (index 1, the default)
	PostACS         string              // the HTTP-POST AssertionConsumerService, or ""
	SLOLocation     string              // SingleLogoutService (HTTP-Redirect): where LogoutRequests go
	// SLOResponseLocation is where LogoutResponses go.
	SLOResponseLocation string
	ValidUntil          time.Time // the earliest validUntil of the document; zero when it has none
}

// CheckSP reads untrusted SP metadata as an IdP's registration would: it applies the ID-porten
// profile (spec/PROFILE.md §6) and the parts of Digdir's metadata schema that matter for it, in Go,
// so that no schema validator is needed where it runs. An accepted document has one
// md:EntityDescriptor with one SAML 2.0 SPSSODescriptor that wants signed AuthnRequests and
// assertions; RSA certificates of at least 2048 bits for signing and for encryption; its children in
// the schema's order (KeyDescriptor, SingleLogoutService, NameIDFormat, AssertionConsumerService);
// one HTTP-Redirect SingleLogoutService with Location and ResponseLocation; one HTTP-Artifact
// AssertionConsumerService with index 1 as the default, beside at most one HTTP-POST one; https
// endpoints; and a validUntil, if any, in the future.
//
// A signature on the document is allowed but NOT verified: registration is trusted because an
// administrator uploads the document, not because of who signed it. Elements the profile does not
// use but the schema allows (Extensions, Organization, ContactPerson, AttributeConsumingService, …)
// are checked for their position only.
//
// Errors from reading the XML wrap a *saml.Error (saml.ReasonOf gives its Reason); everything wrong
// with the content is listed in one *InvalidError.
func CheckSP(data []byte, opt CheckOptions) (info *SPInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			info = nil
			err = &saml.Error{Reason: saml.ReasonPanic, Err: fmt.Errorf("checking SP metadata: recovered: %v", r)}
		}
	}()
	doc, err := saml.ParseUntrusted(data, saml.MetadataLimits())
	if err != nil {
		return nil, fmt.Errorf("SP metadata is not acceptable XML: %w", err)
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := &problems{subject: "SP metadata"}
	root := doc.Root()
	switch {
	case is(root, saml.NSMetadata, "EntitiesDescriptor"):
		p.add("the document is an aggregate of entities (EntitiesDescriptor); upload the EntityDescriptor of one service provider")
		return nil, p.err()
	case !is(root, saml.NSMetadata, "EntityDescriptor"):
		p.add("the root element is %s, not a SAML metadata EntityDescriptor", describe(root))
		return nil, p.err()
	}
	info = &SPInfo{EntityID: attr(root, "entityID")}
	checkEntityID(p, info.EntityID)
	checkAttrs(p, root, "the EntityDescriptor", true, "entityID", "validUntil", "cacheDuration", "ID")
	checkOrder(p, root, "the EntityDescriptor", entityDescriptorOrder, "")
	lifetime := []*etree.Element{root}
	if sso := spSSODescriptor(p, root); sso != nil {
		lifetime = append(lifetime, sso)
		checkSPSSODescriptor(p, sso, info, opt.AllowInsecure)
	}
	for _, el := range lifetime {
		checkLifetime(p, el, info, now)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return info, nil
}

func checkEntityID(p *problems, id string) {
	switch {
	case id == "":
		p.add("the EntityDescriptor has no entityID")
	case utf8.RuneCountInString(id) > maxEntityIDLength:
		p.add("the entityID is longer than %d characters", maxEntityIDLength)
	case strings.ContainsFunc(id, unicode.IsSpace):
		p.add("the entityID %q contains white space", id)
	}
}

// slot is one place in a schema sequence: the element that may stand there, once or repeated.
type slot struct {
	ns, name string
	once     bool
}

// entityDescriptorOrder is md:EntityDescriptorType with the SPSSODescriptor as the only role: an
// SP's registration describes the SP alone.
var entityDescriptorOrder = []slot{
	{saml.NSDSig, "Signature", true},
	{saml.NSMetadata, "Extensions", true},
	{saml.NSMetadata, "SPSSODescriptor", false}, // how many is checked on its own
	{saml.NSMetadata, "Organization", true},
	{saml.NSMetadata, "ContactPerson", false},
	{saml.NSMetadata, "AdditionalMetadataLocation", false},
}

// spSSODescriptorOrder is Digdir's md:SPSSODescriptorType, RoleDescriptorType and SSODescriptorType
// flattened.
var spSSODescriptorOrder = []slot{
	{saml.NSDSig, "Signature", true},
	{saml.NSMetadata, "Extensions", true},
	{saml.NSMetadata, "KeyDescriptor", false},
	{saml.NSMetadata, "Organization", true},
	{saml.NSMetadata, "ContactPerson", false},
	{saml.NSMetadata, "ArtifactResolutionService", false},
	{saml.NSMetadata, "SingleLogoutService", false},
	{saml.NSMetadata, "ManageNameIDService", false},
	{saml.NSMetadata, "NameIDFormat", false},
	{saml.NSMetadata, "AssertionConsumerService", false},
	{saml.NSMetadata, "AttributeConsumingService", false},
}

const spSSODescriptorOrderText = "KeyDescriptor, SingleLogoutService, NameIDFormat, AssertionConsumerService"

// checkOrder reports children of parent that the schema sequence does not allow there: unknown
// elements, elements after one that must follow them, and too many of a kind. orderText, when set,
// is the order to name in the message.
func checkOrder(p *problems, parent *etree.Element, what string, order []slot, orderText string) {
	at := 0 // the slot reached so far
	var prev *etree.Element
	seen := make([]bool, len(order))
	for _, c := range parent.ChildElements() {
		n := slices.IndexFunc(order, func(s slot) bool { return c.NamespaceURI() == s.ns && c.Tag == s.name })
		switch {
		case n < 0:
			p.add("%s contains %s, which does not belong there", what, describeShort(c))
			continue
		case n < at:
			msg := fmt.Sprintf("in %s, %s comes after %s, but must come before it", what, c.Tag, prev.Tag)
			if orderText != "" {
				msg += "; the order is " + orderText
			}
			p.add("%s", msg)
		default:
			at, prev = n, c
		}
		if seen[n] && order[n].once {
			p.add("%s has more than one %s", what, c.Tag)
		}
		seen[n] = true
	}
}

// checkAttrs reports unqualified attributes outside allowed and, where the schema allows foreign
// attributes (anyOther), only attributes in other namespaces than SAML metadata's.
func checkAttrs(p *problems, el *etree.Element, what string, anyOther bool, allowed ...string) {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns"):
		case a.Space == "":
			if !slices.Contains(allowed, a.Key) {
				p.add("%s has the attribute %s, which it must not have", what, a.Key)
			}
		case !anyOther || a.NamespaceURI() == saml.NSMetadata:
			p.add("%s has the attribute %s:%s, which it must not have", what, a.Space, a.Key)
		}
	}
}

// describeShort names an element by its prefix and name as written (md:Foo), which is what an
// administrator sees in the file.
func describeShort(el *etree.Element) string {
	if el.Space != "" {
		return el.Space + ":" + el.Tag
	}
	return describe(el)
}

// spSSODescriptor returns the entity's one SPSSODescriptor for SAML 2.0.
func spSSODescriptor(p *problems, entity *etree.Element) *etree.Element {
	all := children(entity, saml.NSMetadata, "SPSSODescriptor")
	switch len(all) {
	case 0:
		p.add("there is no SPSSODescriptor, so this is not a service provider's metadata")
		return nil
	case 1:
	default:
		p.add("there are %d SPSSODescriptors; expected one", len(all))
		return nil
	}
	sso := all[0]
	if !slices.Contains(strings.Fields(attr(sso, "protocolSupportEnumeration")), saml.NSProtocol) {
		p.add("the SPSSODescriptor does not list the SAML 2.0 protocol (%s) in protocolSupportEnumeration", saml.NSProtocol)
	}
	return sso
}

func checkSPSSODescriptor(p *problems, sso *etree.Element, info *SPInfo, allowInsecure bool) {
	checkAttrs(p, sso, "the SPSSODescriptor", true, "ID", "validUntil", "cacheDuration",
		"protocolSupportEnumeration", "errorURL", "AuthnRequestsSigned", "WantAssertionsSigned")
	for _, f := range []struct{ name, why string }{
		{"AuthnRequestsSigned", "ID-porten takes signed AuthnRequests only"},
		{"WantAssertionsSigned", "ID-porten signs every assertion"},
	} {
		switch v, ok := attrOK(sso, f.name); {
		case !ok:
			p.add(`the SPSSODescriptor has no %s; it must be "true" (%s)`, f.name, f.why)
		case v != "true":
			p.add(`the SPSSODescriptor has %s=%q; it must be "true" (%s)`, f.name, v, f.why)
		}
	}
	checkOrder(p, sso, "the SPSSODescriptor", spSSODescriptorOrder, spSSODescriptorOrderText)

	keys := 0
	for _, kd := range children(sso, saml.NSMetadata, "KeyDescriptor") {
		keys++
		checkKeyDescriptor(p, kd, keys, info)
	}
	if len(info.SigningCerts) == 0 {
		p.add(`there is no signing certificate (a KeyDescriptor with use="signing" or without use)`)
	}
	if len(info.EncryptionCerts) == 0 {
		p.add(`there is no encryption certificate (a KeyDescriptor with use="encryption" or without use)`)
	}
	checkSLO(p, children(sso, saml.NSMetadata, "SingleLogoutService"), info, allowInsecure)
	checkACS(p, children(sso, saml.NSMetadata, "AssertionConsumerService"), info, allowInsecure)
}

// attrOK is attr that also tells an absent attribute from an empty one.
func attrOK(el *etree.Element, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

func checkKeyDescriptor(p *problems, kd *etree.Element, n int, info *SPInfo) {
	what := fmt.Sprintf("KeyDescriptor #%d", n)
	checkAttrs(p, kd, what, false, "use")
	use := attr(kd, "use")
	signing, encryption := use == "" || use == "signing", use == "" || use == "encryption"
	if !signing && !encryption {
		p.add(`%s has use=%q; expected "signing", "encryption" or no use`, what, use)
		return
	}
	infos := children(kd, saml.NSDSig, "KeyInfo")
	if len(infos) != 1 {
		p.add("%s has %d ds:KeyInfo elements; expected one", what, len(infos))
	}
	found := 0
	for _, ki := range infos {
		for _, xd := range children(ki, saml.NSDSig, "X509Data") {
			for _, xc := range children(xd, saml.NSDSig, "X509Certificate") {
				found++
				cert, err := parseCert(xc)
				if err != nil {
					p.add("%s: %v", what, err)
					continue
				}
				if msg := weakKey(cert); msg != "" {
					p.add("%s: the certificate %q %s", what, cert.Subject.String(), msg)
					continue
				}
				if signing {
					info.SigningCerts = appendCert(info.SigningCerts, cert)
				}
				if encryption {
					info.EncryptionCerts = appendCert(info.EncryptionCerts, cert)
				}
			}
		}
	}
	if found == 0 && len(infos) > 0 {
		p.add("%s holds no certificate (ds:KeyInfo/ds:X509Data/ds:X509Certificate)", what)
	}
}

// weakKey says why cert's key is not acceptable, or "".
func weakKey(cert *x509.Certificate) string {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Sprintf("has a key of type %s; an RSA key is required", cert.PublicKeyAlgorithm)
	}
	if bits := pub.N.BitLen(); bits < minRSABits {
		return fmt.Sprintf("has a %d-bit RSA key; at least %d bits are required", bits, minRSABits)
	}
	return ""
}

func checkSLO(p *problems, slos []*etree.Element, info *SPInfo, allowInsecure bool) {
	switch len(slos) {
	case 0:
		p.add("there is no SingleLogoutService; one with the HTTP-Redirect binding, a Location and a ResponseLocation is required")
		return
	case 1:
	default:
		p.add("there are %d SingleLogoutServices; expected one, with the HTTP-Redirect binding", len(slos))
		return
	}
	slo := slos[0]
	if _, ok := attrOK(slo, "index"); ok {
		p.add("the SingleLogoutService has an index attribute, which it must not have")
	}
	checkAttrs(p, slo, "the SingleLogoutService", true, "Binding", "Location", "ResponseLocation", "index")
	if b := attr(slo, "Binding"); b != saml.BindingHTTPRedirect {
		p.add("the SingleLogoutService has the binding %q; it must be HTTP-Redirect (%s)", b, saml.BindingHTTPRedirect)
	}
	info.SLOLocation = endpointURL(p, slo, "the SingleLogoutService", "Location", allowInsecure)
	info.SLOResponseLocation = endpointURL(p, slo, "the SingleLogoutService", "ResponseLocation", allowInsecure)
}

// endpointURL returns the endpoint's URL attribute name when it is acceptable, and "" after
// reporting why it is not.
func endpointURL(p *problems, el *etree.Element, what, name string, allowInsecure bool) string {
	v := attr(el, name)
	if v == "" {
		p.add("%s has no %s", what, name)
		return ""
	}
	if msg := checkEndpointURL(v, allowInsecure); msg != "" {
		p.add("%s %s %q %s", what, name, v, msg)
		return ""
	}
	return v
}

func checkACS(p *problems, all []*etree.Element, info *SPInfo, allowInsecure bool) {
	type acs struct {
		el  *etree.Element
		url string // "" when the Location was refused
	}
	var artifact, post []acs
	indexes := map[uint64]int{}
	for n, el := range all {
		what := fmt.Sprintf("AssertionConsumerService #%d", n+1)
		if loc := attr(el, "Location"); loc != "" {
			what = fmt.Sprintf("the AssertionConsumerService at %q", loc)
		}
		checkAttrs(p, el, what, true, "Binding", "Location", "ResponseLocation", "index", "isDefault")
		if _, ok := attrOK(el, "ResponseLocation"); ok {
			p.add("%s has a ResponseLocation, which an AssertionConsumerService does not use", what)
		}
		a := acs{el: el, url: endpointURL(p, el, "the AssertionConsumerService", "Location", allowInsecure)}
		switch b := attr(el, "Binding"); b {
		case saml.BindingHTTPArtifact:
			artifact = append(artifact, a)
		case saml.BindingHTTPPost:
			post = append(post, a)
		case "":
			p.add("%s has no Binding", what)
		default:
			p.add("%s has the binding %q; only HTTP-Artifact and, besides it, HTTP-POST are accepted", what, b)
		}
		idx, err := strconv.ParseUint(attr(el, "index"), 10, 16)
		if err != nil {
			p.add("%s has no valid index (a number from 0 to 65535)", what)
		} else {
			indexes[idx]++
			if indexes[idx] == 2 {
				p.add("index %d is used by more than one AssertionConsumerService", idx)
			}
		}
		if v, ok := attrOK(el, "isDefault"); ok {
			if _, valid := parseBool(v); !valid {
				p.add(`%s has isDefault=%q; it must be "true" or "false"`, what, v)
			}
		}
	}
	switch len(artifact) {
	case 0:
		p.add("there is no AssertionConsumerService with the HTTP-Artifact binding (%s)", saml.BindingHTTPArtifact)
	case 1:
		a := artifact[0]
		if v := attr(a.el, "index"); v != "1" {
			p.add(`the HTTP-Artifact AssertionConsumerService has index=%q; it must be "1"`, v)
		}
		if attr(a.el, "isDefault") != "true" {
			p.add(`the HTTP-Artifact AssertionConsumerService must have isDefault="true"`)
		}
		info.ArtifactACS = a.url
	default:
		p.add("there are %d AssertionConsumerServices with the HTTP-Artifact binding; expected one", len(artifact))
	}
	switch len(post) {
	case 0:
	case 1:
		if v, _ := parseBool(attr(post[0].el, "isDefault")); v {
			p.add("the HTTP-POST AssertionConsumerService must not be the default; the HTTP-Artifact one is")
		}
		info.PostACS = post[0].url
	default:
		p.add("there are %d AssertionConsumerServices with the HTTP-POST binding; at most one is allowed", len(post))
	}
}

// checkLifetime reads validUntil and cacheDuration of el; the earliest validUntil counts.
func checkLifetime(p *problems, el *etree.Element, info *SPInfo, now time.Time) {
	if v, ok := attrOK(el, "validUntil"); ok {
		t, err := parseDateTime(v)
		switch {
		case err != nil:
			p.add("the %s's validUntil %q is not a date and time (like 2026-01-01T00:00:00Z)", el.Tag, v)
		case !now.Before(t):
			p.add("the %s expired at %s (validUntil); make a current copy of the metadata", el.Tag, t.UTC().Format(time.RFC3339))
		case info.ValidUntil.IsZero() || t.Before(info.ValidUntil):
			info.ValidUntil = t
		}
	}
	if v, ok := attrOK(el, "cacheDuration"); ok {
		if _, err := parseDuration(v); err != nil {
			p.add("the %s's cacheDuration %q is not a usable duration (like PT6H): %v", el.Tag, v, err)
		}
	}
}
