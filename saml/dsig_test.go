package saml

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

var dsigNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const dsigAssertion = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" IssueInstant="2026-03-04T05:06:07Z">` +
	`<saml:Issuer>https://idp.example.no</saml:Issuer>` +
	`<saml:Subject><saml:NameID>user@user.com.evil.com</saml:NameID></saml:Subject>` +
	`<saml:Advice ID="_other"><saml:AssertionIDRef>x</saml:AssertionIDRef></saml:Advice>` +
	`</saml:Assertion>`

// signedAssertion signs dsigAssertion with k and returns it serialized, as it would arrive.
func signedAssertion(t testing.TB, k *testKey, alg string) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(dsigAssertion); err != nil {
		t.Fatal(err)
	}
	signed, err := k.signer(alg).SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	out := etree.NewDocument()
	out.SetRoot(signed)
	s, err := out.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parseRoot parses s the way every untrusted message is parsed.
func parseRoot(t testing.TB, s string) *etree.Element {
	t.Helper()
	doc, err := ParseUntrusted([]byte(s), DefaultLimits())
	if err != nil {
		t.Fatalf("ParseUntrusted: %v\n%s", err, s)
	}
	return doc.Root()
}

func dsEl(parent *etree.Element, path string) *etree.Element {
	el := parent
	for _, tag := range strings.Split(path, "/") {
		el = firstChild(el, NSDSig, tag)
		if el == nil {
			panic("no " + path)
		}
	}
	return el
}

