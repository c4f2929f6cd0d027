package metadata

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden/")

const (
	schemaOASIS  = "../testdata/schemas/saml2/saml-schema-metadata-2.0.xsd"
	schemaDigdir = "../testdata/schemas/idporten-metadata/difi-saml-schema-metadata-2.0.xsd"
)

func loadCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s.crt: no PEM block", name)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func loadKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s.key: no PEM block", name)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s.key holds a %T, not an RSA key", name, key)
	}
	return rsaKey
}

// idportenSP is the ID-porten preset: Artifact ACS only.
func idportenSP(t testing.TB) SP {
	return SP{
		EntityID:        "https://sp.test.example/saml",
		SigningCert:     loadCert(t, "sp-signing"),
		EncryptionCerts: []*x509.Certificate{loadCert(t, "sp-encryption")},
		ACSArtifact:     "https://sp.test.example/saml/acs",
		SLO:             "https://sp.test.example/saml/slo",
	}
}

// metadataSigner is the test key pair kept for signing (testdata/gen.sh).
func metadataSigner(t testing.TB) *saml.Signer {
	return &saml.Signer{Key: loadKey(t, "sp-metadata-signing"), Cert: loadCert(t, "sp-metadata-signing")}
}

// Fixed lifetime of every golden file.
var (
	goldenValidUntil    = time.Date(2036, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	goldenCacheDuration = 6 * time.Hour
)

// goldenPresets are the SP metadata variants kept in testdata/golden/, by file name.
func goldenPresets(t testing.TB) map[string]SP {
	withLifetime := func(sp SP) SP {
		sp.ValidUntil, sp.CacheDuration = goldenValidUntil, goldenCacheDuration
		return sp
	}
	idporten := withLifetime(idportenSP(t))

	ips := idporten // a Buypass IPS broker: the same shape, another deployment below a path
	ips.EntityID = "https://portal.test.example/eid/saml/metadata"
	ips.ACSArtifact = "https://portal.test.example/eid/saml/acs"
	ips.SLO = "https://portal.test.example/eid/saml/slo"

	post := idporten
	post.ACSPost = "https://sp.test.example/saml/acs/post"

	rollover := idporten
	rollover.NextSigningCert = loadCert(t, "sp-signing-next")
	rollover.EncryptionCerts = []*x509.Certificate{loadCert(t, "sp-encryption"), loadCert(t, "sp-encryption-next")}

	signed := idporten
	signed.Signer = metadataSigner(t)
	signed.SigningCert = signed.Signer.Cert // the SP signs its metadata with its own signing key

	org := idporten
	org.OrganizationName = "Eksempel kommune"
	org.OrganizationDisplayName = "Eksempel kommune <test> & co"
	org.OrganizationURL = "https://www.test.example/"

	return map[string]SP{
		"idporten":     idporten,
		"ips":          ips,
		"generic-post": post,
		"rollover":     rollover,
		"signed":       signed,
		"organization": org,
	}
}

func goldenPath(name string) string { return filepath.Join("testdata", "golden", name+".xml") }

func TestBuild(t *testing.T) {
	for name, sp := range goldenPresets(t) {
		t.Run("ok/"+name, func(t *testing.T) {
			got, err := sp.Build()
			if err != nil {
				t.Fatal(err)
			}
			again, err := sp.Build()
			if err != nil || !bytes.Equal(got, again) {
				t.Fatalf("Build is not deterministic (err %v)", err)
			}
			golden := goldenPath(name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./metadata/ -run TestBuild -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update after a deliberate change):\n%s", golden, got)
			}
		})
	}
}

// TestGoldenFilesValidate checks the committed files themselves, with tools we did not write.
func TestGoldenFilesValidate(t *testing.T) {
	for name := range goldenPresets(t) {
		t.Run("ok/"+name, func(t *testing.T) {
			doc, err := os.ReadFile(goldenPath(name))
			if err != nil {
				t.Fatal(err)
			}
			for _, xsd := range []string{schemaOASIS, schemaDigdir} {
				if err := schemaValidate(t, xsd, doc); err != nil {
					t.Errorf("%s: %v", filepath.Base(xsd), err)
				}
			}
			if name == "signed" {
				if err := xmlsecVerify(t, doc, "sp-metadata-signing"); err != nil {
					t.Errorf("xmlsec1 --verify: %v", err)
				}
			}
		})
	}
}

