package devidp

import (
	"crypto/rsa"
	"fmt"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/saml/xenc"
)

// outcome is the answer to one AuthnRequest: a login, or an error status.
type outcome struct {
	req    *authnRequest
	status []string // top-level then second-level status code; nil for Success
	login  *loginResult
}

// loginResult is a snapshot of the SSO session for one answer.
type loginResult struct {
	person       Person
	method       method
	sessionIndex string
	authnInstant time.Time
	nameID       string
}

const (
	attrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	confirmationBearer  = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// response builds the samlp:Response for o, answering inResponseTo. A successful login carries
// one signed Assertion, encrypted for the SP; the Response itself is left unsigned (the caller
// signs it on the POST binding; on the artifact binding the ArtifactResponse signature covers it).
func (i *IdP) response(o *outcome, inResponseTo string) (*etree.Element, error) {
	now := i.now()
	id, err := saml.NewID(i.cfg.Rand)
	if err != nil {
		return nil, err
	}
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", saml.NSProtocol)
	resp.CreateAttr("xmlns:saml", saml.NSAssertion)
	resp.CreateAttr("ID", id)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", saml.FormatTime(now))
	resp.CreateAttr("Destination", o.req.acs.Location)
	resp.CreateAttr("InResponseTo", inResponseTo)
	resp.CreateElement("saml:Issuer").SetText(i.cfg.EntityID)
	status := o.status
	if status == nil {
		status = []string{saml.StatusSuccess}
	}
	addStatus(resp, status)
	if o.login == nil {
		return resp, nil
	}
	a, err := i.assertion(o, inResponseTo, now)
	if err != nil {
		return nil, err
	}
	signed, err := i.cfg.Signer.SignEnveloped(a)
	if err != nil {
		return nil, fmt.Errorf("devidp: signing the assertion: %w", err)
	}
	ed, err := xenc.Encrypt(signed, o.req.sp.encryptCert.PublicKey.(*rsa.PublicKey), i.cfg.BlockAlg, i.cfg.KeyTransportAlg, i.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("devidp: encrypting the assertion: %w", err)
	}
	resp.CreateElement("saml:EncryptedAssertion").AddChild(ed)
	return resp, nil
}

// addStatus appends samlp:Status with the codes nested top-level first.
func addStatus(parent *etree.Element, codes []string) {
	el := parent.CreateElement("samlp:Status")
	for _, c := range codes {
		el = el.CreateElement("samlp:StatusCode")
		el.CreateAttr("Value", c)
	}
}

// assertion builds the Assertion in ID-porten's shape (spec/PROFILE.md §4). It declares the saml
// namespace itself so that it stands alone once decrypted.
func (i *IdP) assertion(o *outcome, inResponseTo string, now time.Time) (*etree.Element, error) {
	id, err := saml.NewID(i.cfg.Rand)
	if err != nil {
		return nil, err
	}
	l, sp := o.login, o.req.sp
	until := saml.FormatTime(now.Add(assertionLifetime))

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", saml.NSAssertion)
	a.CreateAttr("ID", id)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", saml.FormatTime(now))
	a.CreateElement("saml:Issuer").SetText(i.cfg.EntityID)

	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", saml.NameIDFormatTransient)
	nid.CreateAttr("NameQualifier", i.cfg.EntityID)
	nid.CreateAttr("SPNameQualifier", sp.entityID)
	nid.SetText(l.nameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", confirmationBearer)
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	scd.CreateAttr("InResponseTo", inResponseTo)
	scd.CreateAttr("NotOnOrAfter", until)
	scd.CreateAttr("Recipient", o.req.acs.Location)

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", saml.FormatTime(now))
	cond.CreateAttr("NotOnOrAfter", until)
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(sp.entityID)

	st := a.CreateElement("saml:AuthnStatement")
	st.CreateAttr("AuthnInstant", saml.FormatTime(l.authnInstant))
	st.CreateAttr("SessionIndex", l.sessionIndex)
	st.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").
		SetText(identity.ClassRefForLevel(l.method.Level))

	as := a.CreateElement("saml:AttributeStatement")
	attr := func(name, value string) {
		at := as.CreateElement("saml:Attribute")
		at.CreateAttr("Name", name)
		at.CreateAttr("NameFormat", attrNameFormatBasic)
		at.CreateElement("saml:AttributeValue").SetText(value)
	}
	attr("uid", l.person.NationalID)
	attr("SecurityLevel", strconv.Itoa(l.method.Level))
	attr("AuthMethod", l.method.AuthMethod)
	attr("Culture", o.req.locale)
	if o.req.onBehalfOf != "" {
		attr("OnBehalfOf", o.req.onBehalfOf)
	}
	if l.method.Instrument != "" {
		attr(i.cfg.InstrumentAttribute, l.method.Instrument)
	}
	return a, nil
}
