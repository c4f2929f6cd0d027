package metadata

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

// checkCase is one document for CheckSP: accepted when wants is empty and reason is not set.
type checkCase struct {
	name   string
	doc    []byte
	opt    CheckOptions // Now defaults to testNow
	wants  []string     // one substring per problem, in order
	reason saml.Reason  // for documents refused before their content is read
	check  func(t *testing.T, info *SPInfo)
}

// restructure parses doc, lets f change the tree (root and its SPSSODescriptor) and writes it back.
func restructure(t testing.TB, doc []byte, f func(root, sso *etree.Element)) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	f(d.Root(), d.Root().SelectElement("SPSSODescriptor"))
	out, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// moveBefore puts the first child called tag right before the first child called before.
func moveBefore(parent *etree.Element, tag, before string) {
	el := parent.SelectElement(tag)
	parent.RemoveChild(el)
	parent.InsertChildAt(parent.SelectElement(before).Index(), el)
}

// odd keys, made once: a 1024-bit RSA key and an ECDSA key in otherwise fine certificates.
var oddCerts = sync.OnceValues(func() ([2]string, error) {
	var out [2]string
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		return out, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	for n, k := range []struct {
		pub, priv any
	}{{&rsaKey.PublicKey, rsaKey}, {&ecKey.PublicKey, ecKey}} {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(n + 1)),
			Subject:      pkix.Name{CommonName: "odd key (TEST ONLY)"},
			NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:     time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.pub, k.priv)
		if err != nil {
			return out, err
		}
		out[n] = base64.StdEncoding.EncodeToString(der)
	}
	return out, nil
})

