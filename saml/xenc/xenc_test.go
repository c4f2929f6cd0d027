package xenc

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

type decryptCase struct {
	name string
	doc  string
	keys []*rsa.PrivateKey // nil means [rightKey]
	opt  Options
	// want is a substring the plaintext must contain; empty means the case must fail.
	want string
}

func toString(t testing.TB, e *etree.Element) string {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(e)
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// encrypted is a valid document from our own Encrypt.
func encrypted(t testing.TB, blockAlg, kt string, sibling, retrieval bool) string {
	t.Helper()
	ed, err := Encrypt(sampleAssertion(t), &rightKey().PublicKey, blockAlg, kt, rand.Reader)
	if err != nil {
		t.Fatalf("Encrypt(%s, %s): %v", blockAlg, kt, err)
	}
	return toString(t, container(t, ed, sibling, retrieval))
}

func short(uri string) string { return uri[strings.LastIndex(uri, "#")+1:] }

const plainElem = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x"/>`

// decryptCases is shared by TestDecrypt and the FuzzDecrypt corpus.
func decryptCases(t testing.TB) []decryptCase {
	var cs []decryptCase
	blocks := []string{AES128CBC, AES256CBC, AES128GCM, AES256GCM}
	transports := []string{RSAOAEPMGF1P, RSAOAEP11, RSA15}
	for _, b := range blocks {
		for _, kt := range transports {
			for _, place := range []struct {
				name               string
				sibling, retrieval bool
			}{{"keyinfo", false, false}, {"sibling", true, false}, {"sibling-retrievalmethod", true, true}} {
				cs = append(cs, decryptCase{
					name: fmt.Sprintf("ok/roundtrip/%s/%s/%s", short(b), short(kt), place.name),
					doc:  encrypted(t, b, kt, place.sibling, place.retrieval),
					want: `ID="_a1"`,
				})
			}
		}
	}

	k16, k32 := randomBytes(t, 16), randomBytes(t, 32)
	key16 := cv(wrapOAEP(t, k16, crypto.SHA1, crypto.SHA1, nil))
	key32 := cv(wrapOAEP(t, k32, crypto.SHA1, crypto.SHA1, nil))
	goodCBC := cv(cbcRaw(t, k16, pad16([]byte(plainElem), 0xAA)))
	goodGCM := cv(gcmRaw(t, k16, []byte(plainElem)))
	valid := render(AES128CBC, mgf1pMethod, key16, goodCBC)
	validGCM := render(AES128GCM, mgf1pMethod, key16, goodGCM)
	big := []byte(`<a>` + strings.Repeat("x", 2000) + `</a>`)
	bigCBC := render(AES128CBC, mgf1pMethod, key16, cv(cbcRaw(t, k16, pad16(big, 0))))
	bigGCM := render(AES128GCM, mgf1pMethod, key16, cv(gcmRaw(t, k16, big)))
	oaep11 := func(digest, mgf string) string {
		return `<xenc:EncryptionMethod Algorithm="` + RSAOAEP11 + `">` + digest + mgf + `</xenc:EncryptionMethod>`
	}
	dm := func(uri string) string { return `<ds:DigestMethod Algorithm="` + uri + `"/>` }
	mgf := func(name string) string {
		return `<xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#` + name + `"/>`
	}
	right, wrong := rightKey(), wrongKey()

	cs = append(cs,
		decryptCase{name: "ok/handmade/cbc-arbitrary-padding-bytes", doc: valid, want: `ID="_x"`},
		decryptCase{name: "ok/handmade/gcm", doc: validGCM, want: `ID="_x"`},
		decryptCase{name: "ok/two-keys/wrong-then-right", doc: valid, keys: []*rsa.PrivateKey{wrong, right}, want: `ID="_x"`},
		decryptCase{name: "ok/two-keys/rsa15-wrong-then-right", doc: encrypted(t, AES128CBC, RSA15, false, false), keys: []*rsa.PrivateKey{wrong, right}, want: `ID="_a1"`},
		decryptCase{name: "ok/two-keys/right-then-wrong", doc: valid, keys: []*rsa.PrivateKey{right, wrong}, want: `ID="_x"`},
		decryptCase{name: "ok/base64-whitespace", doc: strings.Replace(valid, `<xenc:CipherValue>`, "<xenc:CipherValue>\n  ", 2), want: `ID="_x"`},
		decryptCase{name: "ok/base64-linebreaks", doc: func() string {
			s := b64(cbcRaw(t, k16, pad16([]byte(plainElem), 0)))
			return render(AES128CBC, mgf1pMethod, key16, `<xenc:CipherValue>`+s[:20]+"\r\n\t"+s[20:]+`</xenc:CipherValue>`)
		}(), want: `ID="_x"`},
		decryptCase{name: "ok/no-type-attribute", doc: strings.Replace(valid, ` Type="http://www.w3.org/2001/04/xmlenc#Element"`, "", 1), want: `ID="_x"`},
		decryptCase{name: "ok/other-prefixes", doc: strings.NewReplacer("xenc:", "e:", "xmlns:xenc=", "xmlns:e=", "ds:", "dsig:", "xmlns:ds=", "xmlns:dsig=").Replace(valid), want: `ID="_x"`},
		decryptCase{name: "ok/default-namespace", doc: `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` +
			`<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><EncryptionMethod Algorithm="` + AES128CBC + `"/>` +
			`<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><EncryptedKey xmlns="http://www.w3.org/2001/04/xmlenc#"><EncryptionMethod Algorithm="` + RSAOAEPMGF1P + `"/>` +
			`<CipherData>` + strings.ReplaceAll(key16, "xenc:", "") + `</CipherData></EncryptedKey></KeyInfo>` +
			`<CipherData>` + strings.ReplaceAll(goodCBC, "xenc:", "") + `</CipherData></EncryptedData></saml:EncryptedAssertion>`, want: `ID="_x"`},
		decryptCase{name: "ok/keysize-element", doc: strings.Replace(valid, `<xenc:EncryptionMethod Algorithm="`+AES128CBC+`"/>`, `<xenc:EncryptionMethod Algorithm="`+AES128CBC+`"><xenc:KeySize>128</xenc:KeySize></xenc:EncryptionMethod>`, 1), want: `ID="_x"`},
		decryptCase{name: "ok/mgf1p-sha256-digest", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="`+RSAOAEPMGF1P+`">`+dm("http://www.w3.org/2001/04/xmlenc#sha256")+`</xenc:EncryptionMethod>`,
			cv(wrapOAEP(t, k16, crypto.SHA256, crypto.SHA1, nil)), goodCBC), want: `ID="_x"`},
		decryptCase{name: "ok/oaep11-defaults-sha1", doc: render(AES128CBC, oaep11("", ""), key16, goodCBC), want: `ID="_x"`},
		decryptCase{name: "ok/oaep11-sha512-mgf1sha1", doc: render(AES128CBC, oaep11(dm("http://www.w3.org/2001/04/xmlenc#sha512"), mgf("mgf1sha1")),
			cv(wrapOAEP(t, k16, crypto.SHA512, crypto.SHA1, nil)), goodCBC), want: `ID="_x"`},
		decryptCase{name: "ok/oaep11-sha256-mgf1sha384-label", doc: render(AES128CBC,
			`<xenc:EncryptionMethod Algorithm="`+RSAOAEP11+`"><xenc:OAEPparams>`+b64([]byte("label"))+`</xenc:OAEPparams>`+dm("http://www.w3.org/2001/04/xmlenc#sha256")+mgf("mgf1sha384")+`</xenc:EncryptionMethod>`,
			cv(wrapOAEP(t, k16, crypto.SHA256, crypto.SHA384, []byte("label"))), goodCBC), want: `ID="_x"`},
		decryptCase{name: "ok/max-plaintext-exact", doc: bigCBC, opt: Options{MaxPlaintext: len(big)}, want: "xxx"},
		decryptCase{name: "ok/allowed-options", doc: valid, opt: Options{AllowedBlock: []string{AES128CBC}, AllowedKeyTransport: []string{RSAOAEPMGF1P}}, want: `ID="_x"`},
	)

	for _, n := range []int{0, 1, 15, 16, 17, 27} {
		cs = append(cs,
			decryptCase{name: fmt.Sprintf("fail/cbc-length-%d", n), doc: render(AES128CBC, mgf1pMethod, key16, cv(randomBytes(t, n)))},
			decryptCase{name: fmt.Sprintf("fail/gcm-length-%d", n), doc: render(AES128GCM, mgf1pMethod, key16, cv(randomBytes(t, n)))},
		)
	}
	cs = append(cs,
		decryptCase{name: "fail/cbc-length-33", doc: render(AES128CBC, mgf1pMethod, key16, cv(randomBytes(t, 33)))},
		decryptCase{name: "fail/only-wrong-key", doc: valid, keys: []*rsa.PrivateKey{wrong}},
		decryptCase{name: "fail/only-wrong-key-rsa15", doc: encrypted(t, AES256CBC, RSA15, false, false), keys: []*rsa.PrivateKey{wrong}},
		decryptCase{name: "fail/only-wrong-key-gcm-oaep11", doc: encrypted(t, AES256GCM, RSAOAEP11, true, false), keys: []*rsa.PrivateKey{wrong}},
		decryptCase{name: "fail/no-keys", doc: valid, keys: []*rsa.PrivateKey{}},
		decryptCase{name: "fail/garbage-base64-data", doc: render(AES128CBC, mgf1pMethod, key16, `<xenc:CipherValue>!!not*base64??</xenc:CipherValue>`)},
		decryptCase{name: "fail/garbage-base64-key", doc: render(AES128CBC, mgf1pMethod, `<xenc:CipherValue>%%%</xenc:CipherValue>`, goodCBC)},
		decryptCase{name: "fail/wrapped-key-wrong-length", doc: render(AES128CBC, mgf1pMethod, cv(randomBytes(t, 100)), goodCBC)},
		decryptCase{name: "fail/unwrapped-key-16-for-aes256", doc: render(AES256CBC, mgf1pMethod, key16, cv(cbcRaw(t, k32, pad16([]byte(plainElem), 0))))},
		decryptCase{name: "fail/unwrapped-key-32-for-aes128", doc: render(AES128GCM, mgf1pMethod, key32, goodGCM)},
		decryptCase{name: "fail/rsa15-key-16-for-aes256", doc: render(AES256CBC, `<xenc:EncryptionMethod Algorithm="`+RSA15+`"/>`, cv(func() []byte {
			//lint:ignore SA1019 building a hostile rsa-1_5 case
			c, err := rsa.EncryptPKCS1v15(rand.Reader, &right.PublicKey, k16)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}()), cv(cbcRaw(t, k32, pad16([]byte(plainElem), 0))))},
		decryptCase{name: "fail/padding-byte-0", doc: render(AES128CBC, mgf1pMethod, key16, cv(cbcRaw(t, k16, append(pad16([]byte(plainElem), 0)[:len(pad16([]byte(plainElem), 0))-1], 0))))},
		decryptCase{name: "fail/padding-byte-17", doc: render(AES128CBC, mgf1pMethod, key16, cv(cbcRaw(t, k16, append(pad16([]byte(plainElem), 0)[:len(pad16([]byte(plainElem), 0))-1], 17))))},
		decryptCase{name: "fail/gcm-tag-flipped", doc: render(AES128GCM, mgf1pMethod, key16, cv(func() []byte {
			c := gcmRaw(t, k16, []byte(plainElem))
			c[len(c)-1] ^= 1
			return c
		}()))},
		decryptCase{name: "fail/missing-ciphervalue", doc: render(AES128CBC, mgf1pMethod, key16, ``)},
		decryptCase{name: "fail/missing-key-ciphervalue", doc: render(AES128CBC, mgf1pMethod, ``, goodCBC)},
		decryptCase{name: "fail/two-ciphervalues", doc: render(AES128CBC, mgf1pMethod, key16, goodCBC+goodCBC)},
		decryptCase{name: "fail/ciphervalue-with-child", doc: strings.Replace(valid, `</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>`, `<x/></xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>`, 1)},
		decryptCase{name: "fail/two-encrypteddata", doc: func() string {
			ed := valid[strings.Index(valid, `<xenc:EncryptedData`):strings.Index(valid, `</saml:EncryptedAssertion>`)]
			return strings.Replace(valid, `</saml:EncryptedAssertion>`, ed+`</saml:EncryptedAssertion>`, 1)
		}()},
		decryptCase{name: "fail/no-encrypteddata", doc: `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>`},
		decryptCase{name: "fail/unexpected-container-child", doc: strings.Replace(valid, `</saml:EncryptedAssertion>`, `<saml:Assertion/></saml:EncryptedAssertion>`, 1)},
		decryptCase{name: "fail/cipherreference", doc: render(AES128CBC, mgf1pMethod, key16, `<xenc:CipherReference URI="https://attacker.example/ct"/>`)},
		decryptCase{name: "fail/cipherreference-for-key", doc: render(AES128CBC, mgf1pMethod, `<xenc:CipherReference URI="#x"/>`, goodCBC)},
		decryptCase{name: "fail/unknown-block-algorithm", doc: render("http://www.w3.org/2001/04/xmlenc#tripledes-cbc", mgf1pMethod, key16, goodCBC)},
		decryptCase{name: "fail/aes192-not-supported", doc: render("http://www.w3.org/2001/04/xmlenc#aes192-cbc", mgf1pMethod, key16, goodCBC)},
		decryptCase{name: "fail/no-block-algorithm", doc: strings.Replace(valid, `<xenc:EncryptionMethod Algorithm="`+AES128CBC+`"/>`, ``, 1)},
		decryptCase{name: "fail/unknown-key-transport", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#kw-aes128"/>`, key16, goodCBC)},
		decryptCase{name: "fail/disallowed-block", doc: valid, opt: Options{AllowedBlock: []string{AES256GCM}}},
		decryptCase{name: "fail/disallowed-key-transport", doc: encrypted(t, AES256GCM, RSA15, false, false), opt: Options{AllowedKeyTransport: []string{RSAOAEPMGF1P, RSAOAEP11}}},
		decryptCase{name: "fail/unknown-oaep-digest", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="`+RSAOAEPMGF1P+`">`+dm("http://www.w3.org/2001/04/xmldsig-more#md5")+`</xenc:EncryptionMethod>`, key16, goodCBC)},
		decryptCase{name: "fail/unknown-mgf", doc: render(AES128CBC, oaep11("", mgf("mgf1md5")), key16, goodCBC)},
		decryptCase{name: "fail/mgf-under-mgf1p", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="`+RSAOAEPMGF1P+`">`+mgf("mgf1sha1")+`</xenc:EncryptionMethod>`, key16, goodCBC)},
		decryptCase{name: "fail/digest-under-rsa15", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="`+RSA15+`">`+dm("http://www.w3.org/2000/09/xmldsig#sha1")+`</xenc:EncryptionMethod>`, key16, goodCBC)},
		decryptCase{name: "fail/oaep-label-mismatch", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="`+RSAOAEPMGF1P+`"><xenc:OAEPparams>`+b64([]byte("other"))+`</xenc:OAEPparams></xenc:EncryptionMethod>`, key16, goodCBC)},
		decryptCase{name: "fail/wrong-digest-declared", doc: render(AES128CBC, `<xenc:EncryptionMethod Algorithm="`+RSAOAEPMGF1P+`">`+dm("http://www.w3.org/2001/04/xmlenc#sha256")+`</xenc:EncryptionMethod>`, key16, goodCBC)},
		decryptCase{name: "fail/keysize-mismatch", doc: strings.Replace(valid, `<xenc:EncryptionMethod Algorithm="`+AES128CBC+`"/>`, `<xenc:EncryptionMethod Algorithm="`+AES128CBC+`"><xenc:KeySize>256</xenc:KeySize></xenc:EncryptionMethod>`, 1)},
		decryptCase{name: "fail/type-content", doc: strings.Replace(valid, `Type="http://www.w3.org/2001/04/xmlenc#Element"`, `Type="http://www.w3.org/2001/04/xmlenc#Content"`, 1)},
		decryptCase{name: "fail/prefixed-type-attribute-ignored", doc: strings.Replace(valid, `Type="http://www.w3.org/2001/04/xmlenc#Element"`, `ds:Type="http://www.w3.org/2001/04/xmlenc#Element" Type="http://www.w3.org/2001/04/xmlenc#Content"`, 1)},
		decryptCase{name: "fail/huge-plaintext-cbc", doc: bigCBC, opt: Options{MaxPlaintext: 1000}},
		decryptCase{name: "fail/huge-plaintext-cbc-by-one", doc: bigCBC, opt: Options{MaxPlaintext: len(big) - 1}},
		decryptCase{name: "fail/huge-plaintext-gcm", doc: bigGCM, opt: Options{MaxPlaintext: 1000}},
		decryptCase{name: "fail/huge-ciphervalue-default-limit", doc: render(AES128GCM, mgf1pMethod, key16, `<xenc:CipherValue>`+strings.Repeat("AAAA", 400000)+`</xenc:CipherValue>`)},
		decryptCase{name: "fail/wrong-namespace", doc: strings.Replace(valid, `xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"`, `xmlns:xenc="http://attacker.example/xenc"`, 1)},
		decryptCase{name: "fail/undeclared-prefix", doc: strings.Replace(valid, ` xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"`, ``, 1)},
		decryptCase{name: "fail/no-encryptedkey", doc: strings.Replace(valid, valid[strings.Index(valid, `<ds:KeyInfo>`):strings.Index(valid, `</ds:KeyInfo>`)+len(`</ds:KeyInfo>`)], ``, 1)},
		decryptCase{name: "fail/retrievalmethod-dangling", doc: strings.Replace(encrypted(t, AES128CBC, RSAOAEPMGF1P, true, true), `URI="#_k1"`, `URI="#_k2"`, 1)},
		decryptCase{name: "fail/retrievalmethod-external", doc: strings.Replace(encrypted(t, AES128CBC, RSAOAEPMGF1P, true, true), `URI="#_k1"`, `URI="https://attacker.example/k"`, 1)},
		decryptCase{name: "fail/too-many-encryptedkeys", doc: func() string {
			ek := valid[strings.Index(valid, `<xenc:EncryptedKey>`):strings.Index(valid, `</ds:KeyInfo>`)]
			return strings.Replace(valid, `</ds:KeyInfo>`, strings.Repeat(ek, maxEncryptedKeys)+`</ds:KeyInfo>`, 1)
		}()},
		decryptCase{name: "fail/plaintext-not-element", doc: render(AES128GCM, mgf1pMethod, key16, cv(gcmRaw(t, k16, []byte("just text"))))},
		decryptCase{name: "fail/plaintext-two-elements", doc: render(AES128GCM, mgf1pMethod, key16, cv(gcmRaw(t, k16, []byte("<a/><b/>"))))},
		decryptCase{name: "fail/plaintext-unbalanced", doc: render(AES128GCM, mgf1pMethod, key16, cv(gcmRaw(t, k16, []byte("<a><b></a></b>"))))},
		decryptCase{name: "fail/plaintext-doctype", doc: render(AES128GCM, mgf1pMethod, key16, cv(gcmRaw(t, k16, []byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`))))},
		decryptCase{name: "fail/plaintext-empty", doc: render(AES128GCM, mgf1pMethod, key16, cv(gcmRaw(t, k16, nil)))},
	)
	return cs
}

func TestDecrypt(t *testing.T) {
	for _, tc := range decryptCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = []*rsa.PrivateKey{rightKey()}
			}
			pt, err := Decrypt(parse(t, tc.doc), keys, tc.opt)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Decrypt succeeded, want error")
				}
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("error %v does not wrap ErrDecrypt", err)
				}
				if pt != nil {
					t.Fatalf("plaintext returned with an error")
				}
				t.Logf("rejected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Contains(pt, []byte(tc.want)) {
				t.Fatalf("plaintext lacks %q", tc.want)
			}
			if strings.Contains(tc.want, "_a1") {
				checkAssertion(t, pt)
			}
		})
	}
}

func TestDecryptNilContainer(t *testing.T) {
	if _, err := Decrypt(nil, []*rsa.PrivateKey{rightKey()}, Options{}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
}

// The reason must never carry key material or plaintext, so it is one of a few fixed strings.
func TestDecryptErrorsDoNotEcho(t *testing.T) {
	for _, tc := range decryptCases(t) {
		if tc.want != "" {
			continue
		}
		keys := tc.keys
		if keys == nil {
			keys = []*rsa.PrivateKey{rightKey()}
		}
		_, err := Decrypt(parse(t, tc.doc), keys, tc.opt)
		if err == nil {
			continue
		}
		msg := err.Error()
		for _, leak := range []string{"_x", "attacker", "AAAA", "xxx", "label", "other"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: error %q echoes input", tc.name, msg)
			}
		}
		if len(msg) > 120 {
			t.Errorf("%s: error too long: %q", tc.name, msg)
		}
	}
}

func TestEncrypt(t *testing.T) {
	pub := &rightKey().PublicKey
	tests := []struct {
		name      string
		block, kt string
		wantErr   bool
	}{
		{name: "ok/oaep11-writes-digest-and-mgf", block: AES256GCM, kt: RSAOAEP11},
		{name: "ok/mgf1p-writes-sha1", block: AES128CBC, kt: RSAOAEPMGF1P},
		{name: "fail/unknown-block", block: "http://www.w3.org/2001/04/xmlenc#tripledes-cbc", kt: RSAOAEPMGF1P, wantErr: true},
		{name: "fail/unknown-key-transport", block: AES128CBC, kt: "http://www.w3.org/2001/04/xmlenc#kw-aes128", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ed, err := Encrypt(sampleAssertion(t), pub, tc.block, tc.kt, rand.Reader)
			if tc.wantErr {
				if err == nil {
					t.Fatal("Encrypt succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := toString(t, container(t, ed, false, false))
			for _, want := range []string{`Type="http://www.w3.org/2001/04/xmlenc#Element"`, tc.block, tc.kt} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			switch tc.kt {
			case RSAOAEP11:
				for _, want := range []string{`Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"`, `Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"`} {
					if !strings.Contains(s, want) {
						t.Errorf("output lacks %q", want)
					}
				}
			case RSAOAEPMGF1P:
				if !strings.Contains(s, `Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"`) {
					t.Errorf("output lacks the SHA-1 DigestMethod")
				}
			}
		})
	}
}

