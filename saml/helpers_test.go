package saml

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// systemPython is Debian's interpreter, the one python3-pysaml2 is installed for; the python3
// on PATH may be another installation without it.
const systemPython = "/usr/bin/python3"

// protocolSchema is the OASIS SAML 2.0 protocol schema every message we produce must satisfy.
const protocolSchema = "../testdata/schemas/saml2/saml-schema-protocol-2.0.xsd"

// requireTool skips the test when an external tool is missing, except in CI (CI=true), where the
// test command installs every tool and a missing one is a failure. "pysaml2" means the system
// Python with the saml2 package importable.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := "external tool missing: " + name + ": " + strings.TrimSpace(format)
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, args...)
		}
		t.Skipf(msg+" (install it: apt-get install xmlsec1 python3-pysaml2 libxml2-utils openssl)", args...)
	}
	if name == "pysaml2" {
		if _, err := os.Stat(systemPython); err != nil {
			missing("%s not found: %v", systemPython, err)
		}
		if out, err := exec.Command(systemPython, "-c", "import saml2").CombinedOutput(); err != nil {
			missing("%s cannot import saml2: %v: %s", systemPython, err, out)
		}
		return systemPython
	}
	path, err := exec.LookPath(name)
	if err != nil {
		missing("%v", err)
	}
	return path
}

// run runs an external command and returns its stdout; a non-zero exit is returned as an error
// carrying stderr.
func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &cmdError{err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + e.stderr }

// testKey is an RSA key with a self-signed certificate, made at test time and never committed.
type testKey struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

var (
	keyMu    sync.Mutex
	keyCache = map[string]*testKey{}
)

// newTestKey returns the key pair named name, generating it once per test binary: RSA keys are
// slow to make under the race detector.
func newTestKey(t testing.TB, name string) *testKey {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[name]; ok {
		return k
	}
	k, err := makeTestKey(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[name] = k
	return k
}

// makeTestKey makes a 2048-bit key and a self-signed certificate with subject CN=cn (or the
// given subject, to forge an IdP's names).
func makeTestKey(cn string, subject *pkix.Name) (*testKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	name := pkix.Name{CommonName: cn, Organization: []string{"eidsp test"}}
	if subject != nil {
		name = *subject
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      name,
		Issuer:       name,
		// Wide enough for the fixed clocks of the tests and for the wall clock pysaml2 uses:
		// goxmldsig checks the trusted certificate's validity at the verification time.
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testKey{Key: key, Cert: cert}, nil
}

func (k *testKey) signer(alg string) Signer { return Signer{Key: k.Key, Cert: k.Cert, Alg: alg} }

func (k *testKey) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
}

func (k *testKey) keyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.Key)})
}

func (k *testKey) pubPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// writeFile writes data to name inside dir and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validateSchema validates an XML document against the SAML protocol schema with xmllint,
// without network access.
func validateSchema(t testing.TB, xmlDoc []byte) {
	t.Helper()
	xmllint := requireTool(t, "xmllint")
	f := writeFile(t, t.TempDir(), "doc.xml", xmlDoc)
	out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", protocolSchema, f).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint rejects the document: %v\n%s\n%s", err, out, xmlDoc)
	}
}

// wantReason fails the test unless err is a rejection with the given reason.
func wantReason(t testing.TB, err error, want Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want rejection with reason %q", want)
	}
	if got := ReasonOf(err); got != want {
		t.Fatalf("reason %q, want %q (error: %v)", got, want, err)
	}
}
