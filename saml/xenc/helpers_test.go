package xenc

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"
)

// Keys are generated at test time and never committed.
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func rightKey() *rsa.PrivateKey { return testKeys()[0] }
func wrongKey() *rsa.PrivateKey { return testKeys()[1] }

// sampleResponse holds an Assertion whose saml prefix is declared on an ancestor, so Encrypt must
// carry the declaration into the plaintext.
const sampleResponse = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">` +
	`<saml:Issuer>https://idp.example.no</saml:Issuer>` +
	`<saml:Assertion ID="_a1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">` +
	`<saml:Issuer>https://idp.example.no</saml:Issuer>` +
	`<saml:AttributeStatement><saml:Attribute Name="Culture"><saml:AttributeValue>nb — æøå</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>` +
	`</saml:Assertion></samlp:Response>`

func sampleAssertion(t testing.TB) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(sampleResponse); err != nil {
		t.Fatal(err)
	}
	return doc.Root().SelectElement("Assertion")
}

// checkAssertion asserts that plaintext is the sample Assertion.
func checkAssertion(t testing.TB, plain []byte) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(plain); err != nil {
		t.Fatalf("plaintext does not parse: %v", err)
	}
	a := doc.Root()
	if a == nil || a.Tag != "Assertion" || a.NamespaceURI() != "urn:oasis:names:tc:SAML:2.0:assertion" {
		t.Fatalf("plaintext root is not a saml:Assertion")
	}
	if id := a.SelectAttrValue("ID", ""); id != "_a1" {
		t.Fatalf("Assertion ID = %q", id)
	}
	v := a.FindElement("./AttributeStatement/Attribute/AttributeValue")
	if v == nil || v.Text() != "nb — æøå" {
		t.Fatalf("AttributeValue not preserved")
	}
}

// container wraps an EncryptedData in a saml:EncryptedAssertion. With sibling, the EncryptedKey is
// moved out of KeyInfo to sit beside EncryptedData, referenced by a RetrievalMethod if retrieval.
func container(t testing.TB, ed *etree.Element, sibling, retrieval bool) *etree.Element {
	t.Helper()
	c := etree.NewElement("saml:EncryptedAssertion")
	c.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
	c.AddChild(ed)
	if !sibling {
		return c
	}
	ki := ed.SelectElement("KeyInfo")
	ek := ki.SelectElement("EncryptedKey")
	ki.RemoveChild(ek)
	// Out of KeyInfo, the EncryptedKey needs the declarations it inherited there.
	ek.CreateAttr("xmlns:xenc", nsXENC)
	ek.CreateAttr("xmlns:ds", nsDS)
	ek.CreateAttr("Id", "_k1")
	c.AddChild(ek)
	if retrieval {
		rm := ki.CreateElement("ds:RetrievalMethod")
		rm.CreateAttr("Type", typeEncryptedKey)
		rm.CreateAttr("URI", "#_k1")
	}
	return c
}

// parse reads a document and returns its root as the container.
func parse(t testing.TB, s string) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		t.Fatalf("test document does not parse: %v", err)
	}
	return doc.Root()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// render builds an EncryptedAssertion from its variable parts, for hand-made (often hostile) cases.
func render(blockAlg, keyMethod, keyCipherData, dataCipherData string) string {
	return `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` +
		`<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<xenc:EncryptionMethod Algorithm="` + blockAlg + `"/>` +
		`<ds:KeyInfo><xenc:EncryptedKey>` + keyMethod + `<xenc:CipherData>` + keyCipherData + `</xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>` +
		`<xenc:CipherData>` + dataCipherData + `</xenc:CipherData>` +
		`</xenc:EncryptedData></saml:EncryptedAssertion>`
}

func cv(b []byte) string { return `<xenc:CipherValue>` + b64(b) + `</xenc:CipherValue>` }

const mgf1pMethod = `<xenc:EncryptionMethod Algorithm="` + RSAOAEPMGF1P + `"/>`

// wrapOAEP wraps cek for the right key with the given OAEP parameters.
func wrapOAEP(t testing.TB, cek []byte, hash, mgf crypto.Hash, label []byte) []byte {
	t.Helper()
	ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, &rightKey().PublicKey, cek, &rsa.OAEPOptions{Hash: hash, MGFHash: mgf, Label: label})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// cbcRaw encrypts already padded plaintext and returns IV || ciphertext.
func cbcRaw(t testing.TB, key, padded []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, aes.BlockSize+len(padded))
	if _, err := rand.Read(out[:aes.BlockSize]); err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCEncrypter(block, out[:aes.BlockSize]).CryptBlocks(out[aes.BlockSize:], padded)
	return out
}

func gcmRaw(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	return aead.Seal(nonce, nonce, plain, nil)
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pad16 pads with XML Encryption padding: filler bytes, then the count.
func pad16(plain []byte, filler byte) []byte {
	n := 16 - len(plain)%16
	out := append([]byte{}, plain...)
	out = append(out, []byte(strings.Repeat(string([]byte{filler}), n-1))...)
	return append(out, byte(n))
}