func TestEncryptFreshKeyAndIV(t *testing.T) {
	a := encrypted(t, AES128GCM, RSAOAEPMGF1P, false, false)
	b := encrypted(t, AES128GCM, RSAOAEPMGF1P, false, false)
	if a == b {
		t.Fatal("two encryptions are identical")
	}
}

func TestDecryptInheritsNamespaces(t *testing.T) {
	k := randomBytes(t, 16)
	key := cv(wrapOAEP(t, k, crypto.SHA1, crypto.SHA1, nil))
	tests := []struct {
		name, plain, wantNS string
	}{
		{name: "ok/unbound-prefix-from-container", plain: `<saml:Assertion ID="_x"><saml:Issuer>i</saml:Issuer></saml:Assertion>`, wantNS: "urn:oasis:names:tc:SAML:2.0:assertion"},
		{name: "ok/own-declaration-wins", plain: `<?xml version="1.0"?><saml:Assertion xmlns:saml="urn:example:own" ID="_x"/>`, wantNS: "urn:example:own"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := `<r:Response xmlns:r="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` +
				render(AES128GCM, mgf1pMethod, key, cv(gcmRaw(t, k, []byte(tc.plain)))) + `</r:Response>`
			pt, err := Decrypt(parse(t, doc).SelectElement("EncryptedAssertion"), []*rsa.PrivateKey{rightKey()}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			root := parse(t, string(pt))
			if root.NamespaceURI() != tc.wantNS {
				t.Fatalf("root namespace %q, want %q", root.NamespaceURI(), tc.wantNS)
			}
			if n := strings.Count(string(pt), "xmlns:saml="); n != 1 {
				t.Fatalf("saml prefix declared %d times", n)
			}
		})
	}
}
