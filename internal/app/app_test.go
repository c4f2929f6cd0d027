package app

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/saml/xenc"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// rolloverApp wires an SP with a current and a next key pair, generated here, and rollover_at
// one day after the clock's start.
func rolloverApp(t *testing.T) (a *App, clk *clock, current, next *certs.KeyPair, rolloverAt time.Time) {
	t.Helper()
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rolloverAt = start.Add(24 * time.Hour)
	dir := t.TempDir()
	var err error
	if current, err = certs.Generate("eidsp current", 365*24*time.Hour, start, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if next, err = certs.Generate("eidsp next", 730*24*time.Hour, start, rand.Reader); err != nil {
		t.Fatal(err)
	}
	for _, kp := range []struct {
		kp   *certs.KeyPair
		name string
	}{{current, "sp"}, {next, "next"}} {
		if err := kp.kp.WritePEM(filepath.Join(dir, kp.name+".crt"), filepath.Join(dir, kp.name+".key")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{
		BaseURL: "https://login.example.no", DataDir: dir,
		SP: config.SPConfig{
			CertFile: filepath.Join(dir, "sp.crt"), KeyFile: filepath.Join(dir, "sp.key"),
			NextCertFile: filepath.Join(dir, "next.crt"), NextKeyFile: filepath.Join(dir, "next.key"),
			RolloverAt: rolloverAt,
		},
		IdPs:     []config.IdPConfig{{Name: "idporten", Preset: config.PresetIDPorten, MetadataFile: "../../metadata/testdata/idp-idporten.xml"}},
		Profiles: []config.ProfileConfig{{Name: "idporten", IdP: "idporten", MinLevel: 3}},
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk = &clock{t: start}
	a, err = Build(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), clk.Now)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { a.Store.Close() })
	return a, clk, current, next, rolloverAt
}

func get(t *testing.T, a *App, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Server.Echo().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// TestKeyRollover drives a wired SP across rollover_at on an injected clock: the AuthnRequest is
// signed with the current key before and with the next key from then on, without a restart;
// a response encrypted for the next key decrypts on both sides; the metadata publishes both keys
// before and the next key alone after.
func TestKeyRollover(t *testing.T) {
	a, clk, current, next, rolloverAt := rolloverApp(t)
	tests := []struct {
		name    string
		at      time.Time
		signer  *certs.KeyPair
		other   *certs.KeyPair
		signing int // signing KeyDescriptors in the metadata
		encrypt int // encryption KeyDescriptors in the metadata
	}{
		{name: "ok/before rollover_at", at: rolloverAt.Add(-time.Second), signer: current, other: next, signing: 2, encrypt: 2},
		{name: "ok/at rollover_at", at: rolloverAt, signer: next, other: current, signing: 1, encrypt: 1},
		{name: "ok/after rollover_at", at: rolloverAt.Add(time.Hour), signer: next, other: current, signing: 1, encrypt: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(tt.at)

			rec := get(t, a, "/login?profile=idporten")
			if rec.Code != http.StatusFound {
				t.Fatalf("GET /login: %d\n%s", rec.Code, rec.Body)
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			algs := saml.DefaultAlgorithms().WithSHA1()
			verify := func(kp *certs.KeyPair) error {
				m, err := saml.ParseRedirect(loc.RawQuery, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				return m.Verify([]*x509.Certificate{kp.Cert}, algs)
			}
			if err := verify(tt.signer); err != nil {
				t.Errorf("AuthnRequest signature does not verify with %s: %v", tt.signer.Cert.Subject.CommonName, err)
			}
			if err := verify(tt.other); err == nil {
				t.Errorf("AuthnRequest signature verifies with %s", tt.other.Cert.Subject.CommonName)
			}

			// An IdP that read the metadata before the rollover encrypts for the next key.
			el := etree.NewElement("saml:Assertion")
			el.CreateAttr("xmlns:saml", saml.NSAssertion)
			el.CreateAttr("ID", "_a1")
			ed, err := xenc.Encrypt(el, &next.Key.PublicKey, xenc.AES256GCM, xenc.RSAOAEPMGF1P, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ea := etree.NewElement("saml:EncryptedAssertion")
			ea.CreateAttr("xmlns:saml", saml.NSAssertion)
			ea.AddChild(ed)
			if plain, err := xenc.Decrypt(ea, a.Server.Verifier.DecryptionKeys, xenc.Options{}); err != nil || !strings.Contains(string(plain), `ID="_a1"`) {
				t.Errorf("assertion encrypted for the next key: %v %q", err, plain)
			}

			rec = get(t, a, "/saml/metadata")
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /saml/metadata: %d", rec.Code)
			}
			md := rec.Body.String()
			if n := strings.Count(md, `use="signing"`); n != tt.signing {
				t.Errorf("%d signing keys in the metadata, want %d", n, tt.signing)
			}
			if n := strings.Count(md, `use="encryption"`); n != tt.encrypt {
				t.Errorf("%d encryption keys in the metadata, want %d", n, tt.encrypt)
			}
			b64 := func(kp *certs.KeyPair) string { return base64.StdEncoding.EncodeToString(kp.Cert.Raw) }
			if !strings.Contains(md, b64(next)) {
				t.Error("metadata lacks the next certificate")
			}
			if has := strings.Contains(md, b64(current)); has != (tt.signer == current) {
				t.Errorf("metadata holds the current certificate: %v", has)
			}
			if got := a.Server.SPMetadataAt(tt.at); string(got) != md {
				t.Error("SPMetadataAt differs from what GET /saml/metadata served")
			}
		})
	}
}

// TestDecryptionKeys: decryption tries the current key first, then the next one.
func TestDecryptionKeys(t *testing.T) {
	a, _, current, next, _ := rolloverApp(t)
	keys := a.Server.Verifier.DecryptionKeys
	if len(keys) != 2 || !keys[0].Equal(current.Key) || !keys[1].Equal(next.Key) {
		t.Fatalf("DecryptionKeys: %d keys, want current and next", len(keys))
	}
	if a.NextSPKey == nil || !a.NextSPKey.Cert.Equal(next.Cert) {
		t.Error("App.NextSPKey is not the next key pair")
	}
}
