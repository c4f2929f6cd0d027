package saml

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml/xenc"
)

// Status codes (SAML core §3.2.2.2).
const (
	StatusPrefix  = "urn:oasis:names:tc:SAML:2.0:status:"
	StatusSuccess = StatusPrefix + "Success"
)

// IdP is everything the SP knows and requires of one identity provider.
type IdP struct {
	Name       string // configured name, carried into the Identity
	Descriptor *IdPDescriptor
	Algorithms Algorithms
	// InResponseTo says which of our IDs the answer may carry: the AuthnRequest ID (standard
	// SAML), the ArtifactResolve ID (what ID-porten documented), or either.
	InResponseTo InResponseToRule
	// RequireEncryptedAssertion refuses plain assertions (ID-porten always encrypts).
	RequireEncryptedAssertion bool
	AttributeMap              identity.AttributeMap
	AllowSynthetic            bool // synthetic test persons; never in production
	Encryption                xenc.Options
}

// InResponseToRule is which request IDs a Response may answer.
type InResponseToRule string

const (
	InResponseToAuthnRequest    InResponseToRule = "authn_request"
	InResponseToArtifactResolve InResponseToRule = "artifact_resolve"
	InResponseToEither          InResponseToRule = "either"
)

// Verifier holds what the SP side needs to accept an answer.
type Verifier struct {
	EntityID       string
	DecryptionKeys []*rsa.PrivateKey // current and next (rollover)
	Skew           time.Duration     // allowed clock difference
	MaxAge         time.Duration     // oldest IssueInstant accepted
	Limits         Limits
}

// Expected is what one pending login expects of its answer.
type Expected struct {
	IdP               *IdP
	AuthnRequestID    string
	ArtifactResolveID string // empty on the POST binding
	ACSURL            string // the endpoint the answer arrived at
	Now               time.Time
}

// Result is a verified login.
type Result struct {
	Identity    identity.Identity
	AssertionID string
	// ReplayUntil is how long the assertion ID must stay in the replay cache: the latest
	// NotOnOrAfter it carries, plus skew.
	ReplayUntil time.Time
	// SessionNotOnOrAfter is the IdP's cap on the session, zero when it sets none.
	SessionNotOnOrAfter time.Time
}

func (e Expected) requestIDs() []string {
	switch e.IdP.InResponseTo {
	case InResponseToArtifactResolve:
		if e.ArtifactResolveID != "" {
			return []string{e.ArtifactResolveID}
		}
		return []string{e.AuthnRequestID} // POST binding has no ArtifactResolve
	case InResponseToEither:
		if e.ArtifactResolveID != "" {
			return []string{e.AuthnRequestID, e.ArtifactResolveID}
		}
	}
	return []string{e.AuthnRequestID}
}

// VerifyArtifactResponse takes the SOAP answer to our ArtifactResolve: the ArtifactResponse must
// be signed by the IdP and answer our ArtifactResolve ID; the Response inside is then verified
// as on the POST binding.
func (v Verifier) VerifyArtifactResponse(soap []byte, exp Expected) (res *Result, err error) {
	defer guard(&err)
	el, err := soapBody(soap, v.Limits)
	if err != nil {
		return nil, err
	}
	if el.Tag != "ArtifactResponse" || el.NamespaceURI() != NSProtocol {
		return nil, reject(ReasonMalformed, "SOAP body is %s, not ArtifactResponse", el.Tag)
	}
	ar, err := verifyEnveloped(el, exp.IdP.Descriptor.SigningCerts, exp.IdP.Algorithms)
	if err != nil {
		return nil, err
	}
	if err := v.checkHeader(ar, exp, false, []string{exp.ArtifactResolveID}); err != nil {
		return nil, err
	}
	if err := checkStatus(ar); err != nil {
		return nil, err
	}
	var inner []*etree.Element
	for c := range ar.ChildElementsSeq() {
		if c.NamespaceURI() == NSProtocol && (c.Tag == "Response") {
			inner = append(inner, c)
		} else if !(c.NamespaceURI() == NSAssertion && c.Tag == "Issuer") && !(c.NamespaceURI() == NSProtocol && c.Tag == "Status") {
			return nil, reject(ReasonMalformed, "unexpected %s in ArtifactResponse", c.Tag)
		}
	}
	if len(inner) != 1 {
		return nil, reject(ReasonMalformed, "ArtifactResponse carries %d Responses, want 1", len(inner))
	}
	return v.verifyResponse(inner[0], exp)
}

