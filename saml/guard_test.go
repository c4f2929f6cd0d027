package saml

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestGuardTurnsPanicIntoRejection: a library panic on hostile input becomes a rejection with
// its own reason class, and the caller goes on.
func TestGuardTurnsPanicIntoRejection(t *testing.T) {
	f := func() (err error) {
		defer guard(&err)
		var m map[string]int
		m["x"]++ // a nil-map write panics
		return nil
	}
	err := f()
	if ReasonOf(err) != ReasonPanic {
		t.Fatalf("want reason panic, got %v", err)
	}
}

// wideSignedAssertion is a signed assertion with n extra elements: past 1000 elements with a
// Signature crewjam + goxmldsig 1.6.1 crash without a guard (spec/PROFILE.md §10).
func wideSignedAssertion(t *testing.T, n int) *etree.Element {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<saml:Assertion xmlns:saml="` + NSAssertion + `" ID="_wide" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>x</saml:Issuer><saml:AttributeStatement>`)
	for i := range n {
		fmt.Fprintf(&b, `<saml:Attribute Name="a%d"><saml:AttributeValue>v</saml:AttributeValue></saml:Attribute>`, i)
	}
	b.WriteString(`</saml:AttributeStatement></saml:Assertion>`)
	doc := etree.NewDocument()
	if err := doc.ReadFromString(b.String()); err != nil {
		t.Fatal(err)
	}
	k := newTestKey(t, "wide-idp")
	signed, err := k.signer(AlgRSASHA256).SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// TestLargeSignedTreeRefusedOrSurvived: the element limit refuses a 1200-element signed document
// before any signature code runs; with the limit lifted, verification of the same document
// neither crashes the process nor panics out of verifyEnveloped.
func TestLargeSignedTreeRefusedOrSurvived(t *testing.T) {
	el := wideSignedAssertion(t, 600) // 1200+ elements
	doc := etree.NewDocument()
	doc.SetRoot(el)
	data, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseUntrusted(data, DefaultLimits()); ReasonOf(err) != ReasonTooLarge {
		t.Fatalf("default limits: want too_large, got %v", err)
	}
	parsed, err := ParseUntrusted(data, Limits{MaxBytes: 1 << 20, MaxElements: 100000, MaxDepth: 32})
	if err != nil {
		t.Fatal(err)
	}
	k := newTestKey(t, "wide-idp")
	v, err := verifyEnveloped(parsed.Root(), []*x509.Certificate{k.Cert}, DefaultAlgorithms())
	if err != nil && ReasonOf(err) == "" {
		t.Fatalf("untyped error %v", err)
	}
	t.Logf("1200-element signed assertion without the element limit: verified=%v err=%v", v != nil, err)
}
