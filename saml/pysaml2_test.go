package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
)

// The independent check: pysaml2 (a real IdP implementation, signing and encrypting through
// xmlsec1) answers our SP, and our Verifier accepts what it should and nothing else.

const (
	pyIdPEntityID = "https://idp.pysaml2.example"
	pySPEntityID  = "https://sp.example.no/saml"
	pyACS         = "https://sp.example.no/saml/acs"
	pyRequestID   = "_9f1c2b3a4d5e6f708192a3b4c5d6e7f809a1b2c3"
	// A synthetic test person (Tenor), valid per PROFILE §8; never a real person.
	pyNationalID = "20914695016"
	pyNameID     = "_transient-0a1b2c3d4e5f"
)

// pysaml2Input is what testdata/pysaml2/make_response.py reads.
type pysaml2Input struct {
	SPEntityID       string            `json:"sp_entity_id"`
	ACSURL           string            `json:"acs_url"`
	SPEncCert        string            `json:"sp_enc_cert"` // PEM file
	IdPEntityID      string            `json:"idp_entity_id"`
	IdPKey           string            `json:"idp_key"`  // PEM file
	IdPCert          string            `json:"idp_cert"` // PEM file
	InResponseTo     string            `json:"in_response_to"`
	NameID           string            `json:"name_id"`
	Attributes       map[string]string `json:"attributes"`
	ClassRef         string            `json:"class_ref"`
	SignResponse     bool              `json:"sign_response"`
	SignAssertion    bool              `json:"sign_assertion"`
	EncryptAssertion bool              `json:"encrypt_assertion"`
	Alg              string            `json:"alg"` // sha256 or sha1
}

type pysaml2Env struct {
	idp, sp, otherSP *testKey
	idpKey, idpCert  string
	spCert, otherSPC string
}

func newPysaml2Env(t *testing.T) *pysaml2Env {
	requireTool(t, "pysaml2")
	requireTool(t, "xmlsec1")
	e := &pysaml2Env{idp: newTestKey(t, "idp"), sp: newTestKey(t, "sp"), otherSP: newTestKey(t, "other-sp")}
	dir := t.TempDir()
	e.idpKey = writeFile(t, dir, "idp.key", e.idp.keyPEM())
	e.idpCert = writeFile(t, dir, "idp.crt", e.idp.certPEM())
	e.spCert = writeFile(t, dir, "sp.crt", e.sp.certPEM())
	e.otherSPC = writeFile(t, dir, "other-sp.crt", e.otherSP.certPEM())
	return e
}

// input is the normal answer: ID-porten attributes at level 4, assertion signed and encrypted
// for our SP, response unsigned (as on the artifact path, where the ArtifactResponse is signed).
func (e *pysaml2Env) input() pysaml2Input {
	return pysaml2Input{
		SPEntityID: pySPEntityID, ACSURL: pyACS, SPEncCert: e.spCert,
		IdPEntityID: pyIdPEntityID, IdPKey: e.idpKey, IdPCert: e.idpCert,
		InResponseTo: pyRequestID, NameID: pyNameID,
		Attributes: map[string]string{
			"uid": pyNationalID, "SecurityLevel": "4", "AuthMethod": "BankID Mobil", "Culture": "nn",
		},
		ClassRef:      identity.ClassRefSmartcardPKI,
		SignAssertion: true, EncryptAssertion: true,
		Alg: "sha256",
	}
}

// response runs pysaml2 and returns the decoded SAMLResponse XML.
func (e *pysaml2Env) response(t *testing.T, in pysaml2Input) []byte {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, t.TempDir(), "input.json", b)
	out, err := run(systemPython, filepath.Join("testdata", "pysaml2", "make_response.py"), f)
	if err != nil {
		t.Fatalf("make_response.py: %v", err)
	}
	xml, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("SAMLResponse is not base64: %v", err)
	}
	return xml
}

func (e *pysaml2Env) verifier(keys ...*rsa.PrivateKey) Verifier {
	if keys == nil {
		keys = []*rsa.PrivateKey{e.sp.Key}
	}
	return Verifier{
		EntityID:       pySPEntityID,
		DecryptionKeys: keys,
		Skew:           3 * time.Minute,
		MaxAge:         5 * time.Minute,
		Limits:         DefaultLimits(),
	}
}