// VerifyPOSTResponse takes the decoded SAMLResponse of the HTTP-POST binding.
func (v Verifier) VerifyPOSTResponse(xml []byte, exp Expected) (res *Result, err error) {
	defer guard(&err)
	doc, err := ParseUntrusted(xml, v.Limits)
	if err != nil {
		return nil, err
	}
	if err := uniqueIDs(doc.Root()); err != nil {
		return nil, err
	}
	root := doc.Root()
	if root.Tag != "Response" || root.NamespaceURI() != NSProtocol {
		return nil, reject(ReasonMalformed, "SAMLResponse is %s, not Response", root.Tag)
	}
	return v.verifyResponse(root, exp)
}

// verifyResponse checks a samlp:Response. Its own signature is optional (the ArtifactResponse's
// covers it on the artifact path); the assertion's is always required.
func (v Verifier) verifyResponse(resp *etree.Element, exp Expected) (*Result, error) {
	if countChildren(resp, NSDSig, "Signature") > 0 {
		verified, err := verifyEnveloped(resp, exp.IdP.Descriptor.SigningCerts, exp.IdP.Algorithms)
		if err != nil {
			return nil, err
		}
		resp = verified
		if attrValue(resp, "Destination", "") == "" {
			return nil, reject(ReasonDestination, "signed Response without Destination")
		}
	}
	if err := v.checkHeader(resp, exp, true, exp.requestIDs()); err != nil {
		return nil, err
	}
	if err := checkStatus(resp); err != nil {
		return nil, err
	}
	var found []*etree.Element
	for c := range resp.ChildElementsSeq() {
		ns := c.NamespaceURI()
		switch {
		case ns == NSAssertion && (c.Tag == "Assertion" || c.Tag == "EncryptedAssertion"):
			found = append(found, c)
		case ns == NSAssertion && c.Tag == "Issuer", ns == NSProtocol && c.Tag == "Status",
			ns == NSDSig && c.Tag == "Signature":
		default:
			return nil, reject(ReasonAssertion, "unexpected %s in Response", c.Tag)
		}
	}
	if len(found) != 1 {
		return nil, reject(ReasonAssertion, "Response carries %d assertions, want exactly 1", len(found))
	}
	if n := countDescendants(resp, NSAssertion, "Assertion") + countDescendants(resp, NSAssertion, "EncryptedAssertion"); n != 1 {
		return nil, reject(ReasonAssertion, "Response holds %d assertions in all, want exactly 1", n)
	}
	assertion := found[0]
	if assertion.Tag == "EncryptedAssertion" {
		plain, err := v.decrypt(assertion, exp.IdP)
		if err != nil {
			return nil, err
		}
		assertion = plain
	} else if exp.IdP.RequireEncryptedAssertion {
		return nil, reject(ReasonDecrypt, "assertion is not encrypted")
	}
	verified, err := verifyEnveloped(assertion, exp.IdP.Descriptor.SigningCerts, exp.IdP.Algorithms)
	if err != nil {
		return nil, err
	}
	return v.checkAssertion(verified, exp)
}

// decrypt opens an EncryptedAssertion and parses the plaintext, once, under the same limits, in
// the namespace context of the container (XML Encryption decrypts in the context of the
// EncryptedData's parent, and xmlsec1 serializes an element without the declarations it
// inherits). A plaintext that is not one well-formed element fails like a wrong key, opaque to
// the sender; a well-formed one our policy refuses is refused with its own reason.
func (v Verifier) decrypt(ea *etree.Element, idp *IdP) (*etree.Element, error) {
	inherited := inheritedNamespaces(ea)
	var root *etree.Element
	var refused error // the first well-formed plaintext our rules refuse
	err := xenc.DecryptFunc(ea, v.DecryptionKeys, idp.Encryption, func(pt []byte) error {
		doc, err := parseUntrusted(pt, v.Limits, inherited)
		if err != nil {
			// A wrong key's CBC output is random bytes, which the parser may read as almost
			// anything: every candidate that does not parse lets the search go on to the next
			// key, so that key order (rollover) never decides.
			if !isSyntax(err) && refused == nil {
				refused = err
			}
			return xenc.ErrNotElement
		}
		root = doc.Root()
		return nil
	})
	if err != nil {
		if refused != nil {
			return nil, refused
		}
		if errors.Is(err, xenc.ErrDecrypt) {
			return nil, &Error{Reason: ReasonDecrypt, Err: err}
		}
		return nil, err
	}
	if root.Tag != "Assertion" || root.NamespaceURI() != NSAssertion {
		return nil, reject(ReasonAssertion, "decrypted %s, not an Assertion", root.Tag)
	}
	if err := uniqueIDs(root); err != nil {
		return nil, err
	}
	return root, nil
}

