package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{name: "fail/no command", args: nil, wantErr: "no command"},
		{name: "fail/unknown command", args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`},
		{name: "ok/help", args: []string{"help"}, wantOut: "eidsp dev"},
		{name: "fail/serve without a config file", args: []string{"serve", "-config", filepath.Join(t.TempDir(), "missing.yaml")}, wantErr: "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errOut)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("run: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("run: %v, want an error with %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

// TestKeygen: `eidsp keygen` writes a pair and refuses to overwrite it.
func TestKeygen(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "sp")
	var out bytes.Buffer
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("eidsp keygen panicked: %v", r)
			}
		}()
		return run(context.Background(), []string{"keygen", "-cn", "test SP", "-out", prefix, "-days", "1"}, &out, &out)
	}()
	if t.Failed() {
		return
	}
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	for _, f := range []string{prefix + ".crt", prefix + ".key"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("keygen did not write %s: %v", f, err)
		}
	}
	if err := run(context.Background(), []string{"keygen", "-out", prefix}, &out, &out); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("second keygen: %v, want a refusal to overwrite", err)
	}
}

// TestLoggerRedacts: the logger's last line of defence masks 11-digit runs in any string.
func TestLoggerRedacts(t *testing.T) {
	nid := persons[0].NationalID
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := newLogger(&buf, format, "debug")
		log.Info("oops "+nid, "err", "attribute uid="+nid, slog.Group("g", "v", nid))
		if strings.Contains(buf.String(), nid) {
			t.Errorf("%s log holds the number: %s", format, buf.String())
		}
		if !strings.Contains(buf.String(), "[redacted]") {
			t.Errorf("%s log does not mark the redaction: %s", format, buf.String())
		}
	}
}

// TestCheckConfigRollover: `eidsp check-config` loads the next key pair too and warns when
// either certificate expires within 30 days; it reads the IdP metadata with its rules and warns
// when its validUntil is within 30 days.
func TestCheckConfigRollover(t *testing.T) {
	dir := t.TempDir()
	idpMeta, err := os.ReadFile(filepath.Join("..", "..", "metadata", "testdata", "idp-idporten.xml"))
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for name, doc := range map[string][]byte{
		"idp.xml":      idpMeta,
		"idp-soon.xml": bytes.Replace(idpMeta, []byte(`ID="_idporten-test-metadata"`), []byte(`ID="_idporten-test-metadata" validUntil="`+soon+`"`), 1),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, kp := range []struct{ out, days string }{{"long", "365"}, {"short", "10"}} {
		if err := run(context.Background(), []string{"keygen", "-out", filepath.Join(dir, kp.out), "-days", kp.days}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name          string
		current, next [2]string // certificate and key file prefixes
		meta          string    // IdP metadata file in dir; default idp.xml
		wantErr       string
		wantWarn      []string
		noWarn        []string
	}{
		{name: "ok/both far from expiry", current: [2]string{"long", "long"}, next: [2]string{"long", "long"},
			noWarn: []string{"warning"}},
		{name: "ok/next expires soon", current: [2]string{"long", "long"}, next: [2]string{"short", "short"},
			wantWarn: []string{"warning: next SP certificate expires"}, noWarn: []string{"warning: SP certificate"}},
		{name: "ok/current expires soon", current: [2]string{"short", "short"}, next: [2]string{"long", "long"},
			wantWarn: []string{"warning: SP certificate expires"}, noWarn: []string{"warning: next SP"}},
		{name: "fail/next certificate and key do not match", current: [2]string{"long", "long"}, next: [2]string{"long", "short"},
			wantErr: "next SP key pair"},
		{name: "ok/idp metadata expires soon", current: [2]string{"long", "long"}, next: [2]string{"long", "long"},
			meta: "idp-soon.xml", wantWarn: []string{"warning: idp idporten: metadata validUntil"}},
		{name: "fail/idp metadata missing", current: [2]string{"long", "long"}, next: [2]string{"long", "long"},
			meta: "missing.xml", wantErr: "idp idporten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := func(prefix, ext string) string { return filepath.Join(dir, prefix+ext) }
			if tt.meta == "" {
				tt.meta = "idp.xml"
			}
			cfg := "base_url: https://login.example.no\nsp:\n" +
				"  cert_file: " + f(tt.current[0], ".crt") + "\n  key_file: " + f(tt.current[1], ".key") + "\n" +
				"  next_cert_file: " + f(tt.next[0], ".crt") + "\n  next_key_file: " + f(tt.next[1], ".key") + "\n" +
				"  rollover_at: 2026-06-01T06:00:00Z\n" +
				"idps:\n  - name: idporten\n    preset: idporten\n    metadata_file: " + filepath.Join(dir, tt.meta) + "\n" +
				"profiles:\n  - name: idporten\n    idp: idporten\n"
			path := filepath.Join(t.TempDir(), "eidsp.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"check-config", "-config", path}, &out, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("check-config: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("check-config: %v", err)
			}
			for _, w := range tt.wantWarn {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
			for _, w := range tt.noWarn {
				if strings.Contains(out.String(), w) {
					t.Errorf("output %q holds %q", out.String(), w)
				}
			}
		})
	}
}
