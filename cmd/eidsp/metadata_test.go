package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServedSPMetadataValidates checks the metadata an admin downloads from a running SP, not
// only the metadata package's golden files: it must pass both the OASIS metadata schema and
// Digdir's ID-porten schema (xmllint, an implementation we did not write).
func TestServedSPMetadataValidates(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmllint missing (Debian libxml2-utils); make test installs it")
		}
		t.Skip("xmllint missing (Debian libxml2-utils); make test installs it")
	}
	h := newHarness(t)
	p := h.browser().get("/saml/metadata")
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "application/samlmetadata+xml") {
		t.Fatalf("GET /saml/metadata: %d %s", p.status, p.header.Get("Content-Type"))
	}
	file := filepath.Join(t.TempDir(), "sp.xml")
	if err := os.WriteFile(file, []byte(p.body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, xsd := range []string{
		"../../testdata/schemas/saml2/saml-schema-metadata-2.0.xsd",
		"../../testdata/schemas/idporten-metadata/difi-saml-schema-metadata-2.0.xsd",
	} {
		out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", xsd, file).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", filepath.Base(xsd), err, out)
		}
	}
	for _, want := range []string{`AuthnRequestsSigned="true"`, `WantAssertionsSigned="true"`, `use="signing"`,
		`use="encryption"`, "HTTP-Artifact", h.sp + "/saml/acs", h.sp + "/saml/slo"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("metadata lacks %s", want)
		}
	}
}