func (e *pysaml2Env) expected(mod func(*IdP)) Expected {
	idp := &IdP{
		Name:                      "pysaml2",
		Descriptor:                &IdPDescriptor{EntityID: pyIdPEntityID, SigningCerts: []*x509.Certificate{e.idp.Cert}},
		Algorithms:                DefaultAlgorithms(),
		InResponseTo:              InResponseToAuthnRequest,
		RequireEncryptedAssertion: true,
		AttributeMap:              identity.PresetIDPorten(),
		AllowSynthetic:            true,
	}
	if mod != nil {
		mod(idp)
	}
	return Expected{IdP: idp, AuthnRequestID: pyRequestID, ACSURL: pyACS, Now: time.Now()}
}

func TestPysaml2Response(t *testing.T) {
	e := newPysaml2Env(t)

	t.Run("ok/signed-encrypted-assertion", func(t *testing.T) {
		xml := e.response(t, e.input())
		if !strings.Contains(string(xml), "EncryptedAssertion") || strings.Contains(string(xml), pyNationalID) {
			t.Fatal("pysaml2 did not encrypt the assertion")
		}
		res, err := e.verifier().VerifyPOSTResponse(xml, e.expected(nil))
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		id := res.Identity
		if id.NationalID != pyNationalID || id.Kind != identity.KindSyntheticFNR || id.Level != 4 ||
			id.LoA != identity.LoAHigh || id.AuthMethod != "BankID Mobil" || id.Culture != "nn" ||
			id.IdP != "pysaml2" || id.NameID != pyNameID || id.NameIDFormat != NameIDFormatTransient ||
			id.SessionIndex == "" || id.Instrument != identity.InstrumentUnknown {
			t.Errorf("identity %+v", id)
		}
		if res.AssertionID == "" || res.ReplayUntil.Before(time.Now().Add(4*time.Minute)) {
			t.Errorf("AssertionID %q ReplayUntil %v", res.AssertionID, res.ReplayUntil)
		}
	})
	t.Run("ok/signed-response-and-encrypted-assertion", func(t *testing.T) {
		in := e.input()
		in.SignResponse = true
		in.Attributes["SecurityLevel"] = "3"
		in.ClassRef = identity.ClassRefPasswordProtectedTransport
		res, err := e.verifier().VerifyPOSTResponse(e.response(t, in), e.expected(nil))
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		if res.Identity.Level != 3 {
			t.Errorf("level %d", res.Identity.Level)
		}
	})
	t.Run("ok/decryption-key-rollover", func(t *testing.T) {
		_, err := e.verifier(e.otherSP.Key, e.sp.Key).VerifyPOSTResponse(e.response(t, e.input()), e.expected(nil))
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
	})
	t.Run("ok/sha1-where-allowed", func(t *testing.T) {
		in := e.input()
		in.Alg = "sha1"
		xml := e.response(t, in)
		_, err := e.verifier().VerifyPOSTResponse(xml, e.expected(func(idp *IdP) { idp.Algorithms = DefaultAlgorithms().WithSHA1() }))
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		// The same answer is refused by an IdP configuration that keeps the SHA-256 default.
		_, err = e.verifier().VerifyPOSTResponse(xml, e.expected(nil))
		wantReason(t, err, ReasonAlgorithm)
	})

	// Plain (signed, not encrypted) answers, so that a byte of the signed content can be changed.
	plain := e.input()
	plain.EncryptAssertion = false
	plainXML := e.response(t, plain)
	notEncrypted := func(idp *IdP) { idp.RequireEncryptedAssertion = false }
	t.Run("ok/plain-signed-assertion", func(t *testing.T) {
		if _, err := e.verifier().VerifyPOSTResponse(plainXML, e.expected(notEncrypted)); err != nil {
			t.Fatalf("rejected: %v", err)
		}
	})
	t.Run("fail/plain-assertion-when-encryption-required", func(t *testing.T) {
		_, err := e.verifier().VerifyPOSTResponse(plainXML, e.expected(nil))
		wantReason(t, err, ReasonDecrypt)
	})
	t.Run("fail/nameid-byte-changed", func(t *testing.T) {
		changed := strings.Replace(string(plainXML), ">"+pyNameID+"<", ">"+pyNameID[:len(pyNameID)-1]+"0<", 1)
		if changed == string(plainXML) {
			t.Fatal("NameID not found in the pysaml2 output")
		}
		_, err := e.verifier().VerifyPOSTResponse([]byte(changed), e.expected(notEncrypted))
		wantReason(t, err, ReasonSignature)
	})
	t.Run("fail/uid-changed-to-another-valid-number", func(t *testing.T) {
		changed := strings.Replace(string(plainXML), ">"+pyNationalID+"<", ">31129956715<", 1)
		if changed == string(plainXML) {
			t.Fatal("uid not found in the pysaml2 output")
		}
		_, err := e.verifier().VerifyPOSTResponse([]byte(changed), e.expected(notEncrypted))
		wantReason(t, err, ReasonSignature)
	})
	t.Run("fail/assertion-unsigned", func(t *testing.T) {
		in := plain
		in.SignAssertion = false
		in.SignResponse = true // a signed Response does not stand in for the assertion's signature
		_, err := e.verifier().VerifyPOSTResponse(e.response(t, in), e.expected(notEncrypted))
		wantReason(t, err, ReasonSignature)
	})

	for _, tc := range []struct {
		name string
		mod  func(*pysaml2Input)
		exp  func(*Expected)
		v    func(*Verifier)
		want Reason
	}{
		{name: "fail/wrong-in-response-to", mod: func(in *pysaml2Input) { in.InResponseTo = "_someone-elses-request" }, want: ReasonInResponseTo},
		{name: "fail/our-request-id-but-other-login", exp: func(x *Expected) { x.AuthnRequestID = "_another-pending-login" }, want: ReasonInResponseTo},
		{name: "fail/wrong-acs", mod: func(in *pysaml2Input) { in.ACSURL = "https://evil.example/acs" }, want: ReasonDestination},
		{name: "fail/arrived-at-other-acs", exp: func(x *Expected) { x.ACSURL = "https://sp.example.no/saml/acs2" }, want: ReasonDestination},
		{name: "fail/wrong-audience", mod: func(in *pysaml2Input) { in.SPEntityID = "https://other-sp.example.no" }, want: ReasonAudience},
		{name: "fail/wrong-idp-entity", mod: func(in *pysaml2Input) { in.IdPEntityID = "https://evil-idp.example" }, want: ReasonIssuer},
		{name: "fail/encrypted-for-other-sp", mod: func(in *pysaml2Input) { in.SPEncCert = e.otherSPC }, want: ReasonDecrypt},
		{name: "fail/no-decryption-key", v: func(v *Verifier) { v.DecryptionKeys = nil }, want: ReasonDecrypt},
		{name: "fail/signed-by-untrusted-idp-key", exp: func(x *Expected) {
			x.IdP.Descriptor.SigningCerts = []*x509.Certificate{e.otherSP.Cert}
		}, want: ReasonSignature},
		{name: "fail/synthetic-person-in-production", exp: func(x *Expected) { x.IdP.AllowSynthetic = false }, want: ReasonAttributes},
		{name: "fail/level-attribute-disagrees-with-classref", mod: func(in *pysaml2Input) {
			in.ClassRef = identity.ClassRefPasswordProtectedTransport
		}, want: ReasonAttributes},
		{name: "fail/expired", exp: func(x *Expected) { x.Now = x.Now.Add(20 * time.Minute) }, want: ReasonTime},
		{name: "fail/issued-in-the-future", exp: func(x *Expected) { x.Now = x.Now.Add(-10 * time.Minute) }, want: ReasonTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case runs pysaml2 and xmlsec1, about a second
			in := e.input()
			if tc.mod != nil {
				tc.mod(&in)
			}
			exp := e.expected(nil)
			if tc.exp != nil {
				tc.exp(&exp)
			}
			v := e.verifier()
			if tc.v != nil {
				tc.v(&v)
			}
			_, err := v.VerifyPOSTResponse(e.response(t, in), exp)
			wantReason(t, err, tc.want)
		})
	}
}