func TestVerifyEnvelopedOurSigner(t *testing.T) {
	idp := newTestKey(t, "idp")
	other := newTestKey(t, "other")
	trusted := []*x509.Certificate{idp.Cert}

	t.Run("ok/rsa-sha256", func(t *testing.T) {
		root := parseRoot(t, signedAssertion(t, idp, AlgRSASHA256))
		if got := root.ChildElements()[1]; got.Tag != "Signature" || got.NamespaceURI() != NSDSig {
			t.Fatalf("Signature is not right after Issuer: %s", got.Tag)
		}
		v, err := verifyEnveloped(root, trusted, DefaultAlgorithms())
		if err != nil {
			t.Fatal(err)
		}
		if v.SelectAttrValue("ID", "") != "_a1" || len(children(v, NSDSig, "Signature")) != 0 {
			t.Errorf("verified element is not the bare assertion")
		}
	})
	t.Run("ok/rsa-sha1-when-allowed", func(t *testing.T) {
		root := parseRoot(t, signedAssertion(t, idp, AlgRSASHA1))
		if _, err := verifyEnveloped(root, trusted, DefaultAlgorithms().WithSHA1()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/key-rollover", func(t *testing.T) {
		root := parseRoot(t, signedAssertion(t, idp, ""))
		if _, err := verifyEnveloped(root, []*x509.Certificate{other.Cert, idp.Cert}, DefaultAlgorithms()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/comment-in-nameid-does-not-split", func(t *testing.T) {
		// Exclusive c14n drops comments, so the signature holds; what we return must be the
		// whole value, never the part before the comment [CVE-2017-11427].
		s := strings.Replace(signedAssertion(t, idp, ""), "user@user.com.evil.com", "user@user.com<!---->.evil.com", 1)
		v, err := verifyEnveloped(parseRoot(t, s), trusted, DefaultAlgorithms())
		if err != nil {
			t.Fatal(err)
		}
		nid := firstChild(firstChild(v, NSAssertion, "Subject"), NSAssertion, "NameID")
		if got := text(nid); got != "user@user.com.evil.com" {
			t.Errorf("NameID %q", got)
		}
	})
	t.Run("ok/whitespace-in-values-survives-sending", func(t *testing.T) {
		// A tab or newline in an attribute value and a CR in text are part of what the
		// signature covers; Marshal writes them as character references, so the receiver
		// reads the signed values back. etree's writer (the positive control) wrote them raw,
		// and the receiver's normalization broke the signature.
		build := func() *etree.Element {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(dsigAssertion); err != nil {
				t.Fatal(err)
			}
			root := doc.Root()
			root.CreateAttr("Note", "line one\nline two\tand a tab")
			firstChild(root, NSAssertion, "Issuer").SetText("https://idp.example/\r\nmore")
			signed, err := idp.signer("").SignEnveloped(root)
			if err != nil {
				t.Fatal(err)
			}
			return signed
		}
		if _, err := verifyEnveloped(parseRoot(t, string(Marshal(build()))), trusted, DefaultAlgorithms()); err != nil {
			t.Fatalf("sent with Marshal: %v", err)
		}
		var raw bytes.Buffer
		build().WriteTo(&raw, &etree.WriteSettings{})
		if _, err := verifyEnveloped(parseRoot(t, raw.String()), trusted, DefaultAlgorithms()); err == nil {
			t.Fatal("sent with etree's writer it verified too: the test no longer shows the difference")
		}
	})
	t.Run("ok/keyinfo-ignored", func(t *testing.T) {
		// KeyInfo naming another certificate does not matter: trust is the metadata's.
		s := signedAssertion(t, idp, "")
		root := parseRoot(t, s)
		cert := dsEl(root, "Signature/KeyInfo/X509Data/X509Certificate")
		cert.SetText(strings.Repeat("A", 40))
		if _, err := verifyEnveloped(root, trusted, DefaultAlgorithms()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerifyEnvelopedRejects(t *testing.T) {
	idp := newTestKey(t, "idp")
	attacker := newTestKey(t, "attacker")
	forged, err := makeTestKey("", &idp.Cert.Subject)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []*x509.Certificate{idp.Cert}
	good := signedAssertion(t, idp, AlgRSASHA256)

	type mutation func(root *etree.Element)
	setAlg := func(path, alg string) mutation {
		return func(root *etree.Element) { dsEl(root, path).CreateAttr("Algorithm", alg) }
	}
	tests := []struct {
		name  string
		xml   string   // default: good
		mut   mutation // applied to the parsed element, which is then serialized and parsed again
		algs  *Algorithms
		want  Reason
		shape bool // the shape check alone must refuse it, before any cryptography
	}{
		{name: "fail/tampered-content", xml: strings.Replace(good, "user@user.com.evil.com", "admin@user.com.evil.com", 1), want: ReasonSignature},
		{name: "fail/tampered-attribute", xml: strings.Replace(good, `IssueInstant="2026-03-04T05:06:07Z"`, `IssueInstant="2026-03-04T05:06:08Z"`, 1), want: ReasonSignature},
		{name: "fail/tampered-signedinfo", mut: func(r *etree.Element) {
			dv := dsEl(r, "Signature/SignedInfo/Reference/DigestValue")
			dv.SetText("A" + dv.Text()[1:])
		}, want: ReasonSignature},
		{name: "fail/signature-removed", mut: func(r *etree.Element) { r.RemoveChild(dsEl(r, "Signature")) }, want: ReasonSignature, shape: true},
		{name: "fail/two-signatures", mut: func(r *etree.Element) { r.AddChild(dsEl(r, "Signature").Copy()) }, want: ReasonSignature, shape: true},
		{name: "fail/no-id", mut: func(r *etree.Element) { r.RemoveAttr("ID") }, want: ReasonSignature, shape: true},
		{name: "fail/two-references", mut: func(r *etree.Element) {
			si := dsEl(r, "Signature/SignedInfo")
			si.AddChild(dsEl(r, "Signature/SignedInfo/Reference").Copy())
		}, want: ReasonSignature, shape: true},
		{name: "fail/xslt-transform", mut: func(r *etree.Element) {
			ts := dsEl(r, "Signature/SignedInfo/Reference/Transforms")
			x := ts.ChildElements()[1]
			x.CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
			x.CreateElement("xsl:stylesheet").CreateAttr("xmlns:xsl", "http://www.w3.org/1999/XSL/Transform")
		}, want: ReasonAlgorithm, shape: true},
		{name: "fail/xpath-transform", mut: func(r *etree.Element) {
			x := dsEl(r, "Signature/SignedInfo/Reference/Transforms").ChildElements()[1]
			x.CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
			x.CreateElement("ds:XPath").SetText("not(ancestor-or-self::saml:Subject)")
		}, want: ReasonAlgorithm, shape: true},
		{name: "fail/xpath-filter2-transform", mut: setAlg("Signature/SignedInfo/Reference/Transforms/Transform", "http://www.w3.org/2002/06/xmldsig-filter2"), want: ReasonAlgorithm, shape: true},
		{name: "fail/three-transforms", mut: func(r *etree.Element) {
			ts := dsEl(r, "Signature/SignedInfo/Reference/Transforms")
			ts.AddChild(ts.ChildElements()[1].Copy())
		}, want: ReasonAlgorithm, shape: true},
		{name: "fail/no-enveloped-transform", mut: setAlg("Signature/SignedInfo/Reference/Transforms/Transform", algExcC14N), want: ReasonAlgorithm, shape: true},
		{name: "fail/c14n-with-comments", mut: setAlg("Signature/SignedInfo/CanonicalizationMethod", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"), want: ReasonAlgorithm, shape: true},
		{name: "fail/inclusive-c14n", mut: setAlg("Signature/SignedInfo/CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"), want: ReasonAlgorithm, shape: true},
		{name: "fail/transform-with-comments", mut: func(r *etree.Element) {
			dsEl(r, "Signature/SignedInfo/Reference/Transforms").ChildElements()[1].CreateAttr("Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments")
		}, want: ReasonAlgorithm, shape: true},
		{name: "fail/ds-object", mut: func(r *etree.Element) {
			o := dsEl(r, "Signature").CreateElement("ds:Object")
			o.AddChild(firstChild(r, NSAssertion, "Subject").Copy())
		}, want: ReasonSignature, shape: true},
		{name: "fail/comment-in-digestvalue", mut: func(r *etree.Element) {
			dv := dsEl(r, "Signature/SignedInfo/Reference/DigestValue")
			v := dv.Text()
			dv.SetText(v[:4])
			dv.CreateComment("x")
			dv.CreateText(v[4:])
		}, want: ReasonSignature, shape: true},
		{name: "fail/comment-in-signaturevalue", mut: func(r *etree.Element) {
			sv := dsEl(r, "Signature/SignatureValue")
			sv.CreateComment("x")
		}, want: ReasonSignature, shape: true},
		{name: "fail/hmac-sha256", mut: setAlg("Signature/SignedInfo/SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"), want: ReasonAlgorithm, shape: true},
		{name: "fail/hmac-sha1-output-length", mut: func(r *etree.Element) {
			sm := dsEl(r, "Signature/SignedInfo/SignatureMethod")
			sm.CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
			sm.CreateElement("ds:HMACOutputLength").SetText("8")
		}, want: ReasonAlgorithm, shape: true},
		{name: "fail/signaturemethod-parameters", mut: func(r *etree.Element) {
			dsEl(r, "Signature/SignedInfo/SignatureMethod").CreateElement("ds:HMACOutputLength").SetText("8")
		}, want: ReasonAlgorithm, shape: true},
		{name: "fail/rsa-md5", mut: setAlg("Signature/SignedInfo/SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"), want: ReasonAlgorithm, shape: true},
		{name: "fail/digest-md5", mut: setAlg("Signature/SignedInfo/Reference/DigestMethod", "http://www.w3.org/2001/04/xmldsig-more#md5"), want: ReasonAlgorithm, shape: true},
		{name: "fail/sha1-not-allowed", xml: signedAssertion(t, idp, AlgRSASHA1), want: ReasonAlgorithm, shape: true},
		{name: "fail/sha1-digest-not-allowed", mut: setAlg("Signature/SignedInfo/Reference/DigestMethod", AlgSHA1), want: ReasonAlgorithm, shape: true},
		{name: "fail/reference-to-other-id", mut: func(r *etree.Element) {
			dsEl(r, "Signature/SignedInfo/Reference").CreateAttr("URI", "#_other")
		}, want: ReasonSignature, shape: true},
		{name: "fail/reference-empty-uri", mut: func(r *etree.Element) {
			dsEl(r, "Signature/SignedInfo/Reference").CreateAttr("URI", "")
		}, want: ReasonSignature, shape: true},
		{name: "fail/reference-no-uri", mut: func(r *etree.Element) {
			dsEl(r, "Signature/SignedInfo/Reference").RemoveAttr("URI")
		}, want: ReasonSignature, shape: true},
		{name: "fail/signature-moved-to-parent", xml: wrapSignatureMoved(t, idp), want: ReasonSignature, shape: true},
		{name: "fail/foreign-element-in-signature", mut: func(r *etree.Element) {
			dsEl(r, "Signature").CreateElement("evil").CreateAttr("xmlns", "urn:evil")
		}, want: ReasonSignature, shape: true},
		{name: "fail/two-keyinfos", mut: func(r *etree.Element) {
			s := dsEl(r, "Signature")
			s.AddChild(dsEl(r, "Signature/KeyInfo").Copy())
		}, want: ReasonSignature, shape: true},
		{name: "fail/attacker-key-and-keyinfo", xml: signedAssertion(t, attacker, AlgRSASHA256), want: ReasonSignature},
		{name: "fail/attacker-cert-with-idp-subject", xml: signedAssertion(t, forged, AlgRSASHA256), want: ReasonSignature},
		{name: "fail/idp-keyinfo-attacker-signature", xml: swapKeyInfo(t, signedAssertion(t, attacker, AlgRSASHA256), idp), want: ReasonSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.xml
			if s == "" {
				s = good
			}
			if tc.mut != nil {
				root := parseRoot(t, s)
				tc.mut(root)
				doc := etree.NewDocument()
				doc.SetRoot(root)
				var err error
				if s, err = doc.WriteToString(); err != nil {
					t.Fatal(err)
				}
			}
			root := parseRoot(t, s)
			algs := DefaultAlgorithms()
			if tc.algs != nil {
				algs = *tc.algs
			}
			if tc.shape {
				err := checkSignatureShape(root, algs)
				wantReason(t, err, tc.want)
			}
			v, err := verifyEnveloped(root, trusted, algs)
			if err == nil {
				t.Fatalf("verified %s", v.Tag)
			}
			wantReason(t, err, tc.want)
		})
	}
}

// wrapSignatureMoved signs an inner element and moves its signature up to the outer one, so
// that the Reference points at another ID than the element that carries the Signature.
func wrapSignatureMoved(t testing.TB, k *testKey) string {
	t.Helper()
	s := signedAssertion(t, k, "")
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		t.Fatal(err)
	}
	inner := doc.Root()
	sig := dsEl(inner, "Signature")
	inner.RemoveChild(sig)
	outer := etree.NewElement("samlp:Response")
	outer.CreateAttr("xmlns:samlp", NSProtocol)
	outer.CreateAttr("ID", "_outer")
	outer.AddChild(sig)
	outer.AddChild(inner)
	out := etree.NewDocument()
	out.SetRoot(outer)
	str, _ := out.WriteToString()
	return str
}

// swapKeyInfo puts the IdP's certificate into the KeyInfo of a message the attacker signed.
func swapKeyInfo(t testing.TB, s string, idp *testKey) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		t.Fatal(err)
	}
	dsEl(doc.Root(), "Signature/KeyInfo/X509Data/X509Certificate").SetText(b64(idp.Cert.Raw))
	str, _ := doc.WriteToString()
	return str
}

// xmlsec1Template is an Assertion with a signature template for xmlsec1 --sign. sigMethod,
// c14n and the extra reference let the tests make validly signed shapes we must still refuse.
func xmlsec1Template(sigMethod, c14n, extraRef string) string {
	return `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" IssueInstant="2026-03-04T05:06:07Z">` +
		`<saml:Issuer>https://idp.example.no</saml:Issuer>` +
		`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + c14n + `"/>` +
		`<ds:SignatureMethod Algorithm="` + sigMethod + `"/>` +
		`<ds:Reference URI="#_a1"><ds:Transforms>` +
		`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
		`<ds:Transform Algorithm="` + c14n + `"/>` +
		`</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>` +
		extraRef +
		`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>` +
		`<saml:Subject><saml:NameID>user@user.com.evil.com</saml:NameID></saml:Subject>` +
		`<saml:Advice ID="_other"><saml:AssertionIDRef>x</saml:AssertionIDRef></saml:Advice>` +
		`</saml:Assertion>`
}

// xmlsec1Sign signs template with xmlsec1; keyArgs name the key (--privkey-pem or --hmackey).
func xmlsec1Sign(t testing.TB, template string, keyArgs ...string) string {
	t.Helper()
	xmlsec1 := requireTool(t, "xmlsec1")
	dir := t.TempDir()
	in := writeFile(t, dir, "tmpl.xml", []byte(template))
	out := filepath.Join(dir, "signed.xml")
	args := append([]string{"--sign"}, keyArgs...)
	args = append(args, "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Advice", "--output", out, in)
	if _, err := run(xmlsec1, args...); err != nil {
		t.Fatalf("xmlsec1 --sign: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// xmlsec1Verify reports whether xmlsec1 accepts the signature of the element with ID attribute
// of type idType in doc, trusting cert.
func xmlsec1Verify(t testing.TB, doc []byte, k *testKey, idType string) bool {
	t.Helper()
	xmlsec1 := requireTool(t, "xmlsec1")
	dir := t.TempDir()
	cert := writeFile(t, dir, "cert.pem", k.certPEM())
	f := writeFile(t, dir, "doc.xml", doc)
	_, err := run(xmlsec1, "--verify", "--pubkey-cert-pem", cert, "--id-attr:ID", idType, f)
	return err == nil
}

// TestVerifyEnvelopedXmlsec1Signed: signatures made by an independent signer. The plain shape
// verifies; shapes xmlsec1 happily signs and verifies, but our profile forbids, are refused.
func TestVerifyEnvelopedXmlsec1Signed(t *testing.T) {
	idp := newTestKey(t, "idp")
	dir := t.TempDir()
	keyCert := writeFile(t, dir, "idp.key", idp.keyPEM()) + "," + writeFile(t, dir, "idp.crt", idp.certPEM())
	trusted := []*x509.Certificate{idp.Cert}
	const assertionID = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"

	t.Run("ok/rsa-sha256-exc-c14n", func(t *testing.T) {
		s := xmlsec1Sign(t, xmlsec1Template(AlgRSASHA256, algExcC14N, ""), "--privkey-pem", keyCert)
		v, err := verifyEnveloped(parseRoot(t, s), trusted, DefaultAlgorithms())
		if err != nil {
			t.Fatal(err)
		}
		if text(firstChild(firstChild(v, NSAssertion, "Subject"), NSAssertion, "NameID")) != "user@user.com.evil.com" {
			t.Error("NameID lost")
		}
	})
	t.Run("fail/xmlsec1-signed-but-tampered", func(t *testing.T) {
		s := xmlsec1Sign(t, xmlsec1Template(AlgRSASHA256, algExcC14N, ""), "--privkey-pem", keyCert)
		s = strings.Replace(s, "user@user.com.evil.com", "admin@user.com.evil.com", 1)
		if xmlsec1Verify(t, []byte(s), idp, assertionID) {
			t.Fatal("xmlsec1 accepts a tampered document: the control is broken")
		}
		_, err := verifyEnveloped(parseRoot(t, s), trusted, DefaultAlgorithms())
		wantReason(t, err, ReasonSignature)
	})
	for _, tc := range []struct {
		name string
		tmpl string
		key  []string
		want Reason
	}{
		{"fail/with-comments-validly-signed", xmlsec1Template(AlgRSASHA256, "http://www.w3.org/2001/10/xml-exc-c14n#WithComments", ""), nil, ReasonAlgorithm},
		{"fail/two-references-validly-signed", xmlsec1Template(AlgRSASHA256, algExcC14N,
			`<ds:Reference URI="#_other"><ds:Transforms><ds:Transform Algorithm="`+algExcC14N+`"/></ds:Transforms>`+
				`<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>`), nil, ReasonSignature},
		// pysaml2 CVE-2021-21239: HMAC keyed with the IdP's public certificate, which anyone has.
		{"fail/hmac-keyed-with-public-cert", strings.Replace(xmlsec1Template("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", algExcC14N, ""),
			"<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>", "", 1), []string{"--hmackey", writeFile(t, dir, "pub.crt", idp.certPEM())}, ReasonAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == nil {
				key = []string{"--privkey-pem", keyCert}
			}
			s := xmlsec1Sign(t, tc.tmpl, key...)
			_, err := verifyEnveloped(parseRoot(t, s), trusted, DefaultAlgorithms())
			wantReason(t, err, tc.want)
		})
	}
}

func TestArtifactResolveIndependent(t *testing.T) {
	sp := newTestKey(t, "sp")
	other := newTestKey(t, "other")
	art := Artifact{EndpointIndex: 1, SourceID: SourceID("https://idp.example.no")}
	copy(art.MessageHandle[:], "0123456789abcdefghij")
	const artifactResolve = NSProtocol + ":ArtifactResolve"
	for _, alg := range []string{AlgRSASHA256, AlgRSASHA1} {
		t.Run("ok/"+alg[strings.LastIndex(alg, "#")+1:], func(t *testing.T) {
			env, err := sp.signer(alg).ArtifactResolve("_ar1", "https://sp.example.no/saml", "https://idp.example.no/resolve", art.String(), dsigNow)
			if err != nil {
				t.Fatal(err)
			}
			if !xmlsec1Verify(t, env, sp, artifactResolve) {
				_, err := run("xmlsec1", "--verify", "--pubkey-cert-pem", writeFile(t, t.TempDir(), "c.pem", sp.certPEM()), "--id-attr:ID", artifactResolve, writeFile(t, t.TempDir(), "d.xml", env))
				t.Fatalf("xmlsec1 rejects our ArtifactResolve signature: %v\n%s", err, env)
			}
			if xmlsec1Verify(t, env, other, artifactResolve) {
				t.Fatal("xmlsec1 accepts it with another certificate: the control is broken")
			}
			tampered := strings.Replace(string(env), art.String(), Artifact{EndpointIndex: 2, SourceID: art.SourceID}.String(), 1)
			if xmlsec1Verify(t, []byte(tampered), sp, artifactResolve) {
				t.Fatal("xmlsec1 accepts a changed artifact: the control is broken")
			}

			// The ArtifactResolve alone must satisfy the protocol schema, with the Signature in
			// its schema position (after Issuer, before Artifact).
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(env); err != nil {
				t.Fatal(err)
			}
			env0 := doc.Root()
			if env0.Tag != "Envelope" || env0.NamespaceURI() != NSSOAP11 {
				t.Fatalf("not a SOAP 1.1 envelope: %s", env0.Tag)
			}
			body := firstChild(env0, NSSOAP11, "Body")
			if body == nil || len(body.ChildElements()) != 1 {
				t.Fatal("SOAP Body must hold exactly the ArtifactResolve")
			}
			ar := body.ChildElements()[0]
			var order []string
			for _, c := range ar.ChildElements() {
				order = append(order, c.Tag)
			}
			if strings.Join(order, ",") != "Issuer,Signature,Artifact" {
				t.Errorf("ArtifactResolve children %v", order)
			}
			alone := etree.NewDocument()
			alone.SetRoot(ar.Copy())
			b, err := alone.WriteToBytes()
			if err != nil {
				t.Fatal(err)
			}
			validateSchema(t, b)
			if !xmlsec1Verify(t, b, sp, artifactResolve) {
				t.Error("xmlsec1 rejects the ArtifactResolve outside its envelope")
			}

			// And our own reader (the dev IdP) agrees.
			algs := DefaultAlgorithms()
			if alg == AlgRSASHA1 {
				algs = algs.WithSHA1()
			}
			var asked []string
			keys := func(certs ...*x509.Certificate) func(string) []*x509.Certificate {
				return func(issuer string) []*x509.Certificate { asked = append(asked, issuer); return certs }
			}
			id, issuer, got, err := ParseArtifactResolve(env, keys(sp.Cert), algs, DefaultLimits())
			if err != nil || id != "_ar1" || issuer != "https://sp.example.no/saml" || got != art.String() {
				t.Fatalf("ParseArtifactResolve = %q %q %q %v", id, issuer, got, err)
			}
			if len(asked) != 1 || asked[0] != "https://sp.example.no/saml" {
				t.Errorf("keys asked for %q, want the claimed issuer once", asked)
			}
			_, _, _, err = ParseArtifactResolve(env, keys(other.Cert), algs, DefaultLimits())
			wantReason(t, err, ReasonSignature)
			_, _, _, err = ParseArtifactResolve(env, keys(), algs, DefaultLimits())
			wantReason(t, err, ReasonSignature)
			_, _, _, err = ParseArtifactResolve([]byte(tampered), keys(sp.Cert), algs, DefaultLimits())
			wantReason(t, err, ReasonSignature)
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
