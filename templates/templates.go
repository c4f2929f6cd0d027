// Package templates holds eidsp's pages and their message catalogues, embedded in the binary and
// parsed at start-up: a broken template or a catalogue with a missing key stops the start, never
// a request.
package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
)

//go:embed html/*.html messages/*.json static/*
var files embed.FS

// Static is the stylesheet and other assets served under /static/.
func Static() fs.FS {
	sub, _ := fs.Sub(files, "static")
	return sub
}

// DefaultLocale is Bokmål, the fallback for every choice.
const DefaultLocale = "nb"

// Set is the parsed pages and catalogues.
type Set struct {
	pages map[string]*template.Template
	langs map[string]*Lang
	theme PageTheme
}

// Lang is one message catalogue.
type Lang struct {
	Code string
	msgs map[string]string
}

// T returns the message for key, formatted with args. A key missing at run time is shown as the
// key itself (Load refuses catalogues with missing keys, so this is a programming error).
func (l *Lang) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Has reports whether the catalogue has key.
func (l *Lang) Has(key string) bool { _, ok := l.msgs[key]; return ok }

// Load parses every page and catalogue and checks that all catalogues have the same keys.
func Load() (*Set, error) {
	s := &Set{pages: map[string]*template.Template{}, langs: map[string]*Lang{}}
	cats, err := fs.Glob(files, "messages/*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range cats {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		l := &Lang{Code: strings.TrimSuffix(path.Base(name), ".json")}
		if err := json.Unmarshal(data, &l.msgs); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.langs[l.Code] = l
	}
	if err := s.checkKeys(); err != nil {
		return nil, err
	}
	pages, err := fs.Glob(files, "html/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := path.Base(p)
		if name == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").ParseFS(files, "html/layout.html", p)
		if err != nil {
			return nil, err
		}
		s.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return s, nil
}

func (s *Set) checkKeys() error {
	base, ok := s.langs[DefaultLocale]
	if !ok {
		return fmt.Errorf("no %s catalogue", DefaultLocale)
	}
	var problems []string
	for code, l := range s.langs {
		for k := range base.msgs {
			if _, ok := l.msgs[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s lacks %q", code, k))
			}
		}
		for k := range l.msgs {
			if _, ok := base.msgs[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s has %q that %s lacks", code, k, DefaultLocale))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("message catalogues differ: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Locales lists the catalogues, Bokmål first.
func (s *Set) Locales() []string {
	out := make([]string, 0, len(s.langs))
	for k := range s.langs {
		out = append(out, k)
	}
	slices.Sort(out)
	slices.SortStableFunc(out, func(a, b string) int {
		if a == DefaultLocale {
			return -1
		}
		if b == DefaultLocale {
			return 1
		}
		return 0
	})
	return out
}

// Lang returns the catalogue for code, falling back to Bokmål.
func (s *Set) Lang(code string) *Lang {
	if l, ok := s.langs[code]; ok {
		return l
	}
	return s.langs[DefaultLocale]
}

// Page is what every page template receives.
type Page struct {
	L      *Lang
	Portal string
	Theme  PageTheme
	Switch []LangLink // the language switcher
	Data   any
}

// LangLink is one entry of the language switcher.
type LangLink struct {
	Code, Label, Href string
	Current           bool
}

// NewPage builds the page frame for locale; u is the current request URL, whose query the
// language links keep.
func (s *Set) NewPage(locale, portal string, u *url.URL, data any) Page {
	l := s.Lang(locale)
	p := Page{L: l, Portal: portal, Theme: s.theme, Data: data}
	target, query := u.Path, u.Query()
	if strings.HasPrefix(target, "/saml/") {
		// The SAML endpoints consume one-time messages (an artifact, a response): a link that
		// repeated the request would show an "expired" page at best and put the artifact into
		// the page. The language switch there leads to the login chooser.
		target, query = "/", url.Values{}
	}
	for _, code := range s.Locales() {
		q := maps.Clone(query)
		if q == nil {
			q = url.Values{}
		}
		q.Set("locale", code)
		p.Switch = append(p.Switch, LangLink{
			// Each language is named in itself, so that its lang attribute is true.
			Code: code, Label: s.langs[code].T("lang." + code), Href: target + "?" + q.Encode(), Current: code == l.Code,
		})
	}
	return p
}

// Render executes page into w; it renders into a buffer first so that a failing template never
// sends half a page.
func (s *Set) Render(w io.Writer, page string, p Page) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return err
	}
	_, err := buf.WriteTo(w)
	return err
}
