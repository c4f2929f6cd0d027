package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
