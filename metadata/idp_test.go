package metadata

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/eidsp/eidsp/saml"
)

// testNow lies inside the validity of every fixture.
var testNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	idportenID  = "https://idporten.test.example/idporten-saml"
	buypassID   = "https://buypass.test.example/ips"
	idportenSSO = "https://idporten.test.example/opensso/SSORedirect/metaAlias/norge.no/idp3"
	idportenSLO = "https://idporten.test.example/opensso/IDPSloRedirect/metaAlias/norge.no/idp3"
	idportenARS = "https://idporten.test.example/opensso/ArtifactResolver/metaAlias/norge.no/idp3"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edit applies old→new replacements and fails when one of them does not apply, so a fixture change
// cannot silently turn a negative test into a test of nothing.
func edit(t testing.TB, data []byte, pairs ...string) []byte {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !bytes.Contains(data, []byte(pairs[i])) {
			t.Fatalf("fixture does not contain %q", pairs[i])
		}
		data = bytes.ReplaceAll(data, []byte(pairs[i]), []byte(pairs[i+1]))
	}
	return data
}

func TestParseIdP(t *testing.T) {
	idporten := fixture(t, "idp-idporten.xml")
	aggregate := fixture(t, "idp-aggregate.xml")
	idpSigning, idpNext, idpEnc := loadCert(t, "idp-signing"), loadCert(t, "idp-signing-next"), loadCert(t, "idp-encryption")
	const host = "https://idporten.test.example"

	tests := []struct {
		name   string
		data   []byte
		opt    ParseOptions
		check  func(t *testing.T, idp *saml.IdPDescriptor)
		reason saml.Reason // for failures wrapping a *saml.Error
		errs   []string    // substrings of the error
	}{
		{name: "ok/idporten", data: idporten, check: func(t *testing.T, idp *saml.IdPDescriptor) {
			want := &saml.IdPDescriptor{
				EntityID:                idportenID,
				SingleSignOn:            []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: idportenSSO}},
				SingleLogout:            []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: idportenSLO, ResponseLocation: idportenSLO}},
				ArtifactResolution:      []saml.Endpoint{{Binding: saml.BindingSOAP, Location: idportenARS, Index: 0, IsDefault: true}},
				SigningCerts:            []*x509.Certificate{idpSigning},
				EncryptionCerts:         []*x509.Certificate{idpEnc},
				WantAuthnRequestsSigned: true,
			}
			assertIdP(t, idp, want)
		}},
		{name: "ok/idporten with matching entity ID", data: idporten, opt: ParseOptions{EntityID: idportenID}},
		{name: "ok/IdP key rollover: every signing certificate is trusted", data: edit(t, idporten, `<md:KeyDescriptor use="encryption">`,
			`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>`+
				base64.StdEncoding.EncodeToString(idpNext.Raw)+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor use="encryption">`),
			check: func(t *testing.T, idp *saml.IdPDescriptor) {
				if len(idp.SigningCerts) != 2 || !idp.SigningCerts[0].Equal(idpSigning) || !idp.SigningCerts[1].Equal(idpNext) {
					t.Fatalf("signing certificates %d, want the current and the next", len(idp.SigningCerts))
				}
			}},
		{name: "ok/other prefixes", data: edit(t, idporten, "md:", "meta:", "xmlns:md", "xmlns:meta", "ds:", "sig:", "xmlns:ds", "xmlns:sig"),
			check: func(t *testing.T, idp *saml.IdPDescriptor) {
				if len(idp.SigningCerts) != 1 || len(idp.SingleSignOn) != 1 {
					t.Errorf("got %+v", idp)
				}
			}},
		{name: "ok/aggregate nested entity", data: aggregate, opt: ParseOptions{EntityID: buypassID},
			check: func(t *testing.T, idp *saml.IdPDescriptor) {
				want := &saml.IdPDescriptor{
					EntityID: buypassID,
					SingleSignOn: []saml.Endpoint{
						{Binding: saml.BindingHTTPRedirect, Location: "https://buypass.test.example/sso"},
						{Binding: saml.BindingHTTPPost, Location: "https://buypass.test.example/sso/post"},
					},
					SingleLogout:    []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: "https://buypass.test.example/slo"}},
					SigningCerts:    []*x509.Certificate{idpNext},
					EncryptionCerts: []*x509.Certificate{idpNext},
					ValidUntil:      time.Date(2040, 6, 1, 12, 0, 0, 0, time.UTC),
					CacheDuration:   6 * time.Hour,
				}
				assertIdP(t, idp, want)
			}},
		{name: "ok/aggregate first entity", data: aggregate, opt: ParseOptions{EntityID: idportenID},
			check: func(t *testing.T, idp *saml.IdPDescriptor) {
				if idp.EntityID != idportenID || !idp.ValidUntil.Equal(time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC)) || idp.CacheDuration != 24*time.Hour {
					t.Errorf("got entity %q validUntil %v cacheDuration %v", idp.EntityID, idp.ValidUntil, idp.CacheDuration)
				}
				if len(idp.EncryptionCerts) != 0 {
					t.Errorf("a use=signing key became an encryption key")
				}
			}},
		{name: "ok/validUntil and cacheDuration", data: edit(t, idporten, `ID="_idporten-test-metadata"`,
			`ID="_idporten-test-metadata" validUntil="2030-01-01T00:00:01.5" cacheDuration="P1Y2M3DT4H5M6.25S"`),
			check: func(t *testing.T, idp *saml.IdPDescriptor) {
				if want := testNow.Add(1500 * time.Millisecond); !idp.ValidUntil.Equal(want) {
					t.Errorf("ValidUntil %v, want %v", idp.ValidUntil, want)
				}
				if want := 365*day + 2*month + 3*day + 4*time.Hour + 5*time.Minute + 6250*time.Millisecond; idp.CacheDuration != want {
					t.Errorf("CacheDuration %v, want %v", idp.CacheDuration, want)
				}
			}},
		{name: "ok/http on 127.0.0.1 with AllowInsecure", data: edit(t, idporten, host, "http://127.0.0.1:8080"), opt: ParseOptions{AllowInsecure: true}},
		{name: "ok/http on localhost with AllowInsecure", data: edit(t, idporten, host, "http://localhost:8080"), opt: ParseOptions{AllowInsecure: true}},
		{name: "ok/http on ::1 with AllowInsecure", data: edit(t, idporten, host, "http://[::1]:8080"), opt: ParseOptions{AllowInsecure: true}},

		{name: "fail/no IDPSSODescriptor", data: fixture(t, "fail-no-idpsso.xml"), errs: []string{"has no IDPSSODescriptor"}},
		{name: "fail/IDPSSODescriptor in another namespace", data: edit(t, idporten, "<md:IDPSSODescriptor", `<x:IDPSSODescriptor xmlns:x="urn:example:not-metadata"`, "</md:IDPSSODescriptor>", "</x:IDPSSODescriptor>"),
			errs: []string{"has no IDPSSODescriptor"}},
		{name: "fail/no SAML 2.0 protocol", data: edit(t, idporten, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`),
			errs: []string{"does not list the SAML 2.0 protocol"}},
		{name: "fail/not metadata", data: edit(t, idporten, `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`, `xmlns:md="urn:example:other"`),
			errs: []string{"root element is {urn:example:other}EntityDescriptor"}},
		{name: "fail/http endpoint", data: edit(t, idporten, host+"/opensso/SSORedirect", "http://idporten.test.example/opensso/SSORedirect"),
			errs: []string{`SingleSignOnService Location "http://idporten.test.example/opensso/SSORedirect/metaAlias/norge.no/idp3" must use https`}},
		{name: "fail/http on 10.0.0.1 with AllowInsecure", data: edit(t, idporten, host, "http://10.0.0.1"), opt: ParseOptions{AllowInsecure: true},
			errs: []string{"SingleSignOnService Location", "SingleLogoutService Location", "SingleLogoutService ResponseLocation", "ArtifactResolutionService Location", "http is allowed only for loopback hosts"}},
		{name: "fail/http on a name ending in localhost", data: edit(t, idporten, host, "http://evil-localhost.test.example"), opt: ParseOptions{AllowInsecure: true},
			errs: []string{"http is allowed only for loopback hosts"}},
		{name: "fail/relative and credentialed URLs", data: edit(t, idporten, host+"/opensso/SSORedirect", "/opensso/SSORedirect", host+"/opensso/ArtifactResolver", "https://user:pw@idporten.test.example/opensso/ArtifactResolver"),
			errs: []string{"is not an absolute URL", "must not contain a user name or password"}},
		{name: "fail/billion laughs", data: fixture(t, "fail-billion-laughs.xml"), reason: saml.ReasonDoctype, errs: []string{"IdP metadata is not acceptable XML"}},
		{name: "fail/external entity", data: fixture(t, "fail-xxe.xml"), reason: saml.ReasonDoctype},
		{name: "fail/not XML", data: []byte("<md:EntityDescriptor"), reason: saml.ReasonMalformed},
		{name: "fail/huge", data: append(bytes.Repeat([]byte(" "), saml.MetadataLimits().MaxBytes), idporten...), reason: saml.ReasonTooLarge},
		{name: "fail/expired", data: edit(t, idporten, `ID="_idporten-test-metadata"`, `ID="_idporten-test-metadata" validUntil="2029-12-31T23:59:59Z"`),
			errs: []string{"the metadata expired at 2029-12-31T23:59:59Z (validUntil)"}},
		{name: "fail/expired on the role", data: edit(t, idporten, `<md:IDPSSODescriptor `, `<md:IDPSSODescriptor validUntil="2020-01-01T00:00:00+01:00" `),
			errs: []string{"expired at 2019-12-31T23:00:00Z"}},
		{name: "fail/expired aggregate", data: aggregate, opt: ParseOptions{EntityID: buypassID, Now: time.Date(2041, 1, 1, 0, 0, 0, 0, time.UTC)},
			errs: []string{"expired at 2040-06-01T12:00:00Z"}},
		{name: "fail/bad validUntil and cacheDuration", data: edit(t, idporten, `ID="_idporten-test-metadata"`, `ID="_idporten-test-metadata" validUntil="tomorrow" cacheDuration="-PT1H"`),
			errs: []string{`validUntil "tomorrow" is not a date and time`, `cacheDuration "-PT1H" is not a usable duration: negative durations are not allowed`}},
		{name: "fail/no signing key", data: edit(t, idporten, `use="signing"`, `use="encryption"`),
			errs: []string{"there is no signing certificate"}},
		{name: "fail/unknown key use", data: edit(t, idporten, `use="signing"`, `use="both"`),
			errs: []string{`KeyDescriptor #1 has use="both"`, "there is no signing certificate"}},
		{name: "fail/garbage cert", data: edit(t, idporten, certText(t, idporten, 1), "bm90IGEgY2VydGlmaWNhdGU="),
			errs: []string{"KeyDescriptor #2: X509Certificate is not a readable X.509 certificate"}},
		{name: "fail/cert not base64", data: edit(t, idporten, certText(t, idporten, 1), "not*base64"),
			errs: []string{"KeyDescriptor #2: X509Certificate is not valid base64"}},
		{name: "fail/key without certificate", data: edit(t, idporten, "<ds:X509Certificate>"+certText(t, idporten, 1)+"</ds:X509Certificate>", "<ds:X509SubjectName>CN=x</ds:X509SubjectName>"),
			errs: []string{"KeyDescriptor #2 holds no ds:KeyInfo/ds:X509Data/ds:X509Certificate"}},
		{name: "fail/wrong entity ID", data: idporten, opt: ParseOptions{EntityID: buypassID},
			errs: []string{`the metadata is for entity "` + idportenID + `", but "` + buypassID + `" is configured`}},
		{name: "fail/aggregate without entity ID", data: aggregate, errs: []string{"configure the entity ID"}},
		{name: "fail/aggregate without the entity", data: aggregate, opt: ParseOptions{EntityID: "https://other.test.example"},
			errs: []string{`the aggregate holds 2 entities, none with entity ID "https://other.test.example"`}},
		{name: "fail/aggregate with the entity twice", data: edit(t, aggregate, `entityID="`+idportenID+`"`, `entityID="`+buypassID+`"`), opt: ParseOptions{EntityID: buypassID},
			errs: []string{"appears 2 times"}},
		{name: "fail/no SingleSignOnService", data: edit(t, idporten, "<md:SingleSignOnService", "<md:ManageNameIDService"),
			errs: []string{"there is no usable SingleSignOnService"}},
		{name: "fail/bad artifact index", data: edit(t, idporten, `index="0"`, `index="70000"`),
			errs: []string{"ArtifactResolutionService at", "has no valid index"}},
		{name: "fail/prefixed attribute is not the attribute", data: edit(t, idporten, `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location=`, `<md:SingleSignOnService xmlns:x="urn:x" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" x:Location=`),
			errs: []string{"SingleSignOnService has no Location"}},
		{name: "fail/every problem at once", data: edit(t, idporten, host+"/opensso/SSORedirect", "http://idporten.test.example/opensso/SSORedirect", `use="signing"`, `use="encryption"`, `ID="_idporten-test-metadata"`, `ID="_idporten-test-metadata" validUntil="2000-01-01T00:00:00Z"`),
			errs: []string{"must use https", "there is no usable SingleSignOnService", "there is no signing certificate", "expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opt.Now.IsZero() {
				tt.opt.Now = testNow
			}
			idp, err := ParseIdP(tt.data, tt.opt)
			if strings.HasPrefix(tt.name, "ok/") {
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil {
					tt.check(t, idp)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", idp)
			}
			if idp != nil {
				t.Error("returned a descriptor along with an error")
			}
			if got := saml.ReasonOf(err); got != tt.reason {
				t.Errorf("reason %q, want %q (%v)", got, tt.reason, err)
			}
			if tt.reason == "" {
				var inv *InvalidError
				if !errors.As(err, &inv) {
					t.Errorf("error %T is not an *InvalidError: %v", err, err)
				}
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

// certText returns the text of the n-th ds:X509Certificate of a fixture.
func certText(t testing.TB, data []byte, n int) string {
	t.Helper()
	parts := strings.Split(string(data), "<ds:X509Certificate>")
	if len(parts) <= n+1 {
		t.Fatalf("fixture has no certificate #%d", n)
	}
	text, _, _ := strings.Cut(parts[n+1], "</ds:X509Certificate>")
	return text
}

func assertIdP(t *testing.T, got, want *saml.IdPDescriptor) {
	t.Helper()
	certsEqual := func(a, b []*x509.Certificate) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !a[i].Equal(b[i]) {
				return false
			}
		}
		return true
	}
	endpointsEqual := func(a, b []saml.Endpoint) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	switch {
	case got.EntityID != want.EntityID:
		t.Errorf("EntityID %q, want %q", got.EntityID, want.EntityID)
	case !endpointsEqual(got.SingleSignOn, want.SingleSignOn):
		t.Errorf("SingleSignOn %+v, want %+v", got.SingleSignOn, want.SingleSignOn)
	case !endpointsEqual(got.SingleLogout, want.SingleLogout):
		t.Errorf("SingleLogout %+v, want %+v", got.SingleLogout, want.SingleLogout)
	case !endpointsEqual(got.ArtifactResolution, want.ArtifactResolution):
		t.Errorf("ArtifactResolution %+v, want %+v", got.ArtifactResolution, want.ArtifactResolution)
	case !certsEqual(got.SigningCerts, want.SigningCerts):
		t.Errorf("SigningCerts: got %d certificates, not the expected %d", len(got.SigningCerts), len(want.SigningCerts))
	case !certsEqual(got.EncryptionCerts, want.EncryptionCerts):
		t.Errorf("EncryptionCerts: got %d certificates, not the expected %d", len(got.EncryptionCerts), len(want.EncryptionCerts))
	case got.WantAuthnRequestsSigned != want.WantAuthnRequestsSigned:
		t.Errorf("WantAuthnRequestsSigned %v", got.WantAuthnRequestsSigned)
	case !got.ValidUntil.Equal(want.ValidUntil):
		t.Errorf("ValidUntil %v, want %v", got.ValidUntil, want.ValidUntil)
	case got.CacheDuration != want.CacheDuration:
		t.Errorf("CacheDuration %v, want %v", got.CacheDuration, want.CacheDuration)
	}
}

// The positive fixtures are real metadata: they validate against the OASIS schema.
func TestIdPFixturesValidate(t *testing.T) {
	for _, name := range []string{"idp-idporten.xml", "idp-aggregate.xml"} {
		if err := schemaValidate(t, schemaOASIS, fixture(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// signer is a metadata-signing key made at test time; the key never leaves the test process.
type signer struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	signersOnce sync.Once
	signers     [2]signer
	signersErr  error
)

func testSigners(t testing.TB) [2]signer {
	t.Helper()
	signersOnce.Do(func() {
		for i := range signers {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				signersErr = err
				return
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 1)),
				Subject:      pkix.Name{CommonName: "metadata signer (TEST ONLY)"},
				NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
				NotAfter:     time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				signersErr = err
				return
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				signersErr = err
				return
			}
			signers[i] = signer{key: key, cert: cert}
		}
	})
	if signersErr != nil {
		t.Fatal(signersErr)
	}
	return signers
}

// sign puts an enveloped signature on the root element, as the first child like the schema wants.
func sign(t testing.TB, data []byte, s signer, method string) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(s.key, [][]byte{s.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	// goxmldsig appends the signature without making it a proper etree child, so move it by slot.
	sig := signed.RemoveChildAt(len(signed.Child) - 1)
	signed.InsertChildAt(0, sig)
	doc.SetRoot(signed)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseIdPSigned(t *testing.T) {
	s := testSigners(t)
	idporten := fixture(t, "idp-idporten.xml")
	signed := sign(t, idporten, s[0], saml.AlgRSASHA256)
	unsignedIdP, err := ParseIdP(idporten, ParseOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}

	moved := etree.NewDocument()
	if err := moved.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	sigEl := moved.Root().ChildElements()[0]
	moved.Root().RemoveChild(sigEl)
	moved.Root().AddChild(sigEl)
	sigLast, err := moved.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		data    []byte
		trusted []*x509.Certificate
		reason  saml.Reason
		errs    []string
	}{
		{name: "ok/signed", data: signed, trusted: []*x509.Certificate{s[0].cert}},
		{name: "ok/signed, second of two trusted certificates", data: signed, trusted: []*x509.Certificate{s[1].cert, s[0].cert}},
		{name: "ok/signed without KeyInfo", data: dropKeyInfo(t, signed), trusted: []*x509.Certificate{s[1].cert, s[0].cert}},
		{name: "fail/tampered", data: edit(t, signed, "SSORedirect", "SSOEvilSite"), trusted: []*x509.Certificate{s[0].cert},
			reason: saml.ReasonSignature, errs: []string{"does not verify with any trusted metadata-signing certificate"}},
		{name: "fail/unsigned", data: idporten, trusted: []*x509.Certificate{s[0].cert},
			reason: saml.ReasonSignature, errs: []string{"the IdP metadata is not signed"}},
		{name: "fail/signed by someone else", data: signed, trusted: []*x509.Certificate{s[1].cert},
			reason: saml.ReasonSignature, errs: []string{"does not verify"}},
		{name: "fail/SHA-1", data: sign(t, idporten, s[0], saml.AlgRSASHA1), trusted: []*x509.Certificate{s[0].cert},
			reason: saml.ReasonAlgorithm, errs: []string{`signature method "http://www.w3.org/2000/09/xmldsig#rsa-sha1"`}},
		{name: "fail/signature not first", data: sigLast, trusted: []*x509.Certificate{s[0].cert},
			reason: saml.ReasonSignature, errs: []string{"must be the first child"}},
		{name: "fail/empty reference URI", data: edit(t, signed, `URI="#_idporten-test-metadata"`, `URI=""`), trusted: []*x509.Certificate{s[0].cert},
			reason: saml.ReasonSignature, errs: []string{`refers to "" instead of the root element`}},
		{name: "fail/extra transform", data: edit(t, signed, "<ds:Transforms>", `<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>`),
			trusted: []*x509.Certificate{s[0].cert}, reason: saml.ReasonSignature, errs: []string{"has 3 transforms"}},
		{name: "fail/xslt transform", data: edit(t, signed, `<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>`, `<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>`),
			trusted: []*x509.Certificate{s[0].cert}, reason: saml.ReasonAlgorithm, errs: []string{"transform"}},
		{name: "fail/signed but expired", data: sign(t, edit(t, idporten, `ID="_idporten-test-metadata"`, `ID="_idporten-test-metadata" validUntil="2029-01-01T00:00:00Z"`), s[0], saml.AlgRSASHA256),
			trusted: []*x509.Certificate{s[0].cert}, errs: []string{"expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp, err := ParseIdP(tt.data, ParseOptions{Now: testNow, TrustedCerts: tt.trusted})
			if strings.HasPrefix(tt.name, "ok/") {
				if err != nil {
					t.Fatal(err)
				}
				assertIdP(t, idp, unsignedIdP)
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := saml.ReasonOf(err); got != tt.reason {
				t.Errorf("reason %q, want %q (%v)", got, tt.reason, err)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func dropKeyInfo(t testing.TB, signed []byte) []byte {
	t.Helper()
	start := bytes.Index(signed, []byte("<ds:KeyInfo>"))
	end := bytes.Index(signed, []byte("</ds:KeyInfo>"))
	if start < 0 || end < start {
		t.Fatal("signature has no KeyInfo")
	}
	return append(append([]byte{}, signed[:start]...), signed[end+len("</ds:KeyInfo>"):]...)
}

func TestParseDuration(t *testing.T) {
	ok := map[string]time.Duration{
		"PT6H":            6 * time.Hour,
		"P1D":             day,
		"P1Y":             year,
		"P2M":             2 * month,
		"PT1M":            time.Minute,
		"P1M":             month,
		"PT0.5S":          500 * time.Millisecond,
		" PT30S ":         30 * time.Second,
		"P1DT1H1M1.001S":  day + time.Hour + time.Minute + time.Second + time.Millisecond,
		"PT0S":            0,
		"PT1.0000000019S": time.Second + time.Nanosecond,
	}
	for in, want := range ok {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "6H", "-PT6H", "PT6", "P1H", "PT1D", "P1DT", "PT1M1H", "P1.5D", "PT1..5S", "PT.5S", "P1D1D",
		"PT9999999999999999999H", "P300Y", "PT1H-1M"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}
