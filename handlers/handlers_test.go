package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

func TestSafeReturnTo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means refused
	}{
		{"ok/empty is the root", "", "/"},
		{"ok/root", "/", "/"},
		{"ok/path and query", "/cases?x=1", "/cases?x=1"},
		{"ok/fragment", "/a/b#frag", "/a/b#frag"},
		{"ok/encoded characters stay a path", "/a%20b?q=%2F", "/a%20b?q=%2F"},
		{"ok/dot segment", "/./x", "/./x"},
		{"fail/protocol-relative", "//evil", ""},
		{"fail/protocol-relative with path", "//evil.example/x", ""},
		{"fail/backslash", `/\evil`, ""},
		{"fail/two backslashes", `\\evil`, ""},
		{"fail/backslash later", `/x\y`, ""},
		{"fail/absolute URL", "https://evil", ""},
		{"fail/javascript", "javascript:x", ""},
		{"fail/data", "data:text/html,x", ""},
		{"fail/relative path", "cases", ""},
		{"fail/CRLF", "/\r\nSet-Cookie: x=1", ""},
		{"fail/newline at end", "/x\n", ""},
		{"fail/leading space", " /x", ""},
		{"fail/tab", "/\tevil", ""},
		{"fail/NUL", "/x\x00", ""},
		{"fail/DEL", "/x\x7f", ""},
		{"fail/encoded slashes at the start", "/%2F%2Fevil", ""},
		{"fail/encoded slash then slash", "/%2F/evil", ""},
		{"fail/encoded backslash", "/%5Cevil", ""},
		{"fail/not a path", "%2F%2Fevil", ""},
		{"fail/userinfo-looking", "//user@evil", ""},
		{"fail/too long", "/" + strings.Repeat("a", 1024), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := safeReturnTo(tt.in)
			if tt.want == "" {
				if ok {
					t.Errorf("safeReturnTo(%q) = %q, accepted; want refused", tt.in, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Errorf("safeReturnTo(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

// FuzzSafeReturnTo resolves every accepted value against our origin the way a
// browser does: it must never leave it.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/cases?x=1", "//evil", `/\evil`, "/%2F%2Fevil", "/%5Cevil", "javascript:x", "/a#//evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://login.example.no/start")
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := safeReturnTo(raw)
		if !ok {
			return
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q that does not parse: %v", got, err)
		}
		if u.Scheme != "https" || u.Host != "login.example.no" {
			t.Fatalf("accepted %q, which leads to %s", got, u)
		}
		if strings.ContainsAny(got, "\r\n\\") {
			t.Fatalf("accepted %q with a control character or backslash", got)
		}
	})
}

func TestLocale(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		cookie string
		accept string
		want   string
	}{
		{name: "ok/default nb", want: "nb"},
		{name: "ok/query", query: "en", cookie: "nn", accept: "nn", want: "en"},
		{name: "ok/query se", query: "se", want: "se"},
		{name: "ok/cookie beats Accept-Language", cookie: "nn", accept: "en", want: "nn"},
		{name: "ok/Accept-Language nn-NO", accept: "nn-NO,nn;q=0.9", want: "nn"},
		{name: "ok/Accept-Language no means nb", accept: "no", want: "nb"},
		{name: "ok/Accept-Language en-GB", accept: "en-GB,en;q=0.8", want: "en"},
		{name: "ok/Accept-Language unknown first", accept: "de-DE,de;q=0.9,nn;q=0.5", want: "nn"},
		{name: "ok/Accept-Language q ordering", accept: "en;q=0.1, nn;q=0.9", want: "nn"},
		{name: "ok/Accept-Language q=0 is refused", accept: "en;q=0, nb;q=0.5", want: "nb"},
		{name: "fail/unknown query falls through", query: "fr", accept: "en", want: "en"},
		{name: "fail/unknown cookie falls through", cookie: "xx", want: "nb"},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/login?profile=p3"
			if tt.query != "" {
				target += "&locale=" + tt.query
			}
			req := httptest.NewRequest(http.MethodGet, target, nil)
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: localeCookie, Value: tt.cookie})
			}
			if tt.accept != "" {
				req.Header.Set("Accept-Language", tt.accept)
			}
			c := echo.NewContext(req, httptest.NewRecorder())
			if got := f.srv.locale(c); got != tt.want {
				t.Errorf("locale = %q, want %q", got, tt.want)
			}
			// The same choice travels to the IdP.
			rec := httptest.NewRecorder()
			f.srv.Echo().ServeHTTP(rec, req)
			loc, _ := url.Parse(rec.Header().Get("Location"))
			if got := loc.Query().Get("locale"); got != tt.want {
				t.Errorf("locale sent to the IdP = %q, want %q", got, tt.want)
			}
			if lc := cookieNamed(rec, localeCookie); (tt.query == tt.want) != (lc != nil) {
				t.Errorf("locale cookie %v after ?locale=%s", lc, tt.query)
			}
		})
	}
}

