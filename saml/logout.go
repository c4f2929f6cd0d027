package saml

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// LogoutRequest is a single-logout request (SAML core §3.7.1), sent or received over the
// HTTP-Redirect binding with a query signature.
type LogoutRequest struct {
	ID             string
	IssueInstant   time.Time
	Issuer         string
	Destination    string
	NameID         string
	NameIDFormat   string
	SessionIndexes []string
	NotOnOrAfter   time.Time // zero: none
}

// LogoutResponse answers a LogoutRequest.
type LogoutResponse struct {
	ID           string
	IssueInstant time.Time
	Issuer       string
	Destination  string
	InResponseTo string
	Status       []string // top-level then second-level code URIs; empty means Success
}

// Build returns the LogoutRequest XML.
func (r LogoutRequest) Build() ([]byte, error) {
	if r.ID == "" || r.Issuer == "" || r.Destination == "" || r.NameID == "" {
		return nil, fmt.Errorf("LogoutRequest needs ID, Issuer, Destination and NameID")
	}
	doc := etree.NewDocument()
	el := doc.CreateElement("samlp:LogoutRequest")
	el.CreateAttr("xmlns:samlp", NSProtocol)
	el.CreateAttr("xmlns:saml", NSAssertion)
	el.CreateAttr("ID", r.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", FormatTime(r.IssueInstant))
	el.CreateAttr("Destination", r.Destination)
	if !r.NotOnOrAfter.IsZero() {
		el.CreateAttr("NotOnOrAfter", FormatTime(r.NotOnOrAfter))
	}
	el.CreateElement("saml:Issuer").SetText(r.Issuer)
	nid := el.CreateElement("saml:NameID")
	if r.NameIDFormat != "" {
		nid.CreateAttr("Format", r.NameIDFormat)
	}
	nid.SetText(r.NameID)
	for _, si := range r.SessionIndexes {
		el.CreateElement("samlp:SessionIndex").SetText(si)
	}
	return Marshal(doc.Root()), nil
}

// Build returns the LogoutResponse XML.
func (r LogoutResponse) Build() ([]byte, error) {
	if r.ID == "" || r.Issuer == "" || r.Destination == "" {
		return nil, fmt.Errorf("LogoutResponse needs ID, Issuer and Destination")
	}
	doc := etree.NewDocument()
	el := doc.CreateElement("samlp:LogoutResponse")
	el.CreateAttr("xmlns:samlp", NSProtocol)
	el.CreateAttr("xmlns:saml", NSAssertion)
	el.CreateAttr("ID", r.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", FormatTime(r.IssueInstant))
	el.CreateAttr("Destination", r.Destination)
	if r.InResponseTo != "" {
		el.CreateAttr("InResponseTo", r.InResponseTo)
	}
	el.CreateElement("saml:Issuer").SetText(r.Issuer)
	codes := r.Status
	if len(codes) == 0 {
		codes = []string{StatusSuccess}
	}
	parent := el.CreateElement("samlp:Status")
	for _, c := range codes {
		parent = parent.CreateElement("samlp:StatusCode")
		parent.CreateAttr("Value", c)
	}
	return Marshal(doc.Root()), nil
}

// Success reports whether the response's top-level status is Success.
func (r *LogoutResponse) Success() bool { return len(r.Status) > 0 && r.Status[0] == StatusSuccess }

// LogoutCheck is what a received logout message must satisfy besides its query signature.
type LogoutCheck struct {
	Issuer      string // the IdP's (or, at the dev IdP, the SP's) entityID
	Destination string // our SingleLogoutService URL
	Now         time.Time
	Skew        time.Duration
	MaxAge      time.Duration
	Limits      Limits
}

// ParseLogoutRequest reads and checks the XML of a Redirect-binding LogoutRequest whose query
// signature the caller has verified (RedirectMessage.Verify). The signature covers the whole
// deflated message, so every part read here is signed; anything beyond the profile's shape (an
// embedded Assertion, a Signature, Extensions we do not know) is refused rather than ignored.
func ParseLogoutRequest(data []byte, chk LogoutCheck) (r *LogoutRequest, err error) {
	defer guard(&err)
	el, err := logoutRoot(data, "LogoutRequest", chk)
	if err != nil {
		return nil, err
	}
	r = &LogoutRequest{ID: attrValue(el, "ID", ""), Destination: attrValue(el, "Destination", "")}
	if r.IssueInstant, err = parseTime(attrValue(el, "IssueInstant", "")); err != nil {
		return nil, reject(ReasonMalformed, "IssueInstant: %v", err)
	}
	if noa := attrValue(el, "NotOnOrAfter", ""); noa != "" {
		if r.NotOnOrAfter, err = parseTime(noa); err != nil {
			return nil, reject(ReasonMalformed, "NotOnOrAfter: %v", err)
		}
		if !chk.Now.Before(r.NotOnOrAfter.Add(chk.Skew)) {
			return nil, reject(ReasonTime, "LogoutRequest expired")
		}
	}
	r.Issuer = chk.Issuer
	for c := range el.ChildElementsSeq() {
		switch ns := c.NamespaceURI(); {
		case ns == NSAssertion && c.Tag == "Issuer":
		case ns == NSAssertion && c.Tag == "NameID":
			if r.NameID != "" {
				return nil, reject(ReasonMalformed, "more than one NameID")
			}
			if r.NameID, err = leafText(c); err != nil {
				return nil, err
			}
			r.NameIDFormat = attrValue(c, "Format", "")
		case ns == NSProtocol && c.Tag == "SessionIndex":
			si, err := leafText(c)
			if err != nil {
				return nil, err
			}
			r.SessionIndexes = append(r.SessionIndexes, strings.TrimSpace(si))
		default:
			return nil, reject(ReasonMalformed, "element %s not accepted in LogoutRequest", c.Tag)
		}
	}
	if strings.TrimSpace(r.NameID) == "" {
		return nil, reject(ReasonMalformed, "LogoutRequest without NameID")
	}
	return r, nil
}

// ParseLogoutResponse reads and checks a Redirect-binding LogoutResponse whose query signature
// the caller has verified. The caller compares InResponseTo with the request it sent.
func ParseLogoutResponse(data []byte, chk LogoutCheck) (r *LogoutResponse, err error) {
	defer guard(&err)
	el, err := logoutRoot(data, "LogoutResponse", chk)
	if err != nil {
		return nil, err
	}
	r = &LogoutResponse{ID: attrValue(el, "ID", ""), Issuer: chk.Issuer, Destination: attrValue(el, "Destination", ""),
		InResponseTo: attrValue(el, "InResponseTo", "")}
	if r.IssueInstant, err = parseTime(attrValue(el, "IssueInstant", "")); err != nil {
		return nil, reject(ReasonMalformed, "IssueInstant: %v", err)
	}
	for c := range el.ChildElementsSeq() {
		switch ns := c.NamespaceURI(); {
		case ns == NSAssertion && c.Tag == "Issuer", ns == NSProtocol && c.Tag == "Status":
		default:
			return nil, reject(ReasonMalformed, "element %s not accepted in LogoutResponse", c.Tag)
		}
	}
	if r.Status, err = statusCodes(el); err != nil {
		return nil, err
	}
	return r, nil
}

// logoutRoot parses a logout message and checks what both kinds share: the root element,
// version, ID, age, issuer and destination.
func logoutRoot(data []byte, tag string, chk LogoutCheck) (*etree.Element, error) {
	doc, err := ParseUntrusted(data, chk.Limits)
	if err != nil {
		return nil, err
	}
	el := doc.Root()
	if el.Tag != tag || el.NamespaceURI() != NSProtocol {
		return nil, reject(ReasonMalformed, "%s is not a %s", el.Tag, tag)
	}
	if err := uniqueIDs(el); err != nil {
		return nil, err
	}
	if attrValue(el, "Version", "") != "2.0" || attrValue(el, "ID", "") == "" {
		return nil, reject(ReasonMalformed, "%s without Version 2.0 and ID", tag)
	}
	v := Verifier{Skew: chk.Skew, MaxAge: chk.MaxAge}
	if err := v.checkIssueInstant(el, chk.Now); err != nil {
		return nil, err
	}
	iss, err := only(el, NSAssertion, "Issuer")
	if err != nil {
		return nil, reject(ReasonIssuer, "%v", err)
	}
	if err := checkIssuer(iss, chk.Issuer); err != nil {
		return nil, err
	}
	if d := attrValue(el, "Destination", ""); d != chk.Destination {
		return nil, reject(ReasonDestination, "Destination %q is not our logout endpoint", d)
	}
	return el, nil
}

// PeekIssuer reads the Issuer of an unverified message so that the receiver can pick the
// certificates to verify it with. Nothing else of the message may be trusted before that.
func PeekIssuer(data []byte, lim Limits) (string, error) {
	doc, err := ParseUntrusted(data, lim)
	if err != nil {
		return "", err
	}
	iss := children(doc.Root(), NSAssertion, "Issuer")
	if len(iss) != 1 {
		return "", reject(ReasonIssuer, "message has %d Issuers", len(iss))
	}
	return strings.TrimSpace(text(iss[0])), nil
}

// MatchesSession reports whether the request names a session with this NameID and session
// index: no SessionIndex in the request means every session of the NameID.
func (r *LogoutRequest) MatchesSession(nameID, sessionIndex string) bool {
	return r.NameID == nameID && (len(r.SessionIndexes) == 0 || slices.Contains(r.SessionIndexes, sessionIndex))
}
