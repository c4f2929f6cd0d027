package templates

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Theme is a portal's look on our pages, from configuration. The zero Theme is eidsp's own look.
// Colours are checked against WCAG 2.1 AA (4.5:1) when the theme is applied, so that a portal
// cannot configure pages people fail to read.
type Theme struct {
	// Logo is an image (PNG, JPEG, GIF, WebP or SVG) shown before the portal name, at most
	// 100 KiB. It is inlined as a data: URI because the pages' CSP allows images from no other
	// origin.
	Logo []byte
	// LogoAlt is the logo's text alternative. Empty: the logo is decorative, since the portal
	// name stands beside it.
	LogoAlt string
	// Accent colours buttons, links and the focus ring ("#rrggbb"); text on it is white, so it
	// must reach 4.5:1 against white.
	Accent string
	// HeaderBackground and HeaderText colour the header bar ("#rrggbb", both or neither).
	HeaderBackground string
	HeaderText       string
	// Texts replaces catalogue messages: locale → message key → text. Both must exist.
	Texts map[string]map[string]string
}

// MaxLogoBytes caps Theme.Logo: every page carries it.
const MaxLogoBytes = 100 << 10

// PageTheme is the applied theme as the layout uses it.
type PageTheme struct {
	Logo    template.URL // data: URI, or ""
	LogoAlt string
	Style   template.CSS // the inline <style>, or ""
}

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Validate reports every problem with the theme at once.
func (t Theme) Validate() error {
	var problems []string
	colour := func(name, v string) bool {
		if v == "" {
			return false
		}
		if !hexColour.MatchString(v) {
			problems = append(problems, fmt.Sprintf("%s %q is not #rrggbb", name, v))
			return false
		}
		return true
	}
	if colour("accent", t.Accent) {
		if r := ContrastRatio(t.Accent, "#ffffff"); r < 4.5 {
			problems = append(problems, fmt.Sprintf("accent %s has contrast %.2f:1 with white text; WCAG AA needs 4.5:1", t.Accent, r))
		}
	}
	bg, fg := colour("header_background", t.HeaderBackground), colour("header_text", t.HeaderText)
	switch {
	case (t.HeaderBackground == "") != (t.HeaderText == ""):
		problems = append(problems, "header_background and header_text go together")
	case bg && fg:
		if r := ContrastRatio(t.HeaderBackground, t.HeaderText); r < 4.5 {
			problems = append(problems, fmt.Sprintf("header_text %s on header_background %s has contrast %.2f:1; WCAG AA needs 4.5:1",
				t.HeaderText, t.HeaderBackground, r))
		}
	}
	if len(t.Logo) > MaxLogoBytes {
		problems = append(problems, fmt.Sprintf("logo is %d bytes; at most %d", len(t.Logo), MaxLogoBytes))
	} else if len(t.Logo) > 0 && logoType(t.Logo) == "" {
		problems = append(problems, "logo is not a PNG, JPEG, GIF, WebP or SVG image")
	}
	if len(problems) > 0 {
		return errors.New("theme: " + strings.Join(problems, "; "))
	}
	return nil
}

func logoType(b []byte) string {
	switch ct := http.DetectContentType(b); ct {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return ct
	}
	if strings.Contains(string(b[:min(len(b), 1024)]), "<svg") {
		return "image/svg+xml"
	}
	return ""
}

// ApplyTheme checks t and applies it to every page rendered afterwards. Call it once at start-up,
// before serving.
func (s *Set) ApplyTheme(t Theme) error {
	if err := t.Validate(); err != nil {
		return err
	}
	var problems []string
	type text struct {
		l      *Lang
		key, v string
	}
	var texts []text
	base := s.langs[DefaultLocale]
	for code, msgs := range t.Texts {
		l, ok := s.langs[code]
		if !ok {
			problems = append(problems, fmt.Sprintf("texts: no catalogue %q", code))
			continue
		}
		for k, v := range msgs {
			if !base.Has(k) {
				problems = append(problems, fmt.Sprintf("texts.%s: no message %q", code, k))
				continue
			}
			if strings.Count(v, "%") != strings.Count(base.msgs[k], "%") {
				problems = append(problems, fmt.Sprintf("texts.%s.%s: keep the message's %% placeholders", code, k))
				continue
			}
			texts = append(texts, text{l, k, v})
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("theme: " + strings.Join(problems, "; "))
	}
	for _, tx := range texts {
		tx.l.msgs[tx.key] = tx.v
	}
	pt := PageTheme{LogoAlt: t.LogoAlt}
	if len(t.Logo) > 0 {
		pt.Logo = template.URL("data:" + logoType(t.Logo) + ";base64," + base64.StdEncoding.EncodeToString(t.Logo))
	}
	var css strings.Builder
	if t.Accent != "" {
		fmt.Fprintf(&css, ":root{--accent:%s}", strings.ToLower(t.Accent))
	}
	if t.HeaderBackground != "" {
		fmt.Fprintf(&css, "header.site{background:%s;color:%s}header.site .lang a,header.site .lang a[aria-current]{color:%s}",
			strings.ToLower(t.HeaderBackground), strings.ToLower(t.HeaderText), strings.ToLower(t.HeaderText))
	}
	pt.Style = template.CSS(css.String())
	s.theme = pt
	return nil
}

// StyleSources is the CSP style-src for the pages: our stylesheet and, when a theme sets
// colours, the hash of its one inline <style> element.
func (s *Set) StyleSources() string {
	if s == nil || s.theme.Style == "" {
		return "'self'"
	}
	sum := sha256.Sum256([]byte(s.theme.Style))
	return "'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// ContrastRatio is the WCAG 2.1 contrast ratio of two "#rrggbb" colours (1 to 21).
func ContrastRatio(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	channel := func(c uint64) float64 {
		x := float64(c) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(v>>16&0xff) + 0.7152*channel(v>>8&0xff) + 0.0722*channel(v&0xff)
}