func TestPagesSpeakTheLanguage(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ name, target, accept, lang, text string }{
		{"ok/nb error page", "/login?profile=nope", "", "nb", "Ukjent innloggingsvalg"},
		{"ok/en error page", "/login?profile=nope&locale=en", "", "en", "<html lang=\"en\""},
		{"ok/nn from Accept-Language", "/login?profile=nope", "nn-NO,nn;q=0.9", "nn", "<html lang=\"nn\""},
		{"ok/se falls back to nb", "/login?profile=nope&locale=se", "", "nb", "Ukjent innloggingsvalg"},
		{"ok/index", "/?locale=en", "", "en", "/login?profile=p3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Language", tt.accept)
			}
			rec := httptest.NewRecorder()
			f.srv.Echo().ServeHTTP(rec, req)
			body := rec.Body.String()
			if !strings.Contains(body, `<html lang="`+tt.lang+`"`) || !strings.Contains(body, tt.text) {
				t.Errorf("page is not %s / lacks %q:\n%s", tt.lang, tt.text, body)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	sess := f.newSession(t, 4, f.clock.Now())
	for _, tt := range []struct {
		name, method, target string
		noStore              bool
	}{
		{"ok/index", http.MethodGet, "/", true},
		{"ok/login", http.MethodGet, "/login?profile=p3", true},
		{"ok/error page", http.MethodGet, "/login?profile=nope", true},
		{"ok/acs", http.MethodGet, "/saml/acs", true},
		{"ok/acs post", http.MethodPost, "/saml/acs", true},
		{"ok/metadata", http.MethodGet, "/saml/metadata", true},
		{"ok/session", http.MethodGet, "/session", true},
		{"ok/auth", http.MethodGet, "/auth", true},
		{"ok/healthz", http.MethodGet, "/healthz", true},
		{"ok/not found", http.MethodGet, "/nope", true},
		{"ok/static", http.MethodGet, "/static/style.css", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.request(tt.method, tt.target, "", sess)
			h := rec.Header()
			csp := h.Get("Content-Security-Policy")
			for _, d := range []string{"frame-ancestors 'none'", "default-src 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %s", csp, d)
				}
			}
			for k, v := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
				if h.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v)
				}
			}
			if cc := h.Get("Cache-Control"); tt.noStore != strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control %q (no-store wanted: %v)", cc, tt.noStore)
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS on an http base URL")
			}
			if h.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
	t.Run("ok/HSTS on https", func(t *testing.T) {
		f := newFixture(t, withBaseURL("https://login.example.no"))
		rec := f.request(http.MethodGet, "/healthz", "")
		if !strings.Contains(rec.Header().Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS: %v", rec.Header())
		}
	})
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t)
	t.Run("ok/healthz", func(t *testing.T) {
		rec := f.request(http.MethodGet, "/healthz", "")
		if rec.Code != http.StatusOK {
			t.Errorf("status %d", rec.Code)
		}
	})
	t.Run("ok/metadata", func(t *testing.T) {
		rec := f.request(http.MethodGet, "/saml/metadata", "")
		if rec.Code != http.StatusOK || rec.Body.String() != string(f.srv.SPMetadata) ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/samlmetadata+xml") {
			t.Errorf("status %d type %q body %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	})
	t.Run("fail/not found", func(t *testing.T) {
		rec := f.request(http.MethodGet, "/nope", "")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "Siden finnes ikke") {
			t.Errorf("status %d:\n%s", rec.Code, rec.Body)
		}
	})
}

func TestSession(t *testing.T) {
	tests := []struct {
		name       string
		lastSeen   time.Duration // before now
		expiresIn  time.Duration // 0: an hour
		noCookie   bool
		badCookie  string
		wantStatus int
		wantGone   bool
	}{
		{name: "ok/fresh", lastSeen: 0, wantStatus: http.StatusOK},
		{name: "ok/29 minutes idle", lastSeen: 29 * time.Minute, wantStatus: http.StatusOK},
		{name: "fail/no cookie", noCookie: true, wantStatus: http.StatusUnauthorized},
		{name: "fail/unknown cookie", badCookie: "nope", wantStatus: http.StatusUnauthorized},
		{name: "fail/huge cookie", badCookie: strings.Repeat("a", 500), wantStatus: http.StatusUnauthorized},
		{name: "fail/idle 31 minutes", lastSeen: 31 * time.Minute, wantStatus: http.StatusUnauthorized, wantGone: true},
		{name: "fail/idle exactly 30 minutes", lastSeen: 30 * time.Minute, wantStatus: http.StatusUnauthorized, wantGone: true},
	}
	for _, tt := range tests {
		for _, path := range []string{"/session", "/auth"} {
			t.Run(tt.name+path, func(t *testing.T) {
				f := newFixture(t)
				ck := f.newSession(t, 4, f.clock.Now())
				f.clock.Add(tt.lastSeen)
				var cookies []*http.Cookie
				switch {
				case tt.badCookie != "":
					cookies = append(cookies, &http.Cookie{Name: "eidsp_session", Value: tt.badCookie})
				case !tt.noCookie:
					cookies = append(cookies, ck)
				}
				rec := f.request(http.MethodGet, path, "", cookies...)
				if rec.Code != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
				}
				if !strings.Contains(rec.Header().Get("Cache-Control"), "no-store") {
					t.Error("no Cache-Control: no-store")
				}
				_, err := f.store.GetSession(context.Background(), ck.Value)
				if gone := errors.Is(err, session.ErrNotFound); gone != tt.wantGone {
					t.Errorf("session deleted = %v (%v), want %v", gone, err, tt.wantGone)
				}
				if path == "/session" {
					var m map[string]any
					if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
						t.Fatalf("not JSON: %q", rec.Body)
					}
					if rec.Code == http.StatusUnauthorized {
						if m["error"] != "no_session" {
							t.Errorf("401 body %v", m)
						}
						return
					}
					for k, want := range map[string]any{
						"national_id": "15819010290", "national_id_kind": "synthetic-fnr", "instrument": "unknown",
						"security_level": float64(4), "loa": identity.LoAHigh, "auth_method": "Minid-PIN", "idp": "idp",
						"session_index": "_idx1", "culture": "nb", "profile": "p3",
					} {
						if m[k] != want {
							t.Errorf("%s = %v, want %v", k, m[k], want)
						}
					}
					for _, k := range []string{"authenticated_at", "expires_at"} {
						if _, err := time.Parse(time.RFC3339, asString(m[k])); err != nil {
							t.Errorf("%s = %v", k, m[k])
						}
					}
					if _, ok := m["NameID"]; ok {
						t.Error("NameID in the JSON")
					}
					// expires_at is the idle deadline: last activity (now, after the touch) + 30 min.
					exp, _ := time.Parse(time.RFC3339, asString(m["expires_at"]))
					if want := f.clock.Now().Add(30 * time.Minute); !exp.Equal(want) {
						t.Errorf("expires_at %v, want %v", exp, want)
					}
					return
				}
				if rec.Code == http.StatusOK {
					for k, want := range map[string]string{"X-Eid-National-Id": "15819010290", "X-Eid-Level": "4",
						"X-Eid-Instrument": "unknown", "X-Eid-Auth-Method": "Minid-PIN", "X-Eid-IdP": "idp"} {
						if got := rec.Header().Get(k); got != want {
							t.Errorf("%s = %q, want %q", k, got, want)
						}
					}
				} else if rec.Header().Get("X-Eid-National-Id") != "" {
					t.Error("401 with identity headers")
				}
			})
		}
	}
	t.Run("fail/absolute lifetime over", func(t *testing.T) {
		f := newFixture(t)
		ck := f.newSession(t, 4, f.clock.Now())
		for i := 0; i < 5; i++ { // active every 20 minutes, past ExpiresAt (1 h)
			f.clock.Add(20 * time.Minute)
			rec := f.request(http.MethodGet, "/session", "", ck)
			want := http.StatusOK
			if i >= 2 {
				want = http.StatusUnauthorized
			}
			if rec.Code != want {
				t.Errorf("after %d min: status %d, want %d", (i+1)*20, rec.Code, want)
			}
		}
	})
}

