package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/saml"
)

// FuzzACS sends arbitrary query strings and form bodies at /saml/acs while one login is pending
// with its binding cookie present: whatever arrives, no session may come out of it, and nothing
// may panic past the error handler.
func FuzzACS(f *testing.F) {
	art := saml.Artifact{SourceID: saml.SourceID(testIdPEntityID)}.String()
	other := saml.Artifact{SourceID: saml.SourceID("https://evil.example/idp")}.String()
	// Seeds from the table tests; RELAY stands for the pending login's RelayState.
	for _, s := range []struct{ query, body string }{
		{"SAMLart=" + url.QueryEscape(art), ""},
		{"SAMLart=AAAA&RelayState=RELAY", ""},
		{"SAMLart=" + url.QueryEscape(art) + "&RelayState=RELAY", ""},
		{"SAMLart=" + url.QueryEscape(other) + "&RelayState=RELAY", ""},
		{"SAMLart=&RelayState=RELAY", ""},
		{"RelayState=" + strings.Repeat("A", 81), ""},
		{"SAMLart=x&RelayState=RELAY&RelayState=other", ""},
		{"SAMLart=%zz&RelayState=RELAY", ""},
		{"", "SAMLResponse=aGVsbG8=&RelayState=RELAY"},
		{"", "SAMLResponse=%25%25&RelayState=RELAY"},
		{"", "SAMLResponse=PHNhbWxwOlJlc3BvbnNlLz4=&RelayState=RELAY"},
		{"", "RelayState=RELAY&SAMLResponse=" + strings.Repeat("A", 1000)},
		{"", "RelayState=%zz"},
	} {
		f.Add(s.query, s.body)
	}
	fx := newFixture(f)
	fx.srv.SOAP.HTTP.Timeout = 200 * time.Millisecond // the resolution service is down; fail fast
	fx.srv.Opt.SOAPTimeout = 200 * time.Millisecond
	f.Fuzz(func(t *testing.T, query, body string) {
		profile := "p3"
		if body != "" {
			profile = "post"
		}
		relay, bc := fx.pendingFor(t, profile)
		query = strings.ReplaceAll(query, "RELAY", relay)
		body = strings.ReplaceAll(body, "RELAY", relay)
		var req *http.Request
		if body != "" || query == "" {
			req = httptest.NewRequest(http.MethodPost, "/saml/acs", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, "/saml/acs", nil)
			req.URL.RawQuery = query
		}
		req.AddCookie(bc)
		rec := httptest.NewRecorder()
		fx.srv.Echo().ServeHTTP(rec, req)
		if rec.Code < 400 {
			t.Fatalf("query %q body %q: status %d", query, body, rec.Code)
		}
		if cookieNamed(rec, fx.srv.Opt.CookieName) != nil {
			t.Fatalf("query %q body %q: session cookie set", query, body)
		}
		if n := fx.store.sessionsCreated(); n != 0 {
			t.Fatalf("query %q body %q: %d sessions created", query, body, n)
		}
		if strings.Contains(fx.logs.String(), `"reason":"panic"`) {
			t.Fatalf("query %q body %q: a handler panicked", query, body)
		}
	})
}
