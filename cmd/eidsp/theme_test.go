package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestThemeFromConfiguration: the ui section of the configuration reaches the pages (logo,
// colours, replaced texts), and a colour below WCAG AA contrast stops the start.
func TestThemeFromConfiguration(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="#0b5394"/></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(env *devEnv) {
		cfg := *env.cfg
		cfg.UI.LogoFile, cfg.UI.LogoAlt = logo, "Etaten"
		cfg.UI.Colors.Accent = "#0b5394"
		cfg.UI.Texts = map[string]map[string]string{"nb": {"login.intro": "Velg innlogging til Min side."}}
		a, err := env.rebuild(t.Context(), &cfg, env.app.server.Log, env.app.server.Now)
		if err != nil {
			t.Fatalf("buildApp with a theme: %v", err)
		}
		env.app.store.Close()
		env.app = a
	})
	p := h.browser().get("/")
	for _, want := range []string{`src="data:image/svg&#43;xml;base64,`, `alt="Etaten"`, "#0b5394", "Velg innlogging til Min side."} {
		if !strings.Contains(p.body, want) {
			t.Errorf("themed page lacks %s", want)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "'sha256-") {
		t.Errorf("CSP %q does not allow the theme's inline style by hash", csp)
	}

	bad := *h.env.cfg
	bad.UI.Colors.Accent = "#eeeeee" // white text on it fails 4.5:1
	if a, err := h.env.rebuild(t.Context(), &bad, h.env.app.server.Log, h.env.app.server.Now); err == nil {
		a.store.Close()
		t.Fatal("a low-contrast accent colour was accepted")
	}
}
