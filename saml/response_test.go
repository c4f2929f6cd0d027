package saml

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
)

// encryptedData encrypts plain for pub as XML Encryption does (aes128-cbc with the IV in front
// and XML Encryption padding, key by rsa-oaep-mgf1p), written here with the standard library
// only so that it shares nothing with saml/xenc.
func encryptedData(t testing.TB, plain []byte, pub *rsa.PublicKey) string {
	t.Helper()
	key := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	rand.Read(key)
	rand.Read(iv)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte{}, plain...), make([]byte, pad)...)
	padded[len(padded)-1] = byte(pad)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return `<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>` +
		`<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>` +
		`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>` +
		`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(wrapped) + `</xenc:CipherValue></xenc:CipherData>` +
		`</xenc:EncryptedKey></ds:KeyInfo>` +
		`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(append(iv, ct...)) + `</xenc:CipherValue></xenc:CipherData>` +
		`</xenc:EncryptedData>`
}

// TestDecryptedAssertionNamespaceContext: xmlsec1 (and pysaml2 with
// encrypt_assertion_self_contained=False) encrypt the Assertion as libxml2 dumps it, without the
// declarations it inherits, so its "saml" prefix is bound only outside the EncryptedData. Many
// IdPs also repeat xmlns:saml on EncryptedAssertion. Either way decryption must succeed and the
// answer must fail only later, for the missing assertion signature.
func TestDecryptedAssertionNamespaceContext(t *testing.T) {
	sp := newTestKey(t, "sp")
	idp := newTestKey(t, "idp")
	now := time.Now().UTC()
	ts := FormatTime(now)
	plain := `<saml:Assertion ID="_a1" Version="2.0" IssueInstant="` + ts + `"><saml:Issuer>https://idp.example.no</saml:Issuer></saml:Assertion>`
	ed := encryptedData(t, []byte(plain), &sp.Key.PublicKey)
	response := func(eaDecl string) []byte {
		return []byte(`<samlp:Response xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="_r1" Version="2.0" IssueInstant="` + ts + `" InResponseTo="_req" Destination="https://sp.example.no/saml/acs">` +
			`<saml:Issuer>https://idp.example.no</saml:Issuer>` +
			`<samlp:Status><samlp:StatusCode Value="` + StatusSuccess + `"/></samlp:Status>` +
			`<saml:EncryptedAssertion` + eaDecl + `>` + ed + `</saml:EncryptedAssertion></samlp:Response>`)
	}
	v := Verifier{EntityID: "https://sp.example.no/saml", DecryptionKeys: []*rsa.PrivateKey{sp.Key}, Skew: time.Minute, MaxAge: time.Minute, Limits: DefaultLimits()}
	exp := Expected{
		IdP: &IdP{
			Name:                      "test",
			Descriptor:                &IdPDescriptor{EntityID: "https://idp.example.no", SigningCerts: []*x509.Certificate{idp.Cert}},
			Algorithms:                DefaultAlgorithms(),
			InResponseTo:              InResponseToAuthnRequest,
			RequireEncryptedAssertion: true,
			AttributeMap:              identity.PresetIDPorten(),
		},
		AuthnRequestID: "_req",
		ACSURL:         "https://sp.example.no/saml/acs",
		Now:            now,
	}
	for _, tc := range []struct{ name, decl string }{
		{"ok/prefix-bound-on-response", ""},
		{"ok/prefix-bound-on-response-and-encrypted-assertion", ` xmlns:saml="` + NSAssertion + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyPOSTResponse(response(tc.decl), exp)
			if err != nil && strings.Contains(err.Error(), "duplicate attribute") {
				t.Errorf("decryption context declared xmlns:saml twice: %v", err)
			}
			// Decrypted and parsed: what stops it is the unsigned assertion.
			wantReason(t, err, ReasonSignature)
		})
	}
}
