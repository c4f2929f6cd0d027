package xenc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// xmlsec1 (Debian package xmlsec1) is the independent implementation we interoperate with.
func needXMLSec1(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmlsec1 not found; install the Debian package xmlsec1 (required with CI=true)")
		}
		t.Skip("xmlsec1 not found; install the Debian package xmlsec1 to run the interoperability tests")
	}
	return path
}

// xmlsecTransforms reports the transform names xmlsec1 registers; xmlsec1 1.2.x lacks the xmlenc11
// rsa-oaep ("rsa-oaep-enc11" in 1.3).
func xmlsecTransforms(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--list-transforms").CombinedOutput()
	if err != nil {
		t.Fatalf("xmlsec1 --list-transforms: %v\n%s", err, out)
	}
	return string(out)
}

// writeKeys writes the right test key as PKCS#8 and its public key as PKIX PEM.
func writeKeys(t *testing.T, dir string) (priv, pub string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(rightKey())
	if err != nil {
		t.Fatal(err)
	}
	priv = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	der, err = x509.MarshalPKIXPublicKey(&rightKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub = filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

type xmlsecCombo struct {
	block, kt string
	// keyMethod is the inside of the EncryptedKey's EncryptionMethod in the xmlsec1 template.
	keyMethod string
}

func (c xmlsecCombo) name() string { return short(c.block) + "/" + short(c.kt) }

func (c xmlsecCombo) sessionKey() string {
	if strings.Contains(c.block, "128") {
		return "aes-128"
	}
	return "aes-256"
}

func (c xmlsecCombo) supported(t *testing.T, transforms string) {
	if c.kt == RSAOAEP11 && !strings.Contains(transforms, `"rsa-oaep-enc11"`) {
		t.Skip("this xmlsec1 does not implement xmlenc11 rsa-oaep (added in xmlsec 1.3)")
	}
}

func xmlsecCombos() []xmlsecCombo {
	var cs []xmlsecCombo
	for _, b := range []string{AES128CBC, AES256CBC, AES128GCM, AES256GCM} {
		cs = append(cs,
			xmlsecCombo{b, RSAOAEPMGF1P, `<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>`},
			xmlsecCombo{b, RSAOAEPMGF1P, ``},
			xmlsecCombo{b, RSA15, ``},
			xmlsecCombo{b, RSAOAEP11, `<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/>`},
		)
	}
	return cs
}

// TestXMLSec1Encrypts: xmlsec1 encrypts a SAML Assertion, we decrypt it.
func TestXMLSec1Encrypts(t *testing.T) {
	bin := needXMLSec1(t)
	transforms := xmlsecTransforms(t, bin)
	dir := t.TempDir()
	_, pub := writeKeys(t, dir)
	data := filepath.Join(dir, "data.xml")
	// The Assertion sits in an EncryptedAssertion, which xmlsec1 keeps around the EncryptedData it
	// substitutes for the Assertion: the shape pysaml2 produces.
	payload := strings.Replace(sampleResponse, `<samlp:Response`, `<saml:EncryptedAssertion`, 1)
	payload = payload[:strings.Index(payload, `<saml:Issuer>`)] + payload[strings.Index(payload, `<saml:Assertion `):]
	payload = strings.Replace(payload, `</samlp:Response>`, `</saml:EncryptedAssertion>`, 1)
	if err := os.WriteFile(data, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, c := range xmlsecCombos() {
		t.Run("ok/"+c.name()+map[bool]string{true: "/with-digest", false: ""}[strings.Contains(c.keyMethod, "DigestMethod")], func(t *testing.T) {
			c.supported(t, transforms)
			tmpl := filepath.Join(dir, "tmpl.xml")
			if err := os.WriteFile(tmpl, []byte(`<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element">`+
				`<xenc:EncryptionMethod Algorithm="`+c.block+`"/><ds:KeyInfo><xenc:EncryptedKey>`+
				`<xenc:EncryptionMethod Algorithm="`+c.kt+`">`+c.keyMethod+`</xenc:EncryptionMethod>`+
				`<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>`+
				`<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>`), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.xml")
			cmd := exec.Command(bin, "--encrypt", "--pubkey-pem", pub, "--session-key", c.sessionKey(),
				"--xml-data", data, "--node-name", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", "--output", out, tmpl)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("xmlsec1 --encrypt (combination %d): %v\n%s", i, err, msg)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromFile(out); err != nil {
				t.Fatal(err)
			}
			pt, err := Decrypt(doc.Root(), []*rsa.PrivateKey{wrongKey(), rightKey()}, Options{})
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			checkAssertion(t, pt)
		})
	}
}

// TestXMLSec1Decrypts: we encrypt, xmlsec1 decrypts.
func TestXMLSec1Decrypts(t *testing.T) {
	bin := needXMLSec1(t)
	transforms := xmlsecTransforms(t, bin)
	dir := t.TempDir()
	priv, _ := writeKeys(t, dir)
	seen := map[string]bool{}
	for _, c := range xmlsecCombos() {
		if seen[c.name()] {
			continue
		}
		seen[c.name()] = true
		t.Run("ok/"+c.name(), func(t *testing.T) {
			c.supported(t, transforms)
			ed, err := Encrypt(sampleAssertion(t), &rightKey().PublicKey, c.block, c.kt, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "enc.xml")
			if err := os.WriteFile(in, []byte(toString(t, container(t, ed, false, false))), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "--decrypt", "--privkey-pem", priv, in).Output()
			if err != nil {
				msg := ""
				if ee, ok := err.(*exec.ExitError); ok {
					msg = string(ee.Stderr)
				}
				t.Fatalf("xmlsec1 --decrypt: %v\n%s", err, msg)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(out); err != nil {
				t.Fatalf("xmlsec1 output does not parse: %v", err)
			}
			a := doc.Root().SelectElement("Assertion")
			if a == nil {
				t.Fatal("xmlsec1 output has no Assertion")
			}
			d := etree.NewDocument()
			d.SetRoot(a.Copy())
			b, err := d.WriteToBytes()
			if err != nil {
				t.Fatal(err)
			}
			checkAssertion(t, b)
		})
	}
}