// inheritedNamespaces are xenc.InScopeNamespaces as the parser's bindings.
func inheritedNamespaces(el *etree.Element) []nsBinding {
	var out []nsBinding
	for _, ns := range xenc.InScopeNamespaces(el) {
		out = append(out, nsBinding{ns.Prefix, ns.URI})
	}
	return out
}

// checkHeader checks what Response and ArtifactResponse share: version, ID, age, issuer,
// destination and InResponseTo.
func (v Verifier) checkHeader(el *etree.Element, exp Expected, destination bool, ids []string) error {
	if attrValue(el, "Version", "") != "2.0" {
		return reject(ReasonMalformed, "%s Version is not 2.0", el.Tag)
	}
	if attrValue(el, "ID", "") == "" {
		return reject(ReasonMalformed, "%s has no ID", el.Tag)
	}
	if err := v.checkIssueInstant(el, exp.Now); err != nil {
		return err
	}
	if iss := children(el, NSAssertion, "Issuer"); len(iss) > 1 {
		return reject(ReasonIssuer, "%s has %d Issuers", el.Tag, len(iss))
	} else if len(iss) == 1 {
		if err := checkIssuer(iss[0], exp.IdP.Descriptor.EntityID); err != nil {
			return err
		}
	}
	if destination {
		if d := attrValue(el, "Destination", ""); d != "" && d != exp.ACSURL {
			return reject(ReasonDestination, "Destination %q is not our ACS", d)
		}
	}
	irt := attrValue(el, "InResponseTo", "")
	if irt == "" || !slices.Contains(ids, irt) {
		return reject(ReasonInResponseTo, "%s InResponseTo %q does not answer this login", el.Tag, irt)
	}
	return nil
}

func (v Verifier) checkIssueInstant(el *etree.Element, now time.Time) error {
	t, err := parseTime(attrValue(el, "IssueInstant", ""))
	if err != nil {
		return reject(ReasonMalformed, "%s IssueInstant: %v", el.Tag, err)
	}
	if t.After(now.Add(v.Skew)) {
		return reject(ReasonTime, "%s issued in the future", el.Tag)
	}
	if t.Before(now.Add(-v.MaxAge - v.Skew)) {
		return reject(ReasonTime, "%s older than %s", el.Tag, v.MaxAge)
	}
	return nil
}

func checkIssuer(iss *etree.Element, want string) error {
	if f := attrValue(iss, "Format", ""); f != "" && f != "urn:oasis:names:tc:SAML:2.0:nameid-format:entity" {
		return reject(ReasonIssuer, "Issuer format %q", f)
	}
	if got := strings.TrimSpace(text(iss)); got != want {
		return reject(ReasonIssuer, "Issuer %q is not the IdP %q", got, want)
	}
	return nil
}

func checkStatus(el *etree.Element) error {
	codes, err := statusCodes(el)
	if err != nil {
		return err
	}
	if codes[0] != StatusSuccess {
		return &Error{Reason: ReasonStatus, Status: codes, Err: fmt.Errorf("IdP answered %s", strings.Join(codes, " / "))}
	}
	return nil
}

// statusCodes reads the one samlp:Status of el: the top-level code, then each nested one.
func statusCodes(el *etree.Element) ([]string, error) {
	st, err := only(el, NSProtocol, "Status")
	if err != nil {
		return nil, reject(ReasonMalformed, "%v", err)
	}
	var codes []string
	for sc := firstChild(st, NSProtocol, "StatusCode"); sc != nil; sc = firstChild(sc, NSProtocol, "StatusCode") {
		codes = append(codes, attrValue(sc, "Value", ""))
	}
	if len(codes) == 0 {
		return nil, reject(ReasonMalformed, "Status without StatusCode")
	}
	return codes, nil
}

func firstChild(el *etree.Element, ns, tag string) *etree.Element {
	for c := range el.ChildElementsSeq() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

func countDescendants(el *etree.Element, ns, tag string) int {
	n := 0
	for c := range el.ChildElementsSeq() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			n++
		}
		n += countDescendants(c, ns, tag)
	}
	return n
}