func checkCases(t testing.TB) []checkCase {
	presets := goldenPresets(t)
	build := func(sp SP) []byte {
		t.Helper()
		out, err := sp.Build()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	good := build(presets["idporten"])
	odd, err := oddCerts()
	if err != nil {
		t.Fatal(err)
	}
	signingB64 := base64.StdEncoding.EncodeToString(loadCert(t, "sp-signing").Raw)
	const (
		entity    = `entityID="https://sp.test.example/saml"`
		sso       = `<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true"`
		signingKD = `<md:KeyDescriptor use="signing">`
		encKD     = `<md:KeyDescriptor use="encryption">`
		sloEl     = `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.test.example/saml/slo" ResponseLocation="https://sp.test.example/saml/slo"/>`
		artifact  = `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.test.example/saml/acs" index="1" isDefault="true"/>`
		postACS   = `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test.example/saml/post" index="2"/>`
		validTo   = `validUntil="2036-01-02T02:04:05Z"`
	)
	loopback := presets["generic-post"]
	loopback.EntityID = "http://localhost:8080/saml/metadata"
	loopback.ACSArtifact, loopback.ACSPost, loopback.SLO = "http://localhost:8080/saml/acs", "http://127.0.0.1:8080/saml/acs", "http://[::1]:8080/saml/slo"
	remoteHTTP := loopback
	remoteHTTP.SLO = "http://sp.test.example/saml/slo"

	return []checkCase{
		{name: "ok/idporten", doc: good, check: func(t *testing.T, info *SPInfo) {
			if info.EntityID != "https://sp.test.example/saml" || info.ArtifactACS != "https://sp.test.example/saml/acs" || info.PostACS != "" ||
				info.SLOLocation != "https://sp.test.example/saml/slo" || info.SLOResponseLocation != "https://sp.test.example/saml/slo" {
				t.Errorf("info %+v", info)
			}
			if len(info.SigningCerts) != 1 || !info.SigningCerts[0].Equal(loadCert(t, "sp-signing")) ||
				len(info.EncryptionCerts) != 1 || !info.EncryptionCerts[0].Equal(loadCert(t, "sp-encryption")) {
				t.Errorf("certificates %v %v", info.SigningCerts, info.EncryptionCerts)
			}
			if !info.ValidUntil.Equal(goldenValidUntil) {
				t.Errorf("ValidUntil %v, want %v", info.ValidUntil, goldenValidUntil)
			}
		}},
		{name: "ok/ips", doc: build(presets["ips"])},
		{name: "ok/generic-post", doc: build(presets["generic-post"]), check: func(t *testing.T, info *SPInfo) {
			if info.PostACS != "https://sp.test.example/saml/acs/post" {
				t.Errorf("PostACS %q", info.PostACS)
			}
		}},
		{name: "ok/rollover", doc: build(presets["rollover"]), check: func(t *testing.T, info *SPInfo) {
			if len(info.SigningCerts) != 2 || len(info.EncryptionCerts) != 2 || !info.EncryptionCerts[0].Equal(loadCert(t, "sp-encryption")) {
				t.Errorf("%d signing and %d encryption certificates; want 2 and 2, current encryption key first", len(info.SigningCerts), len(info.EncryptionCerts))
			}
		}},
		{name: "ok/signed, signature not verified", doc: edit(t, build(presets["signed"]), `<ds:SignatureValue>`, `<ds:SignatureValue>AAAA`)},
		{name: "ok/organization", doc: build(presets["organization"])},
		{name: "ok/one key without use for both", doc: restructure(t, good, func(_, sso *etree.Element) {
			sso.RemoveChild(sso.SelectElements("KeyDescriptor")[1])
			sso.SelectElement("KeyDescriptor").RemoveAttr("use")
		}), check: func(t *testing.T, info *SPInfo) {
			if len(info.SigningCerts) != 1 || len(info.EncryptionCerts) != 1 || !info.SigningCerts[0].Equal(info.EncryptionCerts[0]) {
				t.Errorf("a KeyDescriptor without use must count for both: %v %v", info.SigningCerts, info.EncryptionCerts)
			}
		}},
		{name: "ok/without validUntil", doc: edit(t, good, validTo, ""), check: func(t *testing.T, info *SPInfo) {
			if !info.ValidUntil.IsZero() {
				t.Errorf("ValidUntil %v", info.ValidUntil)
			}
		}},
		{name: "ok/http on loopback when allowed", doc: build(loopback), opt: CheckOptions{AllowInsecure: true}},

		{name: "fail/doctype", doc: []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`), reason: saml.ReasonDoctype},
		{name: "fail/not XML", doc: []byte("not metadata at all"), reason: saml.ReasonMalformed},
		{name: "fail/aggregate", doc: fixture(t, "idp-aggregate.xml"), wants: []string{"aggregate of entities"}},
		{name: "fail/other root", doc: []byte(`<md:SPSSODescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`),
			wants: []string{"root element is {urn:oasis:names:tc:SAML:2.0:metadata}SPSSODescriptor"}},
		{name: "fail/no entityID", doc: edit(t, good, entity, ""), wants: []string{"has no entityID"}},
		{name: "fail/entityID too long", doc: edit(t, good, entity, `entityID="urn:`+strings.Repeat("x", 1021)+`"`),
			wants: []string{"entityID is longer than 1024 characters"}},
		{name: "fail/entityID with white space", doc: edit(t, good, entity, `entityID="https://sp.test.example/my saml"`),
			wants: []string{`entityID "https://sp.test.example/my saml" contains white space`}},
		{name: "fail/no SPSSODescriptor", doc: restructure(t, good, func(root, sso *etree.Element) { root.RemoveChild(sso) }),
			wants: []string{"there is no SPSSODescriptor"}},
		{name: "fail/two SPSSODescriptors", doc: restructure(t, good, func(root, sso *etree.Element) { root.AddChild(sso.Copy()) }),
			wants: []string{"there are 2 SPSSODescriptors; expected one"}},
		{name: "fail/an IdP role too", doc: restructure(t, good, func(root, sso *etree.Element) {
			idp := sso.Copy()
			idp.Tag = "IDPSSODescriptor"
			root.AddChild(idp)
		}), wants: []string{"the EntityDescriptor contains md:IDPSSODescriptor, which does not belong there"}},
		{name: "fail/not SAML 2.0", doc: edit(t, good, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`),
			wants: []string{"does not list the SAML 2.0 protocol"}},
		{name: "fail/AuthnRequestsSigned false", doc: edit(t, good, `AuthnRequestsSigned="true"`, `AuthnRequestsSigned="false"`),
			wants: []string{`AuthnRequestsSigned="false"; it must be "true"`}},
		{name: "fail/AuthnRequestsSigned missing", doc: edit(t, good, `AuthnRequestsSigned="true"`, ""),
			wants: []string{`has no AuthnRequestsSigned; it must be "true"`}},
		{name: "fail/WantAssertionsSigned false", doc: edit(t, good, `WantAssertionsSigned="true"`, `WantAssertionsSigned="false"`),
			wants: []string{`WantAssertionsSigned="false"; it must be "true"`}},
		{name: "fail/no signing key", doc: restructure(t, good, func(_, sso *etree.Element) { sso.RemoveChild(sso.SelectElement("KeyDescriptor")) }),
			wants: []string{"there is no signing certificate"}},
		{name: "fail/no encryption key", doc: restructure(t, good, func(_, sso *etree.Element) { sso.RemoveChild(sso.SelectElements("KeyDescriptor")[1]) }),
			wants: []string{"there is no encryption certificate"}},
		{name: "fail/unknown use", doc: edit(t, good, signingKD, `<md:KeyDescriptor use="both">`),
			wants: []string{`KeyDescriptor #1 has use="both"`, "there is no signing certificate"}},
		{name: "fail/certificate not base64", doc: edit(t, good, signingB64, "not*base64"),
			wants: []string{"KeyDescriptor #1: X509Certificate is not valid base64", "there is no signing certificate"}},
		{name: "fail/certificate unreadable", doc: edit(t, good, signingB64, "AAAA"+signingB64[4:]),
			wants: []string{"KeyDescriptor #1: X509Certificate is not a readable X.509 certificate", "there is no signing certificate"}},
		{name: "fail/1024-bit key", doc: edit(t, good, signingB64, odd[0]),
			wants: []string{"has a 1024-bit RSA key; at least 2048 bits are required", "there is no signing certificate"}},
		{name: "fail/ECDSA key", doc: edit(t, good, signingB64, odd[1]),
			wants: []string{"has a key of type ECDSA; an RSA key is required", "there is no signing certificate"}},
		{name: "fail/KeyDescriptor without certificate", doc: restructure(t, good, func(_, sso *etree.Element) {
			x509Data := sso.FindElement("./KeyDescriptor/KeyInfo/X509Data")
			x509Data.RemoveChild(x509Data.SelectElement("X509Certificate"))
			x509Data.CreateElement("ds:X509SubjectName").SetText("CN=sp")
		}), wants: []string{"KeyDescriptor #1 holds no certificate", "there is no signing certificate"}},
		{name: "fail/ACS before SLO", doc: restructure(t, good, func(_, sso *etree.Element) { moveBefore(sso, "AssertionConsumerService", "SingleLogoutService") }),
			wants: []string{"in the SPSSODescriptor, SingleLogoutService comes after AssertionConsumerService, but must come before it; the order is KeyDescriptor, SingleLogoutService, NameIDFormat, AssertionConsumerService",
				"NameIDFormat comes after AssertionConsumerService"}},
		{name: "fail/NameIDFormat before SLO", doc: restructure(t, good, func(_, sso *etree.Element) { moveBefore(sso, "NameIDFormat", "SingleLogoutService") }),
			wants: []string{"SingleLogoutService comes after NameIDFormat, but must come before it"}},
		{name: "fail/KeyDescriptor after SLO", doc: restructure(t, good, func(_, sso *etree.Element) {
			kd := sso.SelectElement("KeyDescriptor")
			sso.RemoveChild(kd)
			sso.InsertChildAt(sso.SelectElement("NameIDFormat").Index(), kd)
		}), wants: []string{"KeyDescriptor comes after SingleLogoutService"}},
		{name: "fail/Organization after ContactPerson", doc: restructure(t, build(presets["organization"]), func(root, _ *etree.Element) {
			cp := root.CreateElement("md:ContactPerson")
			cp.CreateAttr("contactType", "technical")
			moveBefore(root, "ContactPerson", "Organization")
		}), wants: []string{"in the EntityDescriptor, Organization comes after ContactPerson"}},
		{name: "fail/foreign element", doc: restructure(t, good, func(_, sso *etree.Element) {
			x := etree.NewElement("x:Extra")
			x.CreateAttr("xmlns:x", "urn:test")
			sso.InsertChildAt(sso.SelectElement("NameIDFormat").Index(), x)
		}), wants: []string{"the SPSSODescriptor contains x:Extra, which does not belong there"}},
		{name: "fail/two Extensions", doc: restructure(t, good, func(_, sso *etree.Element) {
			for range 2 {
				ext := etree.NewElement("md:Extensions")
				ext.CreateElement("x:Thing").CreateAttr("xmlns:x", "urn:test")
				sso.InsertChildAt(0, ext)
			}
		}), wants: []string{"the SPSSODescriptor has more than one Extensions"}},
		{name: "fail/no SLO", doc: edit(t, good, sloEl, ""), wants: []string{"there is no SingleLogoutService"}},
		{name: "fail/two SLOs", doc: edit(t, good, sloEl, sloEl+sloEl), wants: []string{"there are 2 SingleLogoutServices"}},
		{name: "fail/SLO with POST", doc: edit(t, good, `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"`, `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`),
			wants: []string{`the SingleLogoutService has the binding "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"; it must be HTTP-Redirect`}},
		{name: "fail/SLO without ResponseLocation", doc: edit(t, good, ` ResponseLocation="https://sp.test.example/saml/slo"`, ""),
			wants: []string{"the SingleLogoutService has no ResponseLocation"}},
		{name: "fail/SLO with index", doc: edit(t, good, `ResponseLocation="https://sp.test.example/saml/slo"/>`, `ResponseLocation="https://sp.test.example/saml/slo" index="0"/>`),
			wants: []string{"the SingleLogoutService has an index attribute"}},
		{name: "fail/unknown attribute", doc: edit(t, good, signingKD, `<md:KeyDescriptor use="signing" purpose="sign">`),
			wants: []string{"KeyDescriptor #1 has the attribute purpose"}},
		{name: "fail/no Artifact ACS", doc: edit(t, good, artifact, postACS),
			wants: []string{"there is no AssertionConsumerService with the HTTP-Artifact binding"}},
		{name: "fail/Artifact ACS index 0", doc: edit(t, good, `index="1" isDefault="true"`, `index="0" isDefault="true"`),
			wants: []string{`the HTTP-Artifact AssertionConsumerService has index="0"; it must be "1"`}},
		{name: "fail/Artifact ACS not default", doc: edit(t, good, ` isDefault="true"`, ""),
			wants: []string{`the HTTP-Artifact AssertionConsumerService must have isDefault="true"`}},
		{name: "fail/two Artifact ACS", doc: edit(t, good, artifact, artifact+strings.Replace(artifact, `index="1"`, `index="3"`, 1)),
			wants: []string{"there are 2 AssertionConsumerServices with the HTTP-Artifact binding"}},
		{name: "fail/PAOS ACS", doc: edit(t, good, artifact, artifact+strings.Replace(postACS, "HTTP-POST", "PAOS", 1)),
			wants: []string{`"urn:oasis:names:tc:SAML:2.0:bindings:PAOS"; only HTTP-Artifact and, besides it, HTTP-POST are accepted`}},
		{name: "fail/POST ACS default", doc: edit(t, good, artifact, artifact+strings.Replace(postACS, `index="2"`, `index="2" isDefault="true"`, 1)),
			wants: []string{"the HTTP-POST AssertionConsumerService must not be the default"}},
		{name: "fail/two POST ACS", doc: edit(t, good, artifact, artifact+postACS+strings.Replace(postACS, `index="2"`, `index="3"`, 1)),
			wants: []string{"there are 2 AssertionConsumerServices with the HTTP-POST binding; at most one is allowed"}},
		{name: "fail/repeated index", doc: edit(t, good, artifact, artifact+strings.Replace(postACS, `index="2"`, `index="1"`, 1)),
			wants: []string{"index 1 is used by more than one AssertionConsumerService"}},
		{name: "fail/index not a number", doc: edit(t, good, artifact, artifact+strings.Replace(postACS, `index="2"`, `index="two"`, 1)),
			wants: []string{`the AssertionConsumerService at "https://sp.test.example/saml/post" has no valid index`}},
		{name: "fail/http", doc: edit(t, good, `Location="https://sp.test.example/saml/acs"`, `Location="http://sp.test.example/saml/acs"`),
			wants: []string{`the AssertionConsumerService Location "http://sp.test.example/saml/acs" must use https`}},
		{name: "fail/http on loopback not allowed", doc: build(loopback), wants: []string{
			`the SingleLogoutService Location "http://[::1]:8080/saml/slo" must use https`,
			`the SingleLogoutService ResponseLocation "http://[::1]:8080/saml/slo" must use https`,
			`the AssertionConsumerService Location "http://localhost:8080/saml/acs" must use https`,
			`the AssertionConsumerService Location "http://127.0.0.1:8080/saml/acs" must use https`,
		}},
		{name: "fail/http on another host", doc: build(remoteHTTP), opt: CheckOptions{AllowInsecure: true}, wants: []string{
			`Location "http://sp.test.example/saml/slo" must use https (http is allowed only for loopback hosts in development)`,
			`ResponseLocation "http://sp.test.example/saml/slo" must use https (http is allowed only`,
		}},
		{name: "fail/relative URL", doc: edit(t, good, `Location="https://sp.test.example/saml/acs"`, `Location="/saml/acs"`),
			wants: []string{`Location "/saml/acs" is not an absolute URL`}},
		{name: "fail/expired", doc: good, opt: CheckOptions{Now: goldenValidUntil},
			wants: []string{"the EntityDescriptor expired at 2036-01-02T02:04:05Z (validUntil)"}},
		{name: "fail/validUntil not a time", doc: edit(t, good, validTo, `validUntil="tomorrow"`),
			wants: []string{`validUntil "tomorrow" is not a date and time`}},
		{name: "fail/every problem at once", doc: edit(t, good, sso, `<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="false"`, sloEl, "", encKD, `<md:KeyDescriptor use="signing">`),
			wants: []string{"AuthnRequestsSigned=\"false\"", "WantAssertionsSigned=\"false\"", "there is no encryption certificate", "there is no SingleLogoutService"}},
	}
}

