package saml

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml/xenc"
)

// The fuzz targets below cover every entry point of this package that reads bytes from outside:
// the POST-binding Response, the SOAP ArtifactResponse, the Redirect query, the artifact and the
// AuthnRequest. Each is seeded with a valid message (so the fuzzer starts inside the verifier,
// not at the XML parser) and must never panic; anything accepted must carry an identity.

const (
	fzIdP    = "https://idp.example.no/idp"
	fzSP     = "https://sp.example.no/saml/metadata"
	fzACS    = "https://sp.example.no/saml/acs"
	fzReqID  = "_req0123456789"
	fzARID   = "_ar0123456789"
	fzPerson = "20914695016" // synthetic test person, spec/PROFILE.md §8
)

var fzNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// buildResponse plays the IdP: a signed Assertion, encrypted for sp, in a Response; signed
// Response when signResponse. It is the positive control the verifier must accept.
func buildResponse(t testing.TB, idp *testKey, sp *rsa.PublicKey, inResponseTo string, signResponse bool) *etree.Element {
	t.Helper()
	ts := FormatTime(fzNow)
	later := FormatTime(fzNow.Add(5 * time.Minute))
	a := fmt.Sprintf(`<saml:Assertion xmlns:saml="%s" ID="_as1" Version="2.0" IssueInstant="%s">`+
		`<saml:Issuer>%s</saml:Issuer>`+
		`<saml:Subject><saml:NameID Format="%s">transient-1</saml:NameID>`+
		`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">`+
		`<saml:SubjectConfirmationData Recipient="%s" NotOnOrAfter="%s" InResponseTo="%s"/></saml:SubjectConfirmation></saml:Subject>`+
		`<saml:Conditions NotBefore="%s" NotOnOrAfter="%s"><saml:AudienceRestriction><saml:Audience>%s</saml:Audience></saml:AudienceRestriction></saml:Conditions>`+
		`<saml:AuthnStatement AuthnInstant="%s" SessionIndex="_si1"><saml:AuthnContext><saml:AuthnContextClassRef>%s</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`+
		`<saml:AttributeStatement>`+
		`<saml:Attribute Name="uid"><saml:AttributeValue>%s</saml:AttributeValue></saml:Attribute>`+
		`<saml:Attribute Name="SecurityLevel"><saml:AttributeValue>4</saml:AttributeValue></saml:Attribute>`+
		`<saml:Attribute Name="AuthMethod"><saml:AttributeValue>Buypass</saml:AttributeValue></saml:Attribute>`+
		`<saml:Attribute Name="Instrument"><saml:AttributeValue>ips:CC2PKI</saml:AttributeValue></saml:Attribute>`+
		`</saml:AttributeStatement></saml:Assertion>`,
		NSAssertion, ts, fzIdP, NameIDFormatTransient, fzACS, later, inResponseTo, ts, later, fzSP, ts,
		identity.ClassRefForLevel(4), fzPerson)
	doc := etree.NewDocument()
	if err := doc.ReadFromString(a); err != nil {
		t.Fatal(err)
	}
	signed, err := idp.signer(AlgRSASHA256).SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	ed, err := xenc.Encrypt(signed, sp, xenc.AES256GCM, xenc.RSAOAEPMGF1P, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", NSProtocol)
	resp.CreateAttr("xmlns:saml", NSAssertion)
	resp.CreateAttr("ID", "_resp1")
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", ts)
	resp.CreateAttr("Destination", fzACS)
	resp.CreateAttr("InResponseTo", inResponseTo)
	resp.CreateElement("saml:Issuer").SetText(fzIdP)
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", StatusSuccess)
	resp.CreateElement("saml:EncryptedAssertion").AddChild(ed)
	if signResponse {
		if resp, err = idp.signer(AlgRSASHA256).SignEnveloped(resp); err != nil {
			t.Fatal(err)
		}
	}
	return resp
}

func serialize(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildArtifactResponse wraps a Response in a signed ArtifactResponse in a SOAP envelope.
func buildArtifactResponse(t testing.TB, idp *testKey, sp *rsa.PublicKey) []byte {
	t.Helper()
	ar := etree.NewElement("samlp:ArtifactResponse")
	ar.CreateAttr("xmlns:samlp", NSProtocol)
	ar.CreateAttr("xmlns:saml", NSAssertion)
	ar.CreateAttr("ID", "_artresp1")
	ar.CreateAttr("Version", "2.0")
	ar.CreateAttr("IssueInstant", FormatTime(fzNow))
	ar.CreateAttr("InResponseTo", fzARID)
	ar.CreateElement("saml:Issuer").SetText(fzIdP)
	ar.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", StatusSuccess)
	ar.AddChild(buildResponse(t, idp, sp, fzReqID, false))
	signed, err := idp.signer(AlgRSASHA256).SignEnveloped(ar)
	if err != nil {
		t.Fatal(err)
	}
	env, err := SOAPEnvelope(signed)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type fuzzFixture struct {
	v   Verifier
	exp Expected
	idp *testKey
	sp  *testKey
}

func newFuzzFixture(t testing.TB) fuzzFixture {
	idp, sp := newTestKey(t, "fuzz-idp"), newTestKey(t, "fuzz-sp")
	return fuzzFixture{
		v: Verifier{EntityID: fzSP, DecryptionKeys: []*rsa.PrivateKey{sp.Key}, Skew: 3 * time.Minute,
			MaxAge: time.Minute, Limits: DefaultLimits()},
		exp: Expected{
			IdP: &IdP{Name: "ips", Descriptor: &IdPDescriptor{EntityID: fzIdP, SigningCerts: []*x509.Certificate{idp.Cert}},
				Algorithms: DefaultAlgorithms(), InResponseTo: InResponseToAuthnRequest,
				RequireEncryptedAssertion: true, AttributeMap: identity.PresetIPS(), AllowSynthetic: true},
			AuthnRequestID: fzReqID, ArtifactResolveID: fzARID, ACSURL: fzACS, Now: fzNow,
		},
		idp: idp, sp: sp,
	}
}

// TestBuiltResponsesAccepted is the positive control of the fuzz seeds: the unmodified messages
// are accepted on both bindings, so a fuzzer (or a test) cannot pass by rejecting everything.
func TestBuiltResponsesAccepted(t *testing.T) {
	f := newFuzzFixture(t)
	for _, signResp := range []bool{false, true} {
		res, err := f.v.VerifyPOSTResponse(serialize(t, buildResponse(t, f.idp, &f.sp.Key.PublicKey, fzReqID, signResp)), f.exp)
		if err != nil {
			t.Fatalf("POST (signed response %v): %v", signResp, err)
		}
		if res.Identity.NationalID != fzPerson || res.Identity.Instrument != identity.InstrumentMobileApp || res.Identity.Level != 4 {
			t.Fatalf("identity %+v", res.Identity)
		}
	}
	res, err := f.v.VerifyArtifactResponse(buildArtifactResponse(t, f.idp, &f.sp.Key.PublicKey), f.exp)
	if err != nil {
		t.Fatalf("artifact: %v", err)
	}
	if res.AssertionID != "_as1" || !res.ReplayUntil.Equal(fzNow.Add(8*time.Minute)) {
		t.Fatalf("result %+v", res)
	}
	// The same ArtifactResponse answering another ArtifactResolve is refused.
	exp := f.exp
	exp.ArtifactResolveID = "_other"
	if _, err := f.v.VerifyArtifactResponse(buildArtifactResponse(t, f.idp, &f.sp.Key.PublicKey), exp); ReasonOf(err) != ReasonInResponseTo {
		t.Fatalf("want in_response_to, got %v", err)
	}
}

func FuzzVerifyPOSTResponse(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(serialize(f, buildResponse(f, fx.idp, &fx.sp.Key.PublicKey, fzReqID, false)))
	f.Add(serialize(f, buildResponse(f, fx.idp, &fx.sp.Key.PublicKey, fzReqID, true)))
	f.Add([]byte(`<samlp:Response xmlns:samlp="` + NSProtocol + `"/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := fx.v.VerifyPOSTResponse(data, fx.exp)
		if err == nil && (res == nil || res.Identity.NationalID == "") {
			t.Fatal("accepted without an identity")
		}
		if err != nil && ReasonOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzVerifyArtifactResponse(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(buildArtifactResponse(f, fx.idp, &fx.sp.Key.PublicKey))
	f.Add([]byte(`<soapenv:Envelope xmlns:soapenv="` + NSSOAP11 + `"><soapenv:Body><soapenv:Fault><faultstring>x</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := fx.v.VerifyArtifactResponse(data, fx.exp)
		if err == nil && (res == nil || res.Identity.NationalID == "") {
			t.Fatal("accepted without an identity")
		}
		if err != nil && ReasonOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzParseRedirect(f *testing.F) {
	k := newTestKey(f, "fuzz-sp")
	u, err := k.signer(AlgRSASHA256).RedirectURL("https://idp.example.no/sso?x=1", ParamSAMLRequest, []byte("<a/>"), "relay state", [][2]string{{"locale", "nn"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(u[len("https://idp.example.no/sso?"):])
	f.Add("SAMLRequest=%%&RelayState=a&RelayState=b")
	f.Add("SAMLResponse=AAAA&Signature=!!")
	f.Fuzz(func(t *testing.T, q string) {
		m, err := ParseRedirect(q, 64<<10)
		if err != nil {
			return
		}
		if len(m.XML) > 64<<10 {
			t.Fatal("inflated past the cap")
		}
		_ = m.Verify([]*x509.Certificate{k.Cert}, DefaultAlgorithms())
	})
}

func FuzzParseArtifact(f *testing.F) {
	a := Artifact{EndpointIndex: 1, SourceID: SourceID(fzIdP)}
	f.Add(a.String())
	f.Add("AAQAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseArtifact(s)
		if err != nil {
			return
		}
		// Whatever is accepted is a 44-byte type-4 artifact that re-encodes to the same fields.
		again, err := ParseArtifact(got.String())
		if err != nil || again != got {
			t.Fatalf("accepted %q but its re-encoding %q reads back as %+v, %v", s, got.String(), again, err)
		}
	})
}

func FuzzParseAuthnRequest(f *testing.F) {
	req, err := AuthnRequest{ID: "_r1", IssueInstant: fzNow, Issuer: fzSP, Destination: "https://idp.example.no/sso",
		ACSURL: fzACS, ProtocolBinding: BindingHTTPArtifact, ForceAuthn: true, MinLevel: 4, OnBehalfOf: "SO1",
		Instruments: []string{identity.InstrumentSmartCard}, InstrumentNamespace: "urn:x"}.Build()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseAuthnRequest(data, DefaultLimits())
		if err == nil && r.ID == "" {
			t.Fatal("accepted a request without ID")
		}
	})
}