func asString(v any) string { s, _ := v.(string); return s }

func TestLogin(t *testing.T) {
	tests := []struct {
		name       string
		base       string
		target     string
		cookieLvl  int // a live session of this level (0: none)
		wantStatus int
		wantKey    string
		wantLoc    string // prefix
		sameSite   http.SameSite
		secure     bool
	}{
		{name: "ok/artifact IdP on http", base: "http://localhost:8080", target: "/login?profile=p3",
			wantStatus: http.StatusFound, wantLoc: testSSO + "?SAMLRequest=", sameSite: http.SameSiteLaxMode},
		{name: "ok/artifact IdP on https", base: "https://login.example.no", target: "/login?profile=p3",
			wantStatus: http.StatusFound, wantLoc: testSSO + "?SAMLRequest=", sameSite: http.SameSiteLaxMode, secure: true},
		{name: "ok/POST IdP on https needs SameSite=None", base: "https://login.example.no", target: "/login?profile=post",
			wantStatus: http.StatusFound, wantLoc: testSSO + "?SAMLRequest=", sameSite: http.SameSiteNoneMode, secure: true},
		{name: "ok/live session at the level: straight back", target: "/login?profile=p3&return_to=/x", cookieLvl: 3,
			wantStatus: http.StatusSeeOther, wantLoc: "/x"},
		{name: "ok/live level 3 session, level 4 wanted: to the IdP", target: "/login?profile=p4", cookieLvl: 3,
			wantStatus: http.StatusFound, wantLoc: testSSO, sameSite: http.SameSiteLaxMode},
		{name: "ok/live session without a profile instrument: to the IdP", target: "/login?profile=mobile", cookieLvl: 4,
			wantStatus: http.StatusFound, wantLoc: testSSO, sameSite: http.SameSiteLaxMode},
		{name: "ok/force=1 with a live session: to the IdP", target: "/login?profile=p3&force=1", cookieLvl: 4,
			wantStatus: http.StatusFound, wantLoc: testSSO, sameSite: http.SameSiteLaxMode},
		{name: "fail/unknown profile", target: "/login?profile=nope", wantStatus: http.StatusNotFound, wantKey: "unknown_profile"},
		{name: "fail/bad return_to", target: "/login?profile=p3&return_to=//evil", wantStatus: http.StatusBadRequest, wantKey: "bad_request"},
		{name: "fail/bad return_to even with a session", target: "/login?profile=p3&return_to=https://evil", cookieLvl: 4,
			wantStatus: http.StatusBadRequest, wantKey: "bad_request"},
		{name: "fail/profile names a missing IdP", target: "/login?profile=broken", wantStatus: http.StatusInternalServerError, wantKey: "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []fixtureOption
			if tt.base != "" {
				opts = append(opts, withBaseURL(tt.base))
			}
			f := newFixture(t, opts...)
			var cookies []*http.Cookie
			if tt.cookieLvl != 0 {
				cookies = append(cookies, f.newSession(t, tt.cookieLvl, f.clock.Now()))
			}
			rec := f.request(http.MethodGet, tt.target, "", cookies...)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tt.wantStatus, rec.Body)
			}
			var binding *http.Cookie
			for _, c := range rec.Result().Cookies() {
				if strings.HasPrefix(c.Name, "eidsp_login_") {
					binding = c
				}
			}
			if tt.wantKey != "" {
				fails := f.logs.records(t, "request failed")
				if len(fails) != 1 || fails[0]["error_key"] != tt.wantKey {
					t.Errorf("log %v, want one failure %s", fails, tt.wantKey)
				}
				if binding != nil {
					t.Errorf("refused login set %s", binding.Name)
				}
				return
			}
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, tt.wantLoc) {
				t.Errorf("Location %q, want %q…", loc, tt.wantLoc)
			}
			if tt.wantStatus != http.StatusFound {
				return
			}
			if binding == nil {
				t.Fatal("no binding cookie")
			}
			if binding.SameSite != tt.sameSite || binding.Secure != tt.secure || !binding.HttpOnly || binding.Path != "/saml/acs" ||
				binding.MaxAge != int(f.srv.Opt.PendingTTL/time.Second) {
				t.Errorf("binding cookie %+v", binding)
			}
			if started := f.logs.records(t, "login started"); len(started) != 1 {
				t.Errorf("%d 'login started' lines", len(started))
			}
		})
	}
}

