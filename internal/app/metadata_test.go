package app

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/saml"
)

// TestSignedIdPMetadata: with metadata_signing_cert_files the IdP metadata must carry a valid
// signature by one of those certificates; unsigned, tampered or otherwise-signed metadata stops
// the start.
func TestSignedIdPMetadata(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	sp, err := certs.Generate("eidsp sp", 365*24*time.Hour, start, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.WritePEM(filepath.Join(dir, "sp.crt"), filepath.Join(dir, "sp.key")); err != nil {
		t.Fatal(err)
	}
	federation, err := certs.Generate("federation metadata signer", 365*24*time.Hour, start, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.Generate("someone else", 365*24*time.Hour, start, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fedCert := filepath.Join(dir, "federation.crt")
	if err := os.WriteFile(fedCert, federation.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../metadata/testdata/idp-idporten.xml")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(kp *certs.KeyPair) string {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		root := doc.Root()
		if root.SelectAttr("ID") == nil {
			root.CreateAttr("ID", "_md1")
		}
		signed, err := saml.Signer{Key: kp.Key, Cert: kp.Cert}.SignEnveloped(root)
		if err != nil {
			t.Fatal(err)
		}
		out := etree.NewDocument()
		out.SetRoot(signed)
		s, err := out.WriteToString()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	signed := sign(federation)
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"ok/signed-by-the-federation", signed, true},
		{"fail/unsigned", string(raw), false},
		{"fail/signed-by-another-key", sign(other), false},
		{"fail/tampered-after-signing", strings.Replace(signed, "https://", "https://evil.", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "idp.xml")
			if err := os.WriteFile(file, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := &config.Config{
				BaseURL: "https://login.example.no", DataDir: t.TempDir(),
				SP: config.SPConfig{CertFile: filepath.Join(dir, "sp.crt"), KeyFile: filepath.Join(dir, "sp.key")},
				IdPs: []config.IdPConfig{{Name: "idporten", Preset: config.PresetIDPorten, MetadataFile: file,
					MetadataSigningCertFiles: []string{fedCert}}},
				Profiles: []config.ProfileConfig{{Name: "idporten", IdP: "idporten", MinLevel: 3}},
			}
			cfg.Defaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			a, err := Build(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return start })
			if tc.ok {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				a.Store.Close()
				return
			}
			if err == nil {
				a.Store.Close()
				t.Fatal("Build accepted metadata the configured signer did not sign")
			}
		})
	}
}
