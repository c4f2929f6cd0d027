package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eidsp/eidsp/templates"
)

// previewServer renders pages with the real templates and stylesheet, for what the development
// IdP cannot make the SP show: GET /error?key=&locale=&retry= is the error page of key (with the
// reference "preview"), and GET /themed is the login chooser under a portal's theme, served with
// the SP's CSP so that the browser proves the theme's hashed inline style and data: logo load.
func previewServer(t *testing.T) string {
	t.Helper()
	plain, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	themed, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	err = themed.ApplyTheme(templates.Theme{
		Logo:             []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#005b7f"/><path d="M12 21l6 6 11-13" stroke="#fff" stroke-width="4" fill="none"/></svg>`),
		Accent:           "#005b7f",
		HeaderBackground: "#003045",
		HeaderText:       "#ffffff",
	})
	if err != nil {
		t.Fatal(err)
	}
	csp := func(w http.ResponseWriter, s *templates.Set) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src "+s.StyleSources()+"; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(templates.Static())))
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		csp(w, plain)
		p := plain.NewPage(q.Get("locale"), "eidsp (preview)", r.URL,
			map[string]string{"Key": q.Get("key"), "Retry": q.Get("retry"), "Reference": "preview"})
		if err := plain.Render(w, "error", p); err != nil {
			t.Errorf("render: %v", err)
		}
	})
	mux.HandleFunc("GET /themed", func(w http.ResponseWriter, r *http.Request) {
		type profile struct {
			Name, Label, URL string
			Level            int
		}
		data := struct {
			Identity *struct{}
			Profiles []profile
		}{Profiles: []profile{
			{"buypass-smartcard", "profile.buypass-smartcard", "/login?profile=buypass-smartcard", 4},
			{"buypass-mobile", "profile.buypass-mobile", "/login?profile=buypass-mobile", 4},
			{"idporten", "profile.idporten", "/login?profile=idporten", 3},
		}}
		csp(w, themed)
		if err := themed.Render(w, "index", themed.NewPage("nb", "Min side", r.URL, data)); err != nil {
			t.Errorf("render: %v", err)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}