// TestBuildSigned pins down where the signature goes and that it covers the document as written.
func TestBuildSigned(t *testing.T) {
	sp := goldenPresets(t)["signed"]
	out, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(out); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	first := root.ChildElements()[0]
	if !is(first, saml.NSDSig, "Signature") {
		t.Fatalf("first child is %s, want ds:Signature", describe(first))
	}
	id := attr(root, "ID")
	if !strings.HasPrefix(id, "_") || len(id) != 41 {
		t.Errorf("ID %q is not _ + 40 hex digits", id)
	}
	if uri := first.FindElement("./SignedInfo/Reference").SelectAttrValue("URI", ""); uri != "#"+id {
		t.Errorf("Reference URI %q, want #%s", uri, id)
	}
	verify := func(data []byte) error {
		d, err := saml.ParseUntrusted(data, saml.MetadataLimits())
		if err != nil {
			return err
		}
		_, err = verifySignature(d.Root(), []*x509.Certificate{sp.Signer.Cert}, testNow)
		return err
	}

	t.Run("ok/verifies with our reader", func(t *testing.T) {
		if err := verify(out); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/verifies with xmlsec1", func(t *testing.T) {
		if err := xmlsecVerify(t, out, "sp-metadata-signing"); err != nil {
			t.Fatal(err)
		}
	})
	// xmlsec1 must use the certificate it is given, not the one in the signature's KeyInfo.
	t.Run("fail/xmlsec1 with another certificate", func(t *testing.T) {
		if err := xmlsecVerify(t, out, "sp-signing"); err == nil {
			t.Error("xmlsec1 accepted the signature with an unrelated certificate")
		}
	})
	t.Run("fail/one byte of the entityID changed", func(t *testing.T) {
		broken := bytes.Replace(out, []byte(`entityID="https://sp.test.example/saml"`), []byte(`entityID="https://sp.test.example/samL"`), 1)
		if bytes.Equal(broken, out) {
			t.Fatal("could not change the entityID")
		}
		if err := xmlsecVerify(t, broken, "sp-metadata-signing"); err == nil {
			t.Error("xmlsec1 accepted the changed document")
		}
		if err := verify(broken); err == nil {
			t.Error("our reader accepted the changed document")
		}
	})
	t.Run("fail/indented after signing", func(t *testing.T) {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(out); err != nil {
			t.Fatal(err)
		}
		d.Indent(4)
		reindented, err := d.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := xmlsecVerify(t, reindented, "sp-metadata-signing"); err == nil {
			t.Error("xmlsec1 accepted the document re-indented after signing")
		}
		if err := verify(reindented); err == nil {
			t.Error("our reader accepted the document re-indented after signing")
		}
	})
	t.Run("ok/ID follows the content", func(t *testing.T) {
		other := sp
		other.EntityID = "https://other.test.example/saml"
		out2, err := other.Build()
		if err != nil {
			t.Fatal(err)
		}
		d := etree.NewDocument()
		if err := d.ReadFromBytes(out2); err != nil {
			t.Fatal(err)
		}
		if attr(d.Root(), "ID") == id {
			t.Error("two different documents got the same ID")
		}
	})
	t.Run("ok/unsigned has no ID", func(t *testing.T) {
		unsigned := sp
		unsigned.Signer = nil
		out, err := unsigned.Build()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte(" ID=")) || bytes.Contains(out, []byte("ds:Signature")) {
			t.Errorf("unsigned metadata has an ID or a signature:\n%s", out)
		}
	})
}

