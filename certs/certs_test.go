package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Test keys are generated once per test run; none is ever committed. RSA generation is slow, so
// they are shared between tests.
var fixtures = sync.OnceValue(func() *testKeys {
	mustRSA := func(bits int) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		return k
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	kp, err := Generate("sp.example.test", time.Hour, testNow, rand.Reader)
	if err != nil {
		panic(err)
	}
	small := mustRSA(1024)
	return &testKeys{
		pair:      kp,
		other:     mustRSA(2048),
		small:     small,
		smallCert: selfSigned(small, &small.PublicKey),
		ec:        ec,
		ecCert:    selfSigned(ec, &ec.PublicKey),
	}
})

type testKeys struct {
	pair      *KeyPair
	other     *rsa.PrivateKey
	small     *rsa.PrivateKey
	smallCert []byte
	ec        *ecdsa.PrivateKey
	ecCert    []byte
}

func selfSigned(priv, pub any) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    testNow,
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func pkcs8PEM(k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseKeyPair(t *testing.T) {
	fx := fixtures()
	cert := fx.pair.CertPEM
	ecSEC1, err := x509.MarshalECPrivateKey(fx.ec)
	if err != nil {
		t.Fatal(err)
	}
	encryptedLegacy := &pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("not really encrypted"),
	}
	for _, tt := range []struct {
		name          string
		cert, key     []byte
		wantErr       string // substring; "" for ok
		wantNotInText []byte // key material that must not show up in the error
	}{
		{name: "ok/pkcs1", cert: cert, key: pkcs1PEM(fx.pair.Key)},
		{name: "ok/pkcs8", cert: cert, key: pkcs8PEM(fx.pair.Key)},
		{name: "ok/text-before-key", cert: cert, key: concat([]byte(DevKeyHeader), pkcs8PEM(fx.pair.Key))},
		{name: "ok/combined-file", cert: concat(pkcs8PEM(fx.pair.Key), cert), key: concat(cert, pkcs8PEM(fx.pair.Key))},
		{name: "ok/chain-first-is-leaf", cert: concat(cert, fx.smallCert), key: pkcs1PEM(fx.pair.Key)},

		{name: "fail/mismatched-key", cert: cert, key: pkcs8PEM(fx.other), wantErr: "does not match"},
		{name: "fail/chain-leaf-not-first", cert: concat(fx.smallCert, cert), key: pkcs1PEM(fx.pair.Key), wantErr: "does not match"},
		{name: "fail/1024-bit-key", cert: fx.smallCert, key: pkcs1PEM(fx.small), wantErr: "1024 bits, at least 2048"},
		{name: "fail/ec-key-pkcs8", cert: fx.ecCert, key: pkcs8PEM(fx.ec), wantErr: "ECDSA, RSA required"},
		{name: "fail/ec-key-sec1", cert: fx.ecCert, key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecSEC1}), wantErr: "RSA required"},
		{name: "fail/ec-cert-rsa-key", cert: fx.ecCert, key: pkcs8PEM(fx.pair.Key), wantErr: "RSA required"},
		{name: "fail/garbage-cert", cert: []byte("garbage"), key: pkcs8PEM(fx.pair.Key), wantErr: "no PEM CERTIFICATE"},
		{name: "fail/garbage-key", cert: cert, key: []byte("garbage"), wantErr: "no PEM private key"},
		{name: "fail/empty-key", cert: cert, key: nil, wantErr: "no PEM private key"},
		{name: "fail/cert-as-key", cert: cert, key: cert, wantErr: "no PEM private key"},
		{
			name:          "fail/corrupt-pkcs1",
			cert:          cert,
			key:           pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("SECRETSECRETSECRET")}),
			wantErr:       "not a valid PKCS#1",
			wantNotInText: []byte("SECRETSECRETSECRET"),
		},
		{
			name:          "fail/corrupt-pkcs8",
			cert:          cert,
			key:           pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("SECRETSECRETSECRET")}),
			wantErr:       "not a valid PKCS#8",
			wantNotInText: []byte("SECRETSECRETSECRET"),
		},
		{name: "fail/corrupt-cert", cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), key: pkcs8PEM(fx.pair.Key), wantErr: "parse certificate"},
		{name: "fail/two-keys", cert: cert, key: concat(pkcs8PEM(fx.pair.Key), pkcs1PEM(fx.pair.Key)), wantErr: "more than one"},
		{name: "fail/encrypted-pkcs8", cert: cert, key: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), wantErr: "encrypted"},
		{name: "fail/encrypted-legacy", cert: cert, key: pem.EncodeToMemory(encryptedLegacy), wantErr: "encrypted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := ParseKeyPair(tt.cert, tt.key)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKeyPair: %v", err)
				}
				if !kp.Key.PublicKey.Equal(kp.Cert.PublicKey) || !bytes.Equal(kp.CertPEM, fx.pair.CertPEM) {
					t.Fatal("wrong key pair")
				}
				return
			}
			if err == nil {
				t.Fatal("ParseKeyPair accepted it")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if tt.wantNotInText != nil && strings.Contains(err.Error(), string(tt.wantNotInText)) {
				t.Errorf("error %q contains key material", err)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyPair(t *testing.T) {
	fx := fixtures()
	dir := t.TempDir()
	certFile := writeFile(t, dir, "sp.crt", fx.pair.CertPEM)
	keyFile := writeFile(t, dir, "sp.key", pkcs1PEM(fx.pair.Key))
	otherKey := writeFile(t, dir, "other.key", pkcs8PEM(fx.other))
	smallKey := writeFile(t, dir, "small.key", pkcs1PEM(fx.small))
	smallCert := writeFile(t, dir, "small.crt", fx.smallCert)
	ecKey := writeFile(t, dir, "ec.key", pkcs8PEM(fx.ec))
	ecCert := writeFile(t, dir, "ec.crt", fx.ecCert)
	garbage := writeFile(t, dir, "garbage.pem", []byte("-----BEGIN nonsense"))
	missing := filepath.Join(dir, "missing.pem")

	for _, tt := range []struct {
		name, cert, key string
		want            []string // substrings of the error; none for ok
		notExist        bool
	}{
		{name: "ok/pkcs1", cert: certFile, key: keyFile},
		{name: "fail/mismatched", cert: certFile, key: otherKey, want: []string{certFile, otherKey, "does not match"}},
		{name: "fail/1024-bit", cert: smallCert, key: smallKey, want: []string{smallKey, "at least 2048"}},
		{name: "fail/ec", cert: ecCert, key: ecKey, want: []string{ecKey, "RSA required"}},
		{name: "fail/garbage-cert", cert: garbage, key: keyFile, want: []string{garbage, "CERTIFICATE"}},
		{name: "fail/garbage-key", cert: certFile, key: garbage, want: []string{garbage, "private key"}},
		{name: "fail/missing-cert", cert: missing, key: keyFile, want: []string{missing, "certificate"}, notExist: true},
		{name: "fail/missing-key", cert: certFile, key: missing, want: []string{missing, "private key"}, notExist: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := LoadKeyPair(tt.cert, tt.key)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("LoadKeyPair: %v", err)
				}
				if !kp.Key.Equal(fx.pair.Key) {
					t.Fatal("wrong key")
				}
				return
			}
			if err == nil {
				t.Fatal("LoadKeyPair accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v", err, !tt.notExist)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	kp := fixtures().pair
	c := kp.Cert
	if c.Subject.CommonName != "sp.example.test" || c.Issuer.CommonName != "sp.example.test" {
		t.Errorf("subject, issuer = %q, %q", c.Subject, c.Issuer)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if c.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature algorithm %v", c.SignatureAlgorithm)
	}
	if got := kp.Key.N.BitLen(); got != 2048 {
		t.Errorf("key has %d bits", got)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; c.KeyUsage != want {
		t.Errorf("key usage %v, want %v", c.KeyUsage, want)
	}
	if c.IsCA {
		t.Error("certificate is a CA")
	}
	if !c.NotAfter.Equal(testNow.Add(time.Hour)) || c.NotBefore.After(testNow) {
		t.Errorf("validity %v .. %v for now %v", c.NotBefore, c.NotAfter, testNow)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %v is not a positive random number", c.SerialNumber)
	}
	block, _ := pem.Decode(kp.CertPEM)
	if block == nil || !bytes.Equal(block.Bytes, c.Raw) {
		t.Error("CertPEM does not hold the certificate")
	}

	second, err := Generate("sp.example.test", time.Hour, testNow, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if second.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 || second.Key.Equal(kp.Key) {
		t.Error("two generated pairs share a serial or key")
	}
}

func TestGenerateFail(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cn       string
		validFor time.Duration
	}{
		{"fail/empty-common-name", "", time.Hour},
		{"fail/zero-validity", "sp", 0},
		{"fail/negative-validity", "sp", -time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Generate(tt.cn, tt.validFor, testNow, rand.Reader); err == nil {
				t.Fatal("Generate accepted it")
			}
		})
	}
}

func TestWritePEMRoundTrip(t *testing.T) {
	kp := fixtures().pair
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "sp.crt"), filepath.Join(dir, "sp.key")
	// An existing world-readable file must not leave the key world-readable.
	writeFile(t, dir, "sp.key", []byte("old"))
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kp.WritePEM(certFile, keyFile); err != nil {
		t.Fatalf("WritePEM: %v", err)
	}
	assertMode(t, keyFile, 0o600)
	assertMode(t, certFile, 0o644)

	loaded, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadKeyPair: %v", err)
	}
	if !loaded.Key.Equal(kp.Key) || !loaded.Cert.Equal(kp.Cert) || !bytes.Equal(loaded.CertPEM, kp.CertPEM) {
		t.Error("round trip changed the key pair")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWritePEMFail(t *testing.T) {
	kp := fixtures().pair
	dir := t.TempDir()
	missingDir := filepath.Join(dir, "no", "such")
	if err := kp.WritePEM(filepath.Join(dir, "sp.crt"), filepath.Join(missingDir, "sp.key")); err == nil {
		t.Error("WritePEM into a missing directory succeeded")
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

func TestEnsureDevKeyPair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	first, err := EnsureDevKeyPair(dir, "sp", "eidsp dev", testNow)
	if err != nil {
		t.Fatalf("first EnsureDevKeyPair: %v", err)
	}
	keyFile := filepath.Join(dir, "sp.key")
	assertMode(t, keyFile, 0o600)
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(keyPEM, []byte(DevKeyHeader)) {
		t.Errorf("key file does not start with the development header:\n%.80s", keyPEM)
	}
	if want := testNow.Add(devValidity); !first.Cert.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", first.Cert.NotAfter, want)
	}
	if first.Cert.Subject.CommonName != "eidsp dev" {
		t.Errorf("common name %q", first.Cert.Subject.CommonName)
	}

	second, err := EnsureDevKeyPair(dir, "sp", "ignored on load", testNow.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("second EnsureDevKeyPair: %v", err)
	}
	if !second.Cert.Equal(first.Cert) || !second.Key.Equal(first.Key) {
		t.Error("second call did not load the same key pair")
	}
}

func TestEnsureDevKeyPairFail(t *testing.T) {
	fx := fixtures()
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		file  string
		want  string
	}{
		{
			name:  "fail/only-cert",
			setup: func(t *testing.T, dir string) { writeFile(t, dir, "sp.crt", fx.pair.CertPEM) },
			file:  "sp", want: "sp.key does not",
		},
		{
			name:  "fail/only-key",
			setup: func(t *testing.T, dir string) { writeFile(t, dir, "sp.key", pkcs8PEM(fx.pair.Key)) },
			file:  "sp", want: "sp.crt does not",
		},
		{
			name: "fail/mismatched-pair-on-disk",
			setup: func(t *testing.T, dir string) {
				writeFile(t, dir, "sp.crt", fx.pair.CertPEM)
				writeFile(t, dir, "sp.key", pkcs8PEM(fx.other))
			},
			file: "sp", want: "does not match",
		},
		{name: "fail/name-with-slash", setup: func(*testing.T, string) {}, file: "../sp", want: "plain file name"},
		{name: "fail/empty-name", setup: func(*testing.T, string) {}, file: "", want: "plain file name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := EnsureDevKeyPair(dir, tt.file, "dev", testNow)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestExpiresWithin(t *testing.T) {
	kp := fixtures().pair // valid until testNow + 1h
	for _, tt := range []struct {
		name string
		d    time.Duration
		now  time.Time
		want bool
	}{
		{"ok/not-within-30m", 30 * time.Minute, testNow, false},
		{"ok/exactly-at-expiry", time.Hour, testNow, true},
		{"ok/within-2h", 2 * time.Hour, testNow, true},
		{"ok/already-expired", 0, testNow.Add(2 * time.Hour), true},
		{"ok/zero-window-valid", 0, testNow, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := kp.ExpiresWithin(tt.d, tt.now); got != tt.want {
				t.Errorf("ExpiresWithin(%v, %v) = %v", tt.d, tt.now, got)
			}
		})
	}
}

type certInputTest struct {
	name, in string
	wantErr  string // substring; "" for ok
}

func certInputTests() []certInputTest {
	fx := fixtures()
	raw := fx.pair.Cert.Raw
	b64 := base64.StdEncoding.EncodeToString(raw)
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 64 {
		wrapped.WriteString("\n\t\t\t" + b64[i:min(i+64, len(b64))])
	}
	wrapped.WriteString("\r\n  ")

	return []certInputTest{
		{name: "ok/pem", in: string(fx.pair.CertPEM)},
		{name: "ok/pem-indented", in: "\n   " + string(fx.pair.CertPEM) + "\n  "},
		{name: "ok/base64", in: b64},
		{name: "ok/base64-metadata-style", in: wrapped.String()},
		{name: "fail/empty", in: "  \n", wantErr: "empty"},
		{name: "fail/garbage", in: "not a certificate!", wantErr: "neither PEM nor base64"},
		{name: "fail/truncated-base64", in: b64[:len(b64)-8], wantErr: "certs:"},
		{name: "fail/base64-not-der", in: base64.StdEncoding.EncodeToString([]byte("hello")), wantErr: "parse certificate"},
		{name: "fail/pem-key-not-cert", in: string(pkcs8PEM(fx.pair.Key)), wantErr: "not a CERTIFICATE"},
		{name: "fail/pem-broken", in: "-----BEGIN CERTIFICATE-----\nAAAA", wantErr: "malformed PEM"},
		{name: "fail/two-pem-certs", in: string(fx.pair.CertPEM) + string(fx.smallCert), wantErr: "data after"},
		{name: "fail/base64-trailing-data", in: base64.StdEncoding.EncodeToString(append(append([]byte{}, raw...), 0)), wantErr: "parse certificate"},
	}
}

func TestParseCertificatePEMOrBase64(t *testing.T) {
	raw := fixtures().pair.Cert.Raw
	for _, tt := range certInputTests() {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := ParseCertificatePEMOrBase64(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCertificatePEMOrBase64: %v", err)
				}
				if !bytes.Equal(cert.Raw, raw) {
					t.Fatal("wrong certificate")
				}
				return
			}
			if err == nil {
				t.Fatal("ParseCertificatePEMOrBase64 accepted it")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParseCertificatePEMOrBase64 covers the path IdP metadata and configuration take.
func FuzzParseCertificatePEMOrBase64(f *testing.F) {
	for _, tt := range certInputTests() {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cert, err := ParseCertificatePEMOrBase64(s)
		if (err == nil) == (cert == nil) {
			t.Fatalf("cert %v with error %v", cert, err)
		}
	})
}
