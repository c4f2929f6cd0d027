package metadata

import (
	"bytes"
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
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

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

func TestBuild(t *testing.T) {
	rollover := idportenSP(t)
	rollover.ACSPost = "https://sp.test.example/saml/acs/post"
	rollover.EncryptionCerts = append(rollover.EncryptionCerts, loadCert(t, "sp-encryption-next"))
	rollover.NextSigningCert = loadCert(t, "sp-signing-next")

	lifetime := idportenSP(t)
	lifetime.ValidUntil = time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	lifetime.CacheDuration = 6 * time.Hour
	lifetime.OrganizationName = "Eksempel kommune"
	lifetime.OrganizationDisplayName = "Eksempel kommune <test> & co"
	lifetime.OrganizationURL = "https://www.test.example/"

	tests := []struct {
		name string
		sp   SP
	}{
		{"ok/idporten", idportenSP(t)},
		{"ok/rollover", rollover},
		{"ok/lifetime", lifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sp.Build()
			if err != nil {
				t.Fatal(err)
			}
			again, err := tt.sp.Build()
			if err != nil || !bytes.Equal(got, again) {
				t.Fatalf("Build is not deterministic (err %v)", err)
			}
			golden := filepath.Join("testdata", "sp-"+strings.TrimPrefix(tt.name, "ok/")+".golden.xml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update after a deliberate change):\n%s", golden, got)
			}
			for _, xsd := range []string{schemaOASIS, schemaDigdir} {
				if err := schemaValidate(t, xsd, got); err != nil {
					t.Errorf("%s: %v", filepath.Base(xsd), err)
				}
			}
		})
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

// schemaValidate runs xmllint; a missing xmllint skips the test locally and fails it under CI=true.
func schemaValidate(t *testing.T, xsd string, doc []byte) error {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmllint is required under CI=true (apt-get install libxml2-utils)")
		}
		t.Skip("xmllint not installed (apt-get install libxml2-utils); skipping schema validation")
	}
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
