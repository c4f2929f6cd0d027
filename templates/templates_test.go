package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"regexp"
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

// Every error page says what happened and what to do next, in every language.
func TestEveryErrorHasTitleTextAndNext(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	l := s.Lang(DefaultLocale)
	n := 0
	for k := range l.msgs {
		key, ok := strings.CutSuffix(k, ".title")
		if !ok || !strings.HasPrefix(key, "error.") {
			continue
		}
		n++
		for _, part := range []string{".text", ".next"} {
			if !l.Has(key + part) {
				t.Errorf("%s has a title but no %s", key, part)
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d error pages", n)
	}
}

// The nynorsk catalogue must be nynorsk and the Bokmål one Bokmål: a word of the other form is
// almost always a copy that was never translated.
func TestCataloguesKeepTheirWrittenForm(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for code, re := range map[string]*regexp.Regexp{
		"nn": regexp.MustCompile(`(?i)\b(ikke|hvis|hva|hvordan|noen|noe|jeg|ble|fra|mye|tjenest\w*|siden|sikkerhet\w*|forespørsel\w*|innloggingen|kontakter|velg)\b`),
		"nb": regexp.MustCompile(`(?i)\b(ikkje|kva|korleis|dersom|nokre|noko|eit|ein|vart|teneste\w*|sida|tryggleik\w*|innlogginga|vel)\b`),
	} {
		for k, v := range s.Lang(code).msgs {
			if m := re.FindString(v); m != "" {
				t.Errorf("%s %s: %q looks like the other written form: %q", code, k, m, v)
			}
		}
	}
}

func TestTheme(t *testing.T) {
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`)
	for _, tt := range []struct {
		name  string
		theme Theme
		want  string // "" = accepted
	}{
		{"ok/zero theme", Theme{}, ""},
		{"ok/colours, logo and a text", Theme{Accent: "#005B7F", HeaderBackground: "#003045", HeaderText: "#ffffff", Logo: svg,
			Texts: map[string]map[string]string{"nn": {"login.intro": "Vel innlogging."}}}, ""},
		{"fail/accent too light for white text", Theme{Accent: "#7fb2e5"}, "contrast"},
		{"fail/accent not #rrggbb", Theme{Accent: "blue"}, "not #rrggbb"},
		{"fail/header background without text colour", Theme{HeaderBackground: "#003045"}, "go together"},
		{"fail/header text unreadable", Theme{HeaderBackground: "#003045", HeaderText: "#204060"}, "contrast"},
		{"fail/logo not an image", Theme{Logo: []byte("hello")}, "not a PNG"},
		{"fail/logo too big", Theme{Logo: bytes.Repeat([]byte("x"), MaxLogoBytes+1)}, "at most"},
		{"fail/text for a missing key", Theme{Texts: map[string]map[string]string{"nb": {"no.such.key": "x"}}}, `no message "no.such.key"`},
		{"fail/text for a missing language", Theme{Texts: map[string]map[string]string{"de": {"login.intro": "x"}}}, `no catalogue "de"`},
		{"fail/text drops a placeholder", Theme{Texts: map[string]map[string]string{"nb": {"login.heading": "Logg inn"}}}, "placeholders"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load()
			if err != nil {
				t.Fatal(err)
			}
			err = s.ApplyTheme(tt.theme)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("ApplyTheme: %v, want an error with %q", err, tt.want)
				}
				if s.StyleSources() != "'self'" {
					t.Fatal("a refused theme was applied")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			u, _ := url.Parse("/")
			if err := s.Render(&buf, "logged_out", s.NewPage("nn", "Portal", u, map[string]bool{})); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			if tt.theme.Accent == "" {
				if strings.Contains(page, "<style>") || s.StyleSources() != "'self'" {
					t.Fatalf("zero theme adds an inline style: %s", s.StyleSources())
				}
				return
			}
			// The CSP hash must be the hash of exactly what the page carries.
			css := page[strings.Index(page, "<style>")+len("<style>") : strings.Index(page, "</style>")]
			sum := sha256.Sum256([]byte(css))
			if want := "'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; s.StyleSources() != want {
				t.Fatalf("StyleSources %s, page style hashes to %s", s.StyleSources(), want)
			}
			if !strings.Contains(css, "--accent:#005b7f") || !strings.Contains(page, `src="data:image/svg`) {
				t.Fatalf("theme not on the page:\n%s", page)
			}
			if s.Lang("nn").T("login.intro") != "Vel innlogging." || s.Lang("nb").T("login.intro") == "Vel innlogging." {
				t.Fatal("text override not applied to nn only")
			}
		})
	}
}

func TestContrastRatio(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#767676", "#ffffff", 4.54},
		{"#0b5394", "#ffffff", 7.84},
	} {
		if got := ContrastRatio(tt.a, tt.b); got < tt.want-0.01 || got > tt.want+0.01 {
			t.Errorf("ContrastRatio(%s, %s) = %.2f, want %.2f", tt.a, tt.b, got, tt.want)
		}
	}
}

// A language link on a page at a SAML endpoint must not repeat the one-time message.
func TestLanguageLinksAtSAMLEndpointsLeadToTheChooser(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("/saml/acs?SAMLart=AAQAAA&RelayState=r")
	for _, l := range s.NewPage("nb", "Portal", u, nil).Switch {
		if l.Href != "/?locale="+l.Code {
			t.Errorf("language link %q at the ACS", l.Href)
		}
	}
}
