package metadata

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/eidsp/eidsp/saml"
)

// FuzzParseIdP feeds the parser mutations of the fixtures, once as plain metadata and once with a
// trusted signer so the signature checks see the same inputs. It must never panic; the recover in
// ParseIdP would hide a panic behind ReasonPanic, so that reason counts as a failure here.
func FuzzParseIdP(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		f.Add(fixture(f, filepath.Base(name)))
	}
	s := testSigners(f)
	f.Add(sign(f, fixture(f, "idp-idporten.xml"), s[0], saml.AlgRSASHA256))
	trusted := []*x509.Certificate{s[0].cert}

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opt := range []ParseOptions{
			{Now: testNow},
			{Now: testNow, EntityID: buypassID, AllowInsecure: true},
			{Now: testNow, TrustedCerts: trusted},
		} {
			idp, err := ParseIdP(data, opt)
			if saml.ReasonOf(err) == saml.ReasonPanic {
				t.Fatalf("panic: %v", err)
			}
			if (idp == nil) == (err == nil) {
				t.Fatalf("descriptor %v with error %v", idp, err)
			}
			if idp != nil && len(idp.SigningCerts) == 0 {
				t.Fatal("accepted without a signing certificate")
			}
		}
	})
}