func TestValidUntilFor(t *testing.T) {
	sp := idportenSP(t)
	notAfter := sp.SigningCert.NotAfter
	// A metadata signer whose certificate expires before the SP's signing certificate.
	signedSP := sp
	signedSP.SigningCert = loadCert(t, "sp-metadata-signing")
	signedSP.Signer = &saml.Signer{Cert: sp.SigningCert}
	if !signedSP.Signer.Cert.NotAfter.Before(signedSP.SigningCert.NotAfter) {
		t.Fatal("fixture: sp-signing.crt must expire before sp-metadata-signing.crt")
	}
	built := time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name     string
		sp       SP
		built    time.Time
		validFor time.Duration
		want     time.Time
	}{
		{"ok/within the certificate", sp, built, 7 * 24 * time.Hour, time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		{"ok/truncated to the second", sp, built.Add(999 * time.Millisecond), time.Hour, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
		{"ok/capped at the signing certificate", sp, notAfter.Add(-time.Hour), 48 * time.Hour, notAfter.UTC().Truncate(time.Second)},
		{"ok/capped at the metadata signer", signedSP, notAfter.Add(-time.Hour), 48 * time.Hour, notAfter.UTC().Truncate(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.sp.ValidUntilFor(tt.built, tt.validFor)
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("ValidUntilFor = %v, want %v (UTC)", got, tt.want)
			}
		})
	}
	// What ValidUntilFor returns is what Build writes, to the second.
	sp.ValidUntil = sp.ValidUntilFor(notAfter.Add(-time.Hour), 48*time.Hour)
	out, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	if want := `validUntil="` + notAfter.UTC().Format(time.RFC3339) + `"`; !bytes.Contains(out, []byte(want)) {
		t.Errorf("metadata lacks %s", want)
	}
}

// The round trip pins down that what we publish is what an IdP reading it would see, in the order
// the profile requires.
func TestBuildShape(t *testing.T) {
	sp := idportenSP(t)
	sp.ACSPost = "https://sp.test.example/saml/acs/post"
	out, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n")) {
		t.Errorf("missing XML declaration: %.60s", out)
	}
	s := string(out)
	order := []string{
		`AuthnRequestsSigned="true" WantAssertionsSigned="true"`,
		`<md:KeyDescriptor use="signing">`,
		`<md:KeyDescriptor use="encryption">`,
		`<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>`,
		`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.test.example/saml/slo" ResponseLocation="https://sp.test.example/saml/slo"/>`,
		`<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>`,
		`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.test.example/saml/acs" index="1" isDefault="true"/>`,
		`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test.example/saml/acs/post" index="2"/>`,
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(s[pos:], want)
		if i < 0 {
			t.Fatalf("%s not found after offset %d in:\n%s", want, pos, s)
		}
		pos += i + len(want)
	}
	if strings.Contains(s, "validUntil") || strings.Contains(s, "cacheDuration") || strings.Contains(s, "Organization") {
		t.Error("optional attributes or elements present although not configured")
	}
}

func TestBuildValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*SP)
		wants []string
	}{
		{"fail/everything", func(sp *SP) { *sp = SP{CacheDuration: -time.Second} }, []string{
			"entity ID is empty",
			"signing certificate is missing",
			"encryption certificate is missing",
			"Artifact AssertionConsumerService URL is empty",
			"SingleLogoutService URL is empty",
			"cache duration -1s is negative",
		}},
		{"fail/long entity ID", func(sp *SP) { sp.EntityID = "urn:" + strings.Repeat("x", 1021) }, []string{"longer than 1024"}},
		{"fail/relative URLs", func(sp *SP) {
			sp.ACSArtifact = "/saml/acs"
			sp.ACSPost = "ftp://sp.test.example/acs"
			sp.SLO = "https:slo"
		}, []string{
			`Artifact AssertionConsumerService URL "/saml/acs" is not an absolute http(s) URL`,
			`POST AssertionConsumerService URL "ftp://sp.test.example/acs" is not an absolute http(s) URL`,
			`SingleLogoutService URL "https:slo" is not an absolute http(s) URL`,
		}},
		{"fail/entity ID with white space", func(sp *SP) { sp.EntityID = "https://sp.test.example/saml " }, []string{"contains white space"}},
		{"fail/nil encryption cert", func(sp *SP) { sp.EncryptionCerts = append(sp.EncryptionCerts, nil) }, []string{"encryption certificate #2 is missing"}},
		{"fail/partial organization", func(sp *SP) { sp.OrganizationName = "Eksempel" }, []string{"organization needs name, display name and URL"}},
		{"fail/signer without key", func(sp *SP) { sp.Signer = &saml.Signer{Cert: sp.SigningCert} }, []string{"metadata signer needs a key and a certificate"}},
		{"fail/signer key and certificate differ", func(sp *SP) {
			sp.Signer = &saml.Signer{Key: loadKey(t, "sp-metadata-signing"), Cert: sp.SigningCert}
		}, []string{"metadata signer certificate does not match its key"}},
		{"fail/signer with SHA-1", func(sp *SP) {
			sp.Signer = metadataSigner(t)
			sp.Signer.Alg = saml.AlgRSASHA1
		}, []string{`metadata signature algorithm "http://www.w3.org/2000/09/xmldsig#rsa-sha1" is not RSA-SHA256 or RSA-SHA512`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := idportenSP(t)
			tt.edit(&sp)
			out, err := sp.Build()
			if err == nil {
				t.Fatalf("Build succeeded:\n%s", out)
			}
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error %T is not *InvalidError: %v", err, err)
			}
			if len(inv.Problems) != len(tt.wants) {
				t.Errorf("got %d problems, want %d: %v", len(inv.Problems), len(tt.wants), err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestSchemaCheckCanFail proves the schema check above has teeth: Digdir's schema fixes
// AuthnRequestsSigned to true, while the OASIS schema accepts false.
func TestSchemaCheckCanFail(t *testing.T) {
	out, err := idportenSP(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(out, []byte(`AuthnRequestsSigned="true"`), []byte(`AuthnRequestsSigned="false"`), 1)
	if bytes.Equal(broken, out) {
		t.Fatal("could not break the document")
	}
	if err := schemaValidate(t, schemaOASIS, broken); err != nil {
		t.Errorf("OASIS schema should accept AuthnRequestsSigned=false: %v", err)
	}
	if err := schemaValidate(t, schemaDigdir, broken); err == nil {
		t.Error("Digdir's schema accepted AuthnRequestsSigned=false")
	}
	if err := schemaValidate(t, schemaOASIS, moveACSBeforeSLO(t, out)); err == nil {
		t.Error("OASIS schema accepted the AssertionConsumerService before the SingleLogoutService")
	}
}

func moveACSBeforeSLO(t *testing.T, doc []byte) []byte {
	lines := strings.Split(string(doc), "\n")
	slo, acs := -1, -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, "<md:SingleLogoutService"):
			slo = i
		case strings.Contains(l, "<md:AssertionConsumerService"):
			acs = i
		}
	}
	if slo < 0 || acs < slo {
		t.Fatal("unexpected document shape")
	}
	moved := append([]string{}, lines[:slo]...)
	moved = append(moved, lines[acs])
	moved = append(moved, lines[slo:acs]...)
	moved = append(moved, lines[acs+1:]...)
	return []byte(strings.Join(moved, "\n"))
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		6 * time.Hour:                   "PT6H",
		36*time.Hour + 30*time.Minute:   "PT36H30M",
		90 * time.Second:                "PT1M30S",
		1500 * time.Millisecond:         "PT1.5S",
		time.Hour + time.Nanosecond:     "PT1H0.000000001S",
		24*time.Hour + 2*time.Second/10: "PT24H0.2S",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", formatDuration(d), back, err, d)
		}
	}
}

// tool finds an external program; a missing one skips the test locally and fails it under CI=true.
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s); skipping", name, pkg)
	}
	return path
}

// schemaValidate runs xmllint; a missing xmllint skips the test locally and fails it under CI=true.
func schemaValidate(t testing.TB, xsd string, doc []byte) error {
	t.Helper()
	xmllint := tool(t, "xmllint", "libxml2-utils")
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", xsd, f).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// xmlsecVerify checks the signature on the EntityDescriptor with xmlsec1 against the certificate
// testdata/<certName>.crt, an implementation independent of goxmldsig.
func xmlsecVerify(t testing.TB, doc []byte, certName string) error {
	t.Helper()
	xmlsec1 := tool(t, "xmlsec1", "xmlsec1")
	f := filepath.Join(t.TempDir(), "signed.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmlsec1, "--verify", "--pubkey-cert-pem", filepath.Join("testdata", certName+".crt"),
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", f).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}