func TestCheckSP(t *testing.T) {
	for _, tt := range checkCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			opt := tt.opt
			if opt.Now.IsZero() {
				opt.Now = testNow
			}
			info, err := CheckSP(tt.doc, opt)
			if (info == nil) == (err == nil) {
				t.Fatalf("info %v with error %v", info, err)
			}
			switch {
			case tt.reason != "":
				if got := saml.ReasonOf(err); got != tt.reason {
					t.Fatalf("reason %q (%v), want %q", got, err, tt.reason)
				}
			case len(tt.wants) == 0:
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil {
					tt.check(t, info)
				}
			default:
				var inv *InvalidError
				if !errors.As(err, &inv) {
					t.Fatalf("error %T is not *InvalidError: %v", err, err)
				}
				if inv.Subject != "SP metadata" {
					t.Errorf("subject %q", inv.Subject)
				}
				if len(inv.Problems) != len(tt.wants) {
					t.Errorf("got %d problems, want %d:\n%s", len(inv.Problems), len(tt.wants), strings.Join(inv.Problems, "\n"))
				}
				for i, w := range tt.wants {
					if i < len(inv.Problems) && !strings.Contains(inv.Problems[i], w) {
						t.Errorf("problem %d is %q; want it to say %q", i+1, inv.Problems[i], w)
					}
				}
			}
		})
	}
}

