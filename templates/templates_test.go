package templates

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Locales(); strings.Join(got, ",") != "nb,en,nn" {
		t.Fatalf("locales %v", got)
	}
	if s.Lang("se").Code != "nb" {
		t.Fatal("unknown locale must fall back to Bokmål")
	}
}

func TestCatalogueKeysMustMatch(t *testing.T) {
	s := &Set{langs: map[string]*Lang{
		"nb": {Code: "nb", msgs: map[string]string{"a": "A", "b": "B"}},
		"en": {Code: "en", msgs: map[string]string{"a": "A", "c": "C"}},
	}}
	err := s.checkKeys()
	if err == nil || !strings.Contains(err.Error(), `en lacks "b"`) || !strings.Contains(err.Error(), `en has "c"`) {
		t.Fatalf("checkKeys: %v", err)
	}
}

func TestRenderEveryPageInEveryLanguage(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range s.Locales() {
		var buf bytes.Buffer
		u, _ := url.Parse("/login?profile=x")
		err := s.Render(&buf, "error", s.NewPage(code, "Portal", u, map[string]string{"Key": "expired", "Retry": "/", "Reference": "r1"}))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), `<html lang="`+code+`"`) || strings.Contains(buf.String(), "error.expired") ||
			!strings.Contains(buf.String(), `href="/login?locale=en&amp;profile=x"`) {
			t.Fatalf("%s: page not translated:\n%s", code, buf.String())
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                         "",
		"nn-NO,nn;q=0.9,en;q=0.8":  "nn,nn,en",
		"en;q=0.1, nn;q=0.9":       "nn,en",
		"en;q=0, nb":               "nb",
		"EN-gb;q=0.5, se;q=0.7":    "se,en",
		"en;q=2, nb;q=bad, nn":     "nn",
		"  , ;q=0.5, nb-NO ;q=0.3": "nb",
	} {
		if got := strings.Join(AcceptLanguage(header), ","); got != want {
			t.Errorf("AcceptLanguage(%q) = %q, want %q", header, got, want)
		}
	}
}