// text returns the whole character content of a leaf element: every text node, so that a
// comment or CDATA section can never split a value into a trusted prefix. Elements inside are
// refused by the callers that need plain values.
func text(el *etree.Element) string {
	var b strings.Builder
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String()
}

// leafText is text for elements that must not have element children.
func leafText(el *etree.Element) (string, error) {
	if elementCount(el) > 0 {
		return "", reject(ReasonAssertion, "%s must hold text only", el.Tag)
	}
	return text(el), nil
}

// checkAssertion runs every check of the profile on the verified Assertion and maps it.
func (v Verifier) checkAssertion(a *etree.Element, exp Expected) (*Result, error) {
	now := exp.Now
	if attrValue(a, "Version", "") != "2.0" {
		return nil, reject(ReasonAssertion, "Assertion Version is not 2.0")
	}
	id := attrValue(a, "ID", "")
	if err := v.checkIssueInstant(a, now); err != nil {
		return nil, err
	}
	iss, err := only(a, NSAssertion, "Issuer")
	if err != nil {
		return nil, reject(ReasonIssuer, "%v", err)
	}
	if err := checkIssuer(iss, exp.IdP.Descriptor.EntityID); err != nil {
		return nil, err
	}
	for c := range a.ChildElementsSeq() {
		if c.NamespaceURI() == NSAssertion {
			switch c.Tag {
			case "Advice":
				return nil, reject(ReasonAssertion, "Advice is not accepted")
			case "AuthzDecisionStatement", "Statement":
				return nil, reject(ReasonAssertion, "%s is not accepted", c.Tag)
			}
		}
	}
	res := &Result{AssertionID: id}
	in := identity.Assertion{IdP: exp.IdP.Name, Attributes: map[string][]string{}}

	// Subject: NameID and a bearer confirmation for our ACS.
	subj, err := only(a, NSAssertion, "Subject")
	if err != nil {
		return nil, reject(ReasonAssertion, "%v", err)
	}
	if countChildren(subj, NSAssertion, "EncryptedID") > 0 || countChildren(subj, NSAssertion, "BaseID") > 0 {
		return nil, reject(ReasonAssertion, "only a plain NameID is accepted as subject")
	}
	nameID, err := only(subj, NSAssertion, "NameID")
	if err != nil {
		return nil, reject(ReasonAssertion, "%v", err)
	}
	if in.NameID, err = leafText(nameID); err != nil {
		return nil, err
	}
	in.NameIDFormat = attrValue(nameID, "Format", "")
	if q := attrValue(nameID, "SPNameQualifier", ""); q != "" && q != v.EntityID {
		return nil, reject(ReasonAudience, "SPNameQualifier %q is not us", q)
	}
	latest := time.Time{}
	confirmed := false
	for _, sc := range children(subj, NSAssertion, "SubjectConfirmation") {
		if attrValue(sc, "Method", "") != "urn:oasis:names:tc:SAML:2.0:cm:bearer" {
			continue
		}
		scd := firstChild(sc, NSAssertion, "SubjectConfirmationData")
		if scd == nil {
			return nil, reject(ReasonRecipient, "bearer confirmation without SubjectConfirmationData")
		}
		if r := attrValue(scd, "Recipient", ""); r != exp.ACSURL {
			return nil, reject(ReasonRecipient, "Recipient %q is not our ACS", r)
		}
		if attrValue(scd, "NotBefore", "") != "" {
			return nil, reject(ReasonTime, "bearer SubjectConfirmationData has NotBefore")
		}
		noa, err := parseTime(attrValue(scd, "NotOnOrAfter", ""))
		if err != nil {
			return nil, reject(ReasonTime, "SubjectConfirmationData NotOnOrAfter: %v", err)
		}
		if !now.Before(noa.Add(v.Skew)) {
			return nil, reject(ReasonTime, "bearer confirmation expired")
		}
		if irt := attrValue(scd, "InResponseTo", ""); irt != "" && !slices.Contains(exp.requestIDs(), irt) {
			return nil, reject(ReasonInResponseTo, "SubjectConfirmationData InResponseTo %q does not answer this login", irt)
		}
		if noa.After(latest) {
			latest = noa
		}
		confirmed = true
	}
	if !confirmed {
		return nil, reject(ReasonRecipient, "no bearer SubjectConfirmation")
	}

	// Conditions: time window and audience.
	cond, err := only(a, NSAssertion, "Conditions")
	if err != nil {
		return nil, reject(ReasonAssertion, "%v", err)
	}
	if nb := attrValue(cond, "NotBefore", ""); nb != "" {
		t, err := parseTime(nb)
		if err != nil {
			return nil, reject(ReasonTime, "Conditions NotBefore: %v", err)
		}
		if now.Add(v.Skew).Before(t) {
			return nil, reject(ReasonTime, "assertion not yet valid")
		}
	}
	if noa := attrValue(cond, "NotOnOrAfter", ""); noa != "" {
		t, err := parseTime(noa)
		if err != nil {
			return nil, reject(ReasonTime, "Conditions NotOnOrAfter: %v", err)
		}
		if !now.Before(t.Add(v.Skew)) {
			return nil, reject(ReasonTime, "assertion expired")
		}
		if t.After(latest) {
			latest = t
		}
	}
	ars := children(cond, NSAssertion, "AudienceRestriction")
	if len(ars) == 0 {
		return nil, reject(ReasonAudience, "no AudienceRestriction")
	}
	for _, ar := range ars {
		ok := false
		for _, au := range children(ar, NSAssertion, "Audience") {
			if t, _ := leafText(au); strings.TrimSpace(t) == v.EntityID {
				ok = true
			}
		}
		if !ok {
			return nil, reject(ReasonAudience, "audience restriction does not name us")
		}
	}
	res.ReplayUntil = latest.Add(v.Skew)

	// Exactly one AuthnStatement with a SessionIndex.
	stmts := children(a, NSAssertion, "AuthnStatement")
	if len(stmts) != 1 {
		return nil, reject(ReasonAssertion, "%d AuthnStatements, want 1", len(stmts))
	}
	st := stmts[0]
	if in.SessionIndex = attrValue(st, "SessionIndex", ""); in.SessionIndex == "" {
		return nil, reject(ReasonAssertion, "AuthnStatement without SessionIndex")
	}
	if in.AuthnInstant, err = parseTime(attrValue(st, "AuthnInstant", "")); err != nil {
		return nil, reject(ReasonAssertion, "AuthnInstant: %v", err)
	}
	if s := attrValue(st, "SessionNotOnOrAfter", ""); s != "" {
		if res.SessionNotOnOrAfter, err = parseTime(s); err != nil {
			return nil, reject(ReasonAssertion, "SessionNotOnOrAfter: %v", err)
		}
	}
	if ctx := firstChild(st, NSAssertion, "AuthnContext"); ctx != nil {
		if ref := firstChild(ctx, NSAssertion, "AuthnContextClassRef"); ref != nil {
			t, err := leafText(ref)
			if err != nil {
				return nil, err
			}
			in.ClassRef = strings.TrimSpace(t)
		}
	}

	// At most one AttributeStatement, plain attributes only.
	ass := children(a, NSAssertion, "AttributeStatement")
	if len(ass) > 1 {
		return nil, reject(ReasonAssertion, "%d AttributeStatements, want at most 1", len(ass))
	}
	for _, as := range ass {
		for c := range as.ChildElementsSeq() {
			if c.Tag != "Attribute" || c.NamespaceURI() != NSAssertion {
				return nil, reject(ReasonAssertion, "%s is not accepted in AttributeStatement", c.Tag)
			}
			name := attrValue(c, "Name", "")
			if name == "" {
				return nil, reject(ReasonAssertion, "Attribute without Name")
			}
			if _, dup := in.Attributes[name]; dup {
				return nil, reject(ReasonAssertion, "attribute %q repeated", name)
			}
			vals := []string{}
			for _, av := range children(c, NSAssertion, "AttributeValue") {
				t, err := leafText(av)
				if err != nil {
					return nil, err
				}
				vals = append(vals, t)
			}
			in.Attributes[name] = vals
		}
	}
	id2, err := exp.IdP.AttributeMap.Map(in, identity.MapOptions{AllowSynthetic: exp.IdP.AllowSynthetic})
	if err != nil {
		return nil, &Error{Reason: ReasonAttributes, Err: err}
	}
	res.Identity = id2
	return res, nil
}

// IsStatus reports whether err is an IdP status answer with the given second-level code suffix
// (e.g. "NoAuthnContext").
func IsStatus(err error, code string) bool {
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonStatus {
		return false
	}
	for _, c := range e.Status {
		if c == StatusPrefix+code {
			return true
		}
	}
	return false
}