// TestCheckSPNotLooserThanSchema runs every document CheckSP accepts above through xmllint with
// Digdir's schema and the OASIS one: for these cases at least, the Go rules let nothing through that
// the schemas refuse.
func TestCheckSPNotLooserThanSchema(t *testing.T) {
	for _, tt := range checkCases(t) {
		if !strings.HasPrefix(tt.name, "ok/") {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			for _, xsd := range []string{schemaDigdir, schemaOASIS} {
				if err := schemaValidate(t, xsd, tt.doc); err != nil {
					t.Errorf("CheckSP accepts it, %s refuses it: %v", filepath.Base(xsd), err)
				}
			}
		})
	}
}

// FuzzCheckSP: no input may panic, and an accepted document always yields what a registration
// needs. The recover in CheckSP would hide a panic behind ReasonPanic, so that reason fails here.
func FuzzCheckSP(f *testing.F) {
	for _, tt := range checkCases(f) {
		f.Add(tt.doc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opt := range []CheckOptions{{Now: testNow}, {Now: testNow, AllowInsecure: true}} {
			info, err := CheckSP(data, opt)
			if saml.ReasonOf(err) == saml.ReasonPanic {
				t.Fatalf("panic: %v", err)
			}
			if (info == nil) == (err == nil) {
				t.Fatalf("info %v with error %v", info, err)
			}
			if info != nil && (info.EntityID == "" || len(info.SigningCerts) == 0 || len(info.EncryptionCerts) == 0 ||
				info.ArtifactACS == "" || info.SLOLocation == "" || info.SLOResponseLocation == "") {
				t.Fatalf("accepted without what a registration needs: %+v", info)
			}
		}
	})
}
