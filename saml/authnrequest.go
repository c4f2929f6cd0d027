package saml

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/beevik/etree"
	"github.com/eidsp/eidsp/identity"
)

// AuthnRequest is what one login asks of the IdP.
type AuthnRequest struct {
	ID              string
	IssueInstant    time.Time
	Issuer          string // our entityID
	Destination     string // the IdP's SingleSignOnService URL
	ACSURL          string // where the answer must come back
	ProtocolBinding string // BindingHTTPArtifact or BindingHTTPPost
	ForceAuthn      bool
	MinLevel        int    // 0: no RequestedAuthnContext (IdP assumes level 3)
	OnBehalfOf      string // ID-porten OnBehalfOf extension, empty for none
	// Instruments are Buypass IPS InstrumentAttribute values (ips:BPSC, …), one element each,
	// in InstrumentNamespace.
	Instruments         []string
	InstrumentNamespace string
}

var onBehalfOfRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewID returns a fresh SAML ID: an NCName with 160 bits of randomness.
func NewID(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 20)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return "_" + hex.EncodeToString(b), nil
}

// Build returns the AuthnRequest XML. Extensions come right after Issuer and before
// NameIDPolicy, as the protocol schema orders them.
func (r AuthnRequest) Build() ([]byte, error) {
	var errs []error
	if r.ID == "" || r.Issuer == "" || r.Destination == "" || r.ACSURL == "" {
		errs = append(errs, errors.New("ID, Issuer, Destination and ACS URL are required"))
	}
	if r.ProtocolBinding != BindingHTTPArtifact && r.ProtocolBinding != BindingHTTPPost {
		errs = append(errs, fmt.Errorf("protocol binding %q is neither Artifact nor POST", r.ProtocolBinding))
	}
	if r.MinLevel != 0 && identity.ClassRefForLevel(r.MinLevel) == "" {
		errs = append(errs, fmt.Errorf("no authentication context for level %d", r.MinLevel))
	}
	if r.OnBehalfOf != "" && !onBehalfOfRe.MatchString(r.OnBehalfOf) {
		errs = append(errs, errors.New("OnBehalfOf may hold only A-Z a-z 0-9 - _"))
	}
	if len(r.Instruments) > 0 && r.InstrumentNamespace == "" {
		errs = append(errs, errors.New("instruments need an instrument namespace"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	req := doc.CreateElement("samlp:AuthnRequest")
	req.CreateAttr("xmlns:samlp", NSProtocol)
	req.CreateAttr("xmlns:saml", NSAssertion)
	req.CreateAttr("ID", r.ID)
	req.CreateAttr("Version", "2.0")
	req.CreateAttr("IssueInstant", FormatTime(r.IssueInstant))
	req.CreateAttr("Destination", r.Destination)
	req.CreateAttr("AssertionConsumerServiceURL", r.ACSURL)
	req.CreateAttr("ProtocolBinding", r.ProtocolBinding)
	if r.ForceAuthn {
		req.CreateAttr("ForceAuthn", "true")
	}
	req.CreateElement("saml:Issuer").SetText(r.Issuer)
	if r.OnBehalfOf != "" || len(r.Instruments) > 0 {
		ext := req.CreateElement("samlp:Extensions")
		if r.OnBehalfOf != "" {
			obo := ext.CreateElement("idpe:OnBehalfOf")
			obo.CreateAttr("xmlns:idpe", NSIDPortenExtensions)
			obo.SetText(r.OnBehalfOf)
		}
		for _, in := range r.Instruments {
			ia := ext.CreateElement("ips:InstrumentAttribute")
			ia.CreateAttr("xmlns:ips", r.InstrumentNamespace)
			ia.CreateAttr("name", in)
		}
	}
	pol := req.CreateElement("samlp:NameIDPolicy")
	pol.CreateAttr("Format", NameIDFormatTransient)
	pol.CreateAttr("AllowCreate", "true")
	if r.MinLevel != 0 {
		rac := req.CreateElement("samlp:RequestedAuthnContext")
		rac.CreateAttr("Comparison", "minimum")
		rac.CreateElement("saml:AuthnContextClassRef").SetText(identity.ClassRefForLevel(r.MinLevel))
	}
	return Marshal(doc.Root()), nil
}

// FormatTime writes an xs:dateTime in UTC as SAML requires.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// parseTime reads an xs:dateTime; SAML requires UTC, so a zone other than Z is refused.
func parseTime(s string) (time.Time, error) {
	if len(s) == 0 || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("time %q is not UTC", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}
