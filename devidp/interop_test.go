package devidp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/saml/xenc"
)

// tool returns the path of an external checker; without it the test skips locally and fails in CI
// (CONVENTIONS.md 12).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (apt-get install -y libxml2-utils xmlsec1)", name)
		}
		t.Skipf("%s not installed (apt-get install -y libxml2-utils xmlsec1)", name)
	}
	return p
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

const schemaDir = "../testdata/schemas/saml2/"

// TestIndependentCheckers validates what the IdP produces against the OASIS schemas (xmllint) and
// verifies its signatures with xmlsec1, independently of the Go code.
func TestIndependentCheckers(t *testing.T) {
	xmllint := tool(t, "xmllint")
	xmlsec := tool(t, "xmlsec1")
	e := newEnv(t, func(c *Config) { c.Signer.Alg = saml.AlgRSASHA1 })
	cert := writeFile(t, "idp.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.idp.cfg.Signer.Cert.Raw}))
	schema := func(xsd, file string) { run(t, xmllint, "--nonet", "--noout", "--schema", schemaDir+xsd, file) }
	verify := func(idAttr, file string) {
		run(t, xmlsec, "--verify", "--pubkey-cert-pem", cert, "--id-attr:ID", idAttr, file)
	}

	md, err := e.idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	schema("saml-schema-metadata-2.0.xsd", writeFile(t, "metadata.xml", md))

	// POST binding: signed Response with an encrypted, signed Assertion.
	r := e.fill(req{binding: saml.BindingHTTPPost, onBehalfOf: "ACME"})
	xml, _ := e.login(e.get(e.redirectURL(r)), DefaultPersons()[0].NationalID, "bankid").postForm(t)
	f := writeFile(t, "response.xml", xml)
	schema("saml-schema-protocol-2.0.xsd", f)
	verify(saml.NSProtocol+":Response", f)
	plain := decryptAssertion(t, xml, e.sp.encKey)
	f = writeFile(t, "assertion.xml", plain)
	schema("saml-schema-assertion-2.0.xsd", f)
	verify(saml.NSAssertion+":Assertion", f)

	// Artifact binding: signed ArtifactResponse in SOAP.
	r = e.fill(req{instruments: []string{identity.InstrumentMobileApp}})
	art, _ := e.artifactFrom(e.login(e.get(e.redirectURL(r)), DefaultPersons()[4].NationalID, identity.InstrumentMobileApp), e.sp.acsArtifact)
	soap := e.rawResolve(e.sp, art)
	f = writeFile(t, "soap.xml", []byte(soap))
	verify(saml.NSProtocol+":ArtifactResponse", f)
	schema("saml-schema-protocol-2.0.xsd", writeFile(t, "artifact-response.xml", soapBody(t, []byte(soap))))

	// A cancelled login: a Response with an error status and no assertion.
	r = e.fill(req{binding: saml.BindingHTTPPost, force: true})
	p := e.get(e.redirectURL(r))
	xml, _ = e.post(e.base+"/idp/sso/login", url.Values{"token": {p.token(t)}, "action": {"cancel"}}).postForm(t)
	f = writeFile(t, "cancel.xml", xml)
	schema("saml-schema-protocol-2.0.xsd", f)
	verify(saml.NSProtocol+":Response", f)
}

func decryptAssertion(t *testing.T, response []byte, key *rsa.PrivateKey) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(response); err != nil {
		t.Fatal(err)
	}
	ea := doc.Root().SelectElement("EncryptedAssertion")
	if ea == nil {
		t.Fatal("no EncryptedAssertion")
	}
	plain, err := xenc.Decrypt(ea, []*rsa.PrivateKey{key}, xenc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func soapBody(t *testing.T, soap []byte) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(soap); err != nil {
		t.Fatal(err)
	}
	body := doc.Root().SelectElement("Body").ChildElements()[0]
	out := etree.NewDocument()
	out.SetRoot(body.Copy())
	b, err := out.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMetadataPackage cross-checks with the project's metadata package: our IdP metadata is what
// metadata.ParseIdP accepts (on loopback), and SP metadata from metadata.SP registers here.
func TestMetadataPackage(t *testing.T) {
	e := newEnv(t, nil)
	md, err := e.idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	d, err := metadata.ParseIdP(md, metadata.ParseOptions{AllowInsecure: true, Now: testStart})
	if err != nil {
		t.Fatalf("metadata.ParseIdP: %v", err)
	}
	if d.EntityID != e.idp.EntityID() || len(d.SigningCerts) != 1 || !d.WantAuthnRequestsSigned {
		t.Errorf("descriptor %+v", d)
	}
	art := saml.Artifact{SourceID: saml.SourceID(e.idp.EntityID())}
	if ep, err := d.ResolutionEndpoint(art); err != nil || ep.Location != e.base+"/idp/ars" {
		t.Errorf("resolution endpoint %+v, %v", ep, err)
	}
	if ep, ok := saml.EndpointFor(d.SingleSignOn, saml.BindingHTTPRedirect); !ok || ep.Location != e.base+"/idp/sso" {
		t.Errorf("SSO endpoint %+v", ep)
	}
	if ep, ok := saml.EndpointFor(d.SingleLogout, saml.BindingHTTPRedirect); !ok || ep.ResponseLocation != e.base+"/idp/slo" {
		t.Errorf("SLO endpoint %+v", ep)
	}

	sp := newTestSP(t, "https://generated.test.example")
	spmd, err := metadata.SP{
		EntityID:        sp.entityID,
		SigningCert:     sp.signer.Cert,
		EncryptionCerts: []*x509.Certificate{sp.encCert},
		ACSArtifact:     sp.acsArtifact,
		ACSPost:         sp.acsPost,
		SLO:             sp.entityID + "/saml/slo",
	}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.idp.RegisterSP(spmd); err != nil {
		t.Fatalf("RegisterSP(metadata.SP.Build()): %v", err)
	}
	e.sp = sp
	r := e.fill(req{})
	art2, _ := e.artifactFrom(e.login(e.get(e.redirectURL(r)), DefaultPersons()[0].NationalID, "buypass"), sp.acsArtifact)
	if _, err := e.resolve(art2, r.id, saml.InResponseToAuthnRequest); err != nil {
		t.Fatal(err)
	}
}