// TestACS covers what the ACS refuses before it ever talks to the IdP.
func TestACS(t *testing.T) {
	art := saml.Artifact{SourceID: saml.SourceID(testIdPEntityID)}.String()
	tests := []struct {
		name       string
		method     string
		query      func(relay string) string
		body       func(relay string) string
		profile    string
		noBinding  bool
		unspent    bool // the request names no pending login, so none is spent
		wantStatus int
		wantKey    string
		wantReason string
	}{
		{name: "fail/GET no RelayState", method: http.MethodGet, query: func(string) string { return "SAMLart=" + url.QueryEscape(art) },
			unspent: true, wantStatus: http.StatusBadRequest, wantKey: "bad_request", wantReason: "relay_state"},
		{name: "fail/GET unknown RelayState", method: http.MethodGet, unspent: true,
			query:      func(string) string { return "SAMLart=x&RelayState=" + strings.Repeat("A", 43) },
			wantStatus: http.StatusBadRequest, wantKey: "expired", wantReason: "pending_login"},
		{name: "fail/GET RelayState too long", method: http.MethodGet, unspent: true,
			query:      func(string) string { return "SAMLart=x&RelayState=" + strings.Repeat("A", 81) },
			wantStatus: http.StatusBadRequest, wantKey: "bad_request", wantReason: "relay_state"},
		{name: "fail/GET no binding cookie", method: http.MethodGet, noBinding: true,
			query:      func(r string) string { return "SAMLart=" + url.QueryEscape(art) + "&RelayState=" + r },
			wantStatus: http.StatusBadRequest, wantKey: "browser", wantReason: "browser_binding"},
		{name: "fail/GET garbage artifact", method: http.MethodGet,
			query:      func(r string) string { return "SAMLart=AAAA&RelayState=" + r },
			wantStatus: http.StatusForbidden, wantKey: "verification", wantReason: "artifact"},
		{name: "fail/GET artifact of another IdP", method: http.MethodGet,
			query: func(r string) string {
				return "SAMLart=" + url.QueryEscape(saml.Artifact{SourceID: saml.SourceID("https://evil")}.String()) + "&RelayState=" + r
			},
			wantStatus: http.StatusForbidden, wantKey: "verification", wantReason: "artifact"},
		{name: "fail/GET IdP unreachable", method: http.MethodGet,
			query:      func(r string) string { return "SAMLart=" + url.QueryEscape(art) + "&RelayState=" + r },
			wantStatus: http.StatusBadGateway, wantKey: "idp_unreachable", wantReason: "transport"},
		{name: "fail/GET answer for a POST IdP", method: http.MethodGet, profile: "post",
			query:      func(r string) string { return "SAMLart=" + url.QueryEscape(art) + "&RelayState=" + r },
			wantStatus: http.StatusBadRequest, wantKey: "bad_request", wantReason: "binding"},
		{name: "fail/POST not base64", method: http.MethodPost, profile: "post",
			body:       func(r string) string { return "SAMLResponse=%25%25&RelayState=" + r },
			wantStatus: http.StatusForbidden, wantKey: "verification", wantReason: "malformed"},
		{name: "fail/POST not XML", method: http.MethodPost, profile: "post",
			body:       func(r string) string { return "SAMLResponse=aGVsbG8=&RelayState=" + r },
			wantStatus: http.StatusForbidden, wantKey: "verification", wantReason: "malformed"},
		{name: "fail/POST answer for an artifact IdP", method: http.MethodPost,
			body:       func(r string) string { return "SAMLResponse=aGVsbG8=&RelayState=" + r },
			wantStatus: http.StatusBadRequest, wantKey: "bad_request", wantReason: "binding"},
		{name: "fail/POST too large", method: http.MethodPost, profile: "post", unspent: true,
			body:       func(r string) string { return "RelayState=" + r + "&SAMLResponse=" + strings.Repeat("A", 70<<10) },
			wantStatus: http.StatusRequestEntityTooLarge, wantKey: "bad_request", wantReason: "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			profile := tt.profile
			if profile == "" {
				profile = "p3"
			}
			relay, bc := f.pendingFor(t, profile)
			var cookies []*http.Cookie
			if !tt.noBinding {
				cookies = append(cookies, bc)
			}
			var rec *httptest.ResponseRecorder
			if tt.method == http.MethodGet {
				rec = f.request(http.MethodGet, "/saml/acs?"+tt.query(relay), "", cookies...)
			} else {
				rec = f.request(http.MethodPost, "/saml/acs", tt.body(relay), cookies...)
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d:\n%s", rec.Code, tt.wantStatus, rec.Body)
			}
			fails := f.logs.records(t, "request failed")
			if len(fails) != 1 || fails[0]["error_key"] != tt.wantKey || fails[0]["reason"] != tt.wantReason {
				t.Errorf("log %v, want one failure %s/%s", fails, tt.wantKey, tt.wantReason)
			}
			if !strings.Contains(rec.Body.String(), `<html lang="nb"`) || !strings.Contains(rec.Body.String(), `class="button primary" href="`) {
				t.Errorf("not an error page with a retry link:\n%s", rec.Body)
			}
			if cookieNamed(rec, f.srv.Opt.CookieName) != nil || f.store.sessionsCreated() != 0 {
				t.Error("a session was created")
			}
			// Whatever happened, the pending login is spent.
			again := f.request(http.MethodGet, "/saml/acs?SAMLart="+url.QueryEscape(art)+"&RelayState="+relay, "", bc)
			spent := again.Code == http.StatusBadRequest && strings.Contains(again.Body.String(), "utløpt eller allerede brukt")
			if spent == tt.unspent {
				t.Errorf("pending login spent = %v, want %v: %d\n%s", spent, !tt.unspent, again.Code, again.Body)
			}
		})
	}
}

// finishContext makes an Echo context for a call to finishLogin.
func finishContext(t *testing.T, f *fixture, cookies ...*http.Cookie) (*echo.Context, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/saml/acs", nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	return f.srv.Echo().NewContext(req, rec), rec
}

func result(level int, assertionID string, now time.Time) *saml.Result {
	return &saml.Result{
		Identity: identity.Identity{NationalID: "15819010290", Kind: identity.KindSyntheticFNR, Instrument: "ips:BPSC",
			Level: level, LoA: identity.LoAForLevel(level), AuthMethod: "Buypass", IdP: "idp", SessionIndex: "_s", AuthenticatedAt: now},
		AssertionID: assertionID, ReplayUntil: now.Add(5 * time.Minute),
	}
}

func TestFinishLogin(t *testing.T) {
	pending := func(f *fixture, minLevel int) *session.PendingLogin {
		now := f.clock.Now()
		return &session.PendingLogin{Key: strings.Repeat("k", 43), RequestID: "_r", IdP: "idp", Profile: "p4", ReturnTo: "/cases",
			MinLevel: minLevel, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	}
	t.Run("fail/level too low", func(t *testing.T) {
		f := newFixture(t)
		c, rec := finishContext(t, f)
		err := f.srv.finishLogin(c, pending(f, 4), f.srv.IdPs["idp"], result(3, "_a1", f.clock.Now()), nil)
		var pe *pageError
		if !errors.As(err, &pe) || pe.Key != "level_too_low" || pe.Status != http.StatusForbidden || pe.Reason != "level" {
			t.Fatalf("finishLogin: %#v, want level_too_low 403", err)
		}
		if pe.Retry != "/login?profile=p4&return_to=%2Fcases" {
			t.Errorf("retry %q", pe.Retry)
		}
		if f.store.sessionsCreated() != 0 || cookieNamed(rec, f.srv.Opt.CookieName) != nil {
			t.Error("a session was created")
		}
	})
	t.Run("fail/instrument the profile does not allow", func(t *testing.T) {
		f := newFixture(t)
		c, rec := finishContext(t, f)
		pl := pending(f, 4)
		pl.Profile = "mobile"                                                                    // ips:OTP1PKI or ips:CC2PKI only
		err := f.srv.finishLogin(c, pl, f.srv.IdPs["idp"], result(4, "_a0", f.clock.Now()), nil) // ips:BPSC
		var pe *pageError
		if !errors.As(err, &pe) || pe.Status != http.StatusForbidden {
			t.Errorf("finishLogin with ips:BPSC for a profile allowing %v: %v, want a 403 refusal",
				f.srv.Profiles[2].Instruments, err)
		}
		if f.store.sessionsCreated() != 0 || cookieNamed(rec, f.srv.Opt.CookieName) != nil {
			t.Error("a session was created")
		}
	})
	t.Run("ok/level 4 for level 4", func(t *testing.T) {
		f := newFixture(t)
		old := f.newSession(t, 3, f.clock.Now())
		c, rec := finishContext(t, f, old)
		if err := f.srv.finishLogin(c, pending(f, 4), f.srv.IdPs["idp"], result(4, "_a2", f.clock.Now()), nil); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/cases" {
			t.Errorf("status %d Location %q", rec.Code, rec.Header().Get("Location"))
		}
		ck := cookieNamed(rec, f.srv.Opt.CookieName)
		if ck == nil || ck.Value == old.Value || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
			t.Fatalf("session cookie %+v", ck)
		}
		if _, err := f.store.GetSession(context.Background(), old.Value); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("the old session survives a new login: %v", err)
		}
		s, err := f.store.GetSession(context.Background(), ck.Value)
		if err != nil || s.Identity.Level != 4 || s.Profile != "p4" {
			t.Errorf("new session %+v, %v", s, err)
		}
		if strings.Contains(f.logs.String(), "15819010290") {
			t.Error("national identity number in the log")
		}
		if lines := f.logs.records(t, "login"); len(lines) != 1 || asString(lines[0]["nid_hash"]) == "" {
			t.Errorf("login lines %v, want one with nid_hash", lines)
		}
	})
	t.Run("ok/secure cookie on https", func(t *testing.T) {
		f := newFixture(t, withBaseURL("https://login.example.no"))
		c, rec := finishContext(t, f)
		if err := f.srv.finishLogin(c, pending(f, 3), f.srv.IdPs["idp"], result(3, "_a3", f.clock.Now()), nil); err != nil {
			t.Fatal(err)
		}
		if ck := cookieNamed(rec, f.srv.Opt.CookieName); ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("session cookie %+v", ck)
		}
	})
	t.Run("fail/assertion replayed", func(t *testing.T) {
		f := newFixture(t)
		c, _ := finishContext(t, f)
		if err := f.srv.finishLogin(c, pending(f, 3), f.srv.IdPs["idp"], result(3, "_same", f.clock.Now()), nil); err != nil {
			t.Fatal(err)
		}
		c, rec := finishContext(t, f)
		err := f.srv.finishLogin(c, pending(f, 3), f.srv.IdPs["idp"], result(3, "_same", f.clock.Now()), nil)
		var pe *pageError
		if !errors.As(err, &pe) || pe.Key != "expired" || pe.Reason != "replay" {
			t.Fatalf("second use: %v, want replay", err)
		}
		if f.store.sessionsCreated() != 1 || cookieNamed(rec, f.srv.Opt.CookieName) != nil {
			t.Error("the replay created a session")
		}
	})
	t.Run("fail/session capped by SessionNotOnOrAfter", func(t *testing.T) {
		f := newFixture(t)
		c, rec := finishContext(t, f)
		res := result(4, "_a4", f.clock.Now())
		res.SessionNotOnOrAfter = f.clock.Now().Add(10 * time.Minute)
		if err := f.srv.finishLogin(c, pending(f, 4), f.srv.IdPs["idp"], res, nil); err != nil {
			t.Fatal(err)
		}
		ck := cookieNamed(rec, f.srv.Opt.CookieName)
		f.clock.Add(11 * time.Minute)
		if r := f.request(http.MethodGet, "/session", "", ck); r.Code != http.StatusUnauthorized {
			t.Errorf("session outlives the IdP's SessionNotOnOrAfter: %d", r.Code)
		}
	})
	for _, tt := range []struct {
		name   string
		err    error
		status int
		key    string
	}{
		{"fail/cancelled", &saml.Error{Reason: saml.ReasonStatus, Status: []string{saml.StatusPrefix + "Responder", saml.StatusPrefix + "AuthnFailed"}}, 403, "cancelled"},
		{"fail/no authn context", &saml.Error{Reason: saml.ReasonStatus, Status: []string{saml.StatusPrefix + "Responder", saml.StatusPrefix + "NoAuthnContext"}}, 403, "no_authn_context"},
		{"fail/unknown principal", &saml.Error{Reason: saml.ReasonStatus, Status: []string{saml.StatusPrefix + "Responder", saml.StatusPrefix + "UnknownPrincipal"}}, 403, "unknown_principal"},
		{"fail/request denied", &saml.Error{Reason: saml.ReasonStatus, Status: []string{saml.StatusPrefix + "Responder", saml.StatusPrefix + "RequestDenied"}}, 403, "request_denied"},
		{"fail/other status", &saml.Error{Reason: saml.ReasonStatus, Status: []string{saml.StatusPrefix + "Requester"}}, 403, "idp_error"},
		{"fail/transport", &saml.Error{Reason: saml.ReasonTransport}, 502, "idp_unreachable"},
		{"fail/attributes", &saml.Error{Reason: saml.ReasonAttributes}, 403, "attributes"},
		{"fail/signature", &saml.Error{Reason: saml.ReasonSignature}, 403, "verification"},
		{"fail/not a saml error", errors.New("boom"), 500, "internal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c, _ := finishContext(t, f)
			err := f.srv.finishLogin(c, pending(f, 3), f.srv.IdPs["idp"], nil, tt.err)
			var pe *pageError
			if !errors.As(err, &pe) || pe.Status != tt.status || pe.Key != tt.key {
				t.Fatalf("%v, want %d %s", err, tt.status, tt.key)
			}
			if f.store.sessionsCreated() != 0 {
				t.Error("a session was created")
			}
		})
	}
}

// panicStore panics where a store bug would.
type panicStore struct{ session.Store }

func (panicStore) TakePending(context.Context, string) (*session.PendingLogin, error) {
	panic("store bug")
}

func TestPanicBecomesAnErrorPage(t *testing.T) {
	f := newFixture(t)
	f.srv.Store = panicStore{f.store}
	rec := f.request(http.MethodGet, "/saml/acs?SAMLart=x&RelayState="+strings.Repeat("A", 43), "")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `<html lang="nb"`) {
		t.Errorf("status %d:\n%s", rec.Code, rec.Body)
	}
	if fails := f.logs.records(t, "request failed"); len(fails) != 1 || fails[0]["reason"] != "panic" {
		t.Errorf("log %v", fails)
	}
}

func TestPendingLoginForRemovedIdP(t *testing.T) {
	f := newFixture(t)
	relay, bc := f.pendingFor(t, "p3")
	delete(f.srv.IdPs, "idp")
	rec := f.request(http.MethodGet, "/saml/acs?SAMLart=x&RelayState="+relay, "", bc)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d", rec.Code)
	}
	if fails := f.logs.records(t, "request failed"); len(fails) != 1 || fails[0]["reason"] != "config" {
		t.Errorf("log %v", fails)
	}
}
