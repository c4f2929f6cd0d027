package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// seen is what the test upstream received in one request.
type seen struct {
	method, uri, host string
	header, trailer   http.Header
	bodyLen           int
}

// upstream is a test portal that records what reaches it and answers with the headers the test
// asks for.
type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []seen
	respond http.Header
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{respond: http.Header{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.got = append(u.got, seen{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone(), trailer: r.Trailer.Clone(), bodyLen: int(n)})
		for k, v := range u.respond {
			w.Header()[k] = v
		}
		u.mu.Unlock()
		_, _ = io.WriteString(w, "portal page\n")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.got...)
}

// last is the one request the upstream must have received since the test began.
func (u *upstream) only(t *testing.T) seen {
	t.Helper()
	got := u.requests()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want 1", len(got))
	}
	return got[0]
}

func (u *upstream) url(t *testing.T) *url.URL {
	t.Helper()
	p, err := url.Parse(u.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func withUpstream(u *url.URL, profile string) fixtureOption {
	return func(s *Server) { s.Opt.Upstream, s.Opt.DefaultProfile = u, profile }
}

// serve sends req through the Echo router.
func (f *fixture) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.srv.Echo().ServeHTTP(rec, req)
	return rec
}

func TestReverseProxyUnauthenticated(t *testing.T) {
	tests := []struct {
		name, method, target string
		level                int // 0: no session
		wantStatus           int
		wantReturnTo         string // "": none in the login URL
	}{
		{name: "ok/GET goes to login", method: http.MethodGet, target: "/portal/cases", wantStatus: http.StatusFound, wantReturnTo: "/portal/cases"},
		{name: "ok/query kept", method: http.MethodGet, target: "/portal/cases?id=7&tab=a%20b", wantStatus: http.StatusFound, wantReturnTo: "/portal/cases?id=7&tab=a%20b"},
		{name: "ok/HEAD goes to login", method: http.MethodHead, target: "/portal/", wantStatus: http.StatusFound, wantReturnTo: "/portal/"},
		{name: "ok/root goes to login", method: http.MethodGet, target: "/", wantStatus: http.StatusFound, wantReturnTo: "/"},
		{name: "ok/level 3 session below profile level 4", method: http.MethodGet, target: "/portal/cases", level: 3, wantStatus: http.StatusFound, wantReturnTo: "/portal/cases"},
		{name: "fail/POST cannot be replayed after login", method: http.MethodPost, target: "/portal/cases", wantStatus: http.StatusUnauthorized},
		{name: "fail/DELETE", method: http.MethodDelete, target: "/portal/cases/1", wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			f := newFixture(t, withUpstream(up.url(t), "p4"))
			req := httptest.NewRequest(tt.method, tt.target, nil)
			req.Header.Set("X-Eid-National-Id", "15819010290")
			req.Header.Set("X-Eid-Level", "4")
			if tt.level != 0 {
				req.AddCookie(f.newSession(t, tt.level, f.clock.Now()))
			}
			rec := f.serve(req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tt.wantStatus, rec.Body)
			}
			if n := len(up.requests()); n != 0 {
				t.Fatalf("upstream received %d requests without a session", n)
			}
			if rec.Code != http.StatusFound {
				if !strings.Contains(rec.Body.String(), "/login?profile=p4&amp;return_to=") {
					t.Errorf("error page does not lead to the login:\n%s", rec.Body)
				}
				return
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || loc.Path != "/login" || loc.Host != "" {
				t.Fatalf("Location %q, want /login", rec.Header().Get("Location"))
			}
			q := loc.Query()
			if q.Get("profile") != "p4" || q.Get("return_to") != tt.wantReturnTo {
				t.Errorf("Location %q: profile %q return_to %q, want p4 and %q", loc, q.Get("profile"), q.Get("return_to"), tt.wantReturnTo)
			}
			// The login it leads to accepts the return_to.
			lrec := f.request(http.MethodGet, loc.String(), "")
			if lrec.Code != http.StatusFound || !strings.HasPrefix(lrec.Header().Get("Location"), testSSO) {
				t.Errorf("GET %s: %d %q", loc, lrec.Code, lrec.Header().Get("Location"))
			}
		})
	}
}

func TestReverseProxyAuthenticated(t *testing.T) {
	up := newUpstream(t)
	f := newFixture(t, withUpstream(up.url(t), "p4"))
	ck := f.newSession(t, 4, f.clock.Now())
	req := httptest.NewRequest(http.MethodGet, "/portal/cases?id=7", nil)
	req.AddCookie(ck)
	req.AddCookie(&http.Cookie{Name: "portal_pref", Value: "dark"})
	rec := f.serve(req)
	if rec.Code != http.StatusOK || rec.Body.String() != "portal page\n" {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := up.only(t)
	want := map[string]string{
		"X-Eid-National-Id": "15819010290", "X-Eid-Level": "4", "X-Eid-Instrument": "unknown",
		"X-Eid-Auth-Method": "Minid-PIN", "X-Eid-IdP": "idp",
		"X-Forwarded-Host": "localhost:8080", "X-Forwarded-Proto": "http", "X-Forwarded-For": "192.0.2.1",
	}
	for k, v := range want {
		if vs := got.header.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream saw %s = %q, want [%q]", k, vs, v)
		}
	}
	if got.uri != "/portal/cases?id=7" {
		t.Errorf("upstream saw URI %q", got.uri)
	}
	if got.host != up.url(t).Host {
		t.Errorf("upstream saw Host %q, want its own %q", got.host, up.url(t).Host)
	}
	if c := got.header.Get("Cookie"); c != "portal_pref=dark" {
		t.Errorf("upstream saw Cookie %q, want only the portal's own cookie", c)
	}
}

func TestReverseProxyStripsClientIdentityHeaders(t *testing.T) {
	spoofed := http.Header{
		"X-Eid-National-Id": {"01010112345", "02020212345"},
		"x-eid-national-id": {"03030312345"},
		"X-EID-LEVEL":       {"4"},
		"X-Eid-Idp":         {"evil"},
		"X-Eid-IdP":         {"evil2"},
		"x-Eid-Instrument":  {"ips:BPSC"},
		"X_Eid_Auth_Method": {"BankID"},
		"X-Eid_Level":       {"4"},
		"X-Eid-Role":        {"admin"},
		"X-Eid-":            {"x"},
		"x_eid_extra":       {"x"},
	}
	for _, tt := range []struct {
		name       string
		level      int
		connection string
	}{
		{name: "ok/level 4 session", level: 4},
		{name: "ok/level 3 session", level: 3},
		{name: "ok/Connection naming the identity headers", level: 4, connection: "X-Eid-National-Id, X-Eid-Level, x-eid-idp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			f := newFixture(t, withUpstream(up.url(t), "p3"))
			req := httptest.NewRequest(http.MethodPost, "/portal/form", strings.NewReader("a=1"))
			for k, v := range spoofed {
				req.Header[k] = v
			}
			if tt.connection != "" {
				req.Header.Set("Connection", tt.connection)
			}
			// A chunked body, so that the request's trailers travel on to the upstream.
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader("a=1")), -1
			req.Trailer = http.Header{"X-Eid-National-Id": {"04040412345"}, "X-Eid-Level": {"4"}}
			req.AddCookie(f.newSession(t, tt.level, f.clock.Now()))
			rec := f.serve(req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := up.only(t)
			for k, vs := range got.header {
				lk := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
				if !strings.HasPrefix(lk, "x-eid-") {
					continue
				}
				switch k {
				case "X-Eid-National-Id", "X-Eid-Level", "X-Eid-Instrument", "X-Eid-Auth-Method", "X-Eid-Idp":
				default:
					t.Errorf("client header %s = %q reached the upstream", k, vs)
				}
			}
			for k, want := range map[string]string{"X-Eid-National-Id": "15819010290", "X-Eid-Level": string(rune('0' + tt.level)),
				"X-Eid-Idp": "idp", "X-Eid-Instrument": "unknown", "X-Eid-Auth-Method": "Minid-PIN"} {
				if vs := got.header.Values(k); len(vs) != 1 || vs[0] != want {
					t.Errorf("upstream saw %s = %q, want [%q]", k, vs, want)
				}
			}
			for k := range got.trailer {
				if isIdentityHeader(k) {
					t.Errorf("client trailer %s reached the upstream", k)
				}
			}
		})
	}
}

func TestReverseProxyOwnRoutes(t *testing.T) {
	up := newUpstream(t)
	f := newFixture(t, withUpstream(up.url(t), "p3"))
	ck := f.newSession(t, 4, f.clock.Now())
	for _, tt := range []struct {
		name, method, target string
		wantStatus           int
	}{
		{"ok/healthz", http.MethodGet, "/healthz", http.StatusOK},
		{"ok/readyz", http.MethodGet, "/readyz", http.StatusOK},
		{"ok/session", http.MethodGet, "/session", http.StatusOK},
		{"ok/auth", http.MethodGet, "/auth", http.StatusOK},
		{"ok/metadata", http.MethodGet, "/saml/metadata", http.StatusOK},
		{"ok/static", http.MethodGet, "/static/style.css", http.StatusOK},
		{"ok/login", http.MethodGet, "/login?profile=p4&force=1", http.StatusFound},
		{"fail/POST session", http.MethodPost, "/session", http.StatusMethodNotAllowed},
		{"fail/PUT auth", http.MethodPut, "/auth", http.StatusMethodNotAllowed},
		{"fail/unknown SAML path", http.MethodGet, "/saml/other", http.StatusMethodNotAllowed},
		{"fail/unknown static file", http.MethodGet, "/static/nope.css", http.StatusNotFound},
		{"fail/below login", http.MethodGet, "/login/x", http.StatusMethodNotAllowed},
		{"fail/metrics, even when not configured", http.MethodGet, "/metrics", http.StatusMethodNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.request(tt.method, tt.target, "", ck)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if rec.Body.String() == "portal page\n" {
				t.Error("answered by the upstream")
			}
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("upstream received %d requests for eidsp's own paths", n)
	}
	t.Run("ok/lookalike paths are the portal's", func(t *testing.T) {
		for _, p := range []string{"/", "/loginx", "/sessions", "/authors", "/samlx"} {
			if rec := f.request(http.MethodGet, p, "", ck); rec.Body.String() != "portal page\n" {
				t.Errorf("GET %s: %d %s", p, rec.Code, rec.Body)
			}
		}
	})
}

func TestReverseProxyHeaders(t *testing.T) {
	t.Run("ok/hop-by-hop headers stay on this hop", func(t *testing.T) {
		up := newUpstream(t)
		f := newFixture(t, withUpstream(up.url(t), "p3"))
		req := httptest.NewRequest(http.MethodGet, "/portal/", nil)
		req.Header.Set("Connection", "X-Private, keep-alive")
		req.Header.Set("X-Private", "1")
		req.Header.Set("Keep-Alive", "timeout=5")
		req.Header.Set("Proxy-Authorization", "Basic eDp5")
		req.Header.Set("X-Forwarded-Host", "evil.example")
		req.Header.Set("Forwarded", "host=evil.example")
		req.Header.Set("Accept-Language", "nb")
		req.AddCookie(f.newSession(t, 4, f.clock.Now()))
		if rec := f.serve(req); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		got := up.only(t)
		for _, k := range []string{"X-Private", "Keep-Alive", "Proxy-Authorization", "Forwarded"} {
			if v := got.header.Get(k); v != "" {
				t.Errorf("upstream saw %s: %q", k, v)
			}
		}
		if v := got.header.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != "localhost:8080" {
			t.Errorf("X-Forwarded-Host %q, want eidsp's public host", v)
		}
		if got.header.Get("Accept-Language") != "nb" {
			t.Error("an end-to-end header was dropped")
		}
	})
	t.Run("ok/upstream's response headers win over eidsp's page headers", func(t *testing.T) {
		up := newUpstream(t)
		up.respond.Set("Content-Security-Policy", "default-src 'self'")
		up.respond.Set("Cache-Control", "public, max-age=60")
		f := newFixture(t, withUpstream(up.url(t), "p3"))
		rec := f.request(http.MethodGet, "/portal/", "", f.newSession(t, 4, f.clock.Now()))
		h := rec.Header()
		if v := h.Values("Content-Security-Policy"); len(v) != 1 || v[0] != "default-src 'self'" {
			t.Errorf("CSP %q, want the upstream's only", v)
		}
		if v := h.Values("Cache-Control"); len(v) != 1 || v[0] != "public, max-age=60" {
			t.Errorf("Cache-Control %q, want the upstream's only", v)
		}
		if h.Get("Pragma") != "" {
			t.Errorf("Pragma %q beside the upstream's Cache-Control", h.Get("Pragma"))
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("eidsp's defaults are gone where the upstream set none")
		}
	})
	t.Run("ok/no caching of a personal page by default", func(t *testing.T) {
		up := newUpstream(t)
		f := newFixture(t, withUpstream(up.url(t), "p3"))
		rec := f.request(http.MethodGet, "/portal/", "", f.newSession(t, 4, f.clock.Now()))
		if h := rec.Header(); !strings.Contains(h.Get("Cache-Control"), "no-store") || h.Get("Content-Security-Policy") != "" {
			t.Errorf("Cache-Control %q CSP %q", h.Get("Cache-Control"), h.Get("Content-Security-Policy"))
		}
	})
	t.Run("ok/large body is the upstream's to limit", func(t *testing.T) {
		up := newUpstream(t)
		f := newFixture(t, withUpstream(up.url(t), "p3"))
		body := strings.Repeat("a", 1<<20)
		req := httptest.NewRequest(http.MethodPost, "/portal/upload", strings.NewReader(body))
		req.AddCookie(f.newSession(t, 4, f.clock.Now()))
		if rec := f.serve(req); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if got := up.only(t); got.bodyLen != len(body) || got.method != http.MethodPost {
			t.Errorf("upstream got %s with %d bytes, want POST with %d", got.method, got.bodyLen, len(body))
		}
	})
	t.Run("fail/upstream down", func(t *testing.T) {
		up := newUpstream(t)
		u := up.url(t)
		up.srv.Close()
		f := newFixture(t, withUpstream(u, "p3"))
		rec := f.request(http.MethodGet, "/portal/", "", f.newSession(t, 4, f.clock.Now()))
		if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "<html") {
			t.Errorf("status %d:\n%s", rec.Code, rec.Body)
		}
		if recs := f.logs.records(t, "request failed"); len(recs) != 1 || recs[0]["reason"] != "upstream" {
			t.Errorf("log: %v", recs)
		}
	})
	t.Run("fail/default profile missing", func(t *testing.T) {
		up := newUpstream(t)
		f := newFixture(t, withUpstream(up.url(t), "nope"))
		rec := f.request(http.MethodGet, "/portal/", "", f.newSession(t, 4, f.clock.Now()))
		if rec.Code != http.StatusInternalServerError || len(up.requests()) != 0 {
			t.Errorf("status %d", rec.Code)
		}
	})
	t.Run("ok/without an upstream nothing is proxied", func(t *testing.T) {
		f := newFixture(t)
		if rec := f.request(http.MethodGet, "/portal/", "", f.newSession(t, 4, f.clock.Now())); rec.Code != http.StatusNotFound {
			t.Errorf("status %d", rec.Code)
		}
	})
}

// FuzzProxyIdentityHeaders: whatever headers and cookies the client sends, the upstream request
// carries exactly the session's five identity headers and no eidsp session cookie.
func FuzzProxyIdentityHeaders(f *testing.F) {
	for _, s := range [][3]string{
		{"X-Eid-National-Id", "01010112345", "eidsp_session=abc"},
		{"x-eid-level", "4", "a=1; eidsp_session=abc; b=2"},
		{"X_Eid_IdP", "evil", "eidsp_session"},
		{"X-EID-", "", ";;eidsp_session=x;"},
		{"Connection", "X-Eid-Level", ""},
		{"Cookie", "eidsp_session =abc", "x=1;\teidsp_session\t=abc"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	fx := newFixture(f)
	fx.srv.Opt.Upstream = &url.URL{Scheme: "http", Host: "portal.internal:8080"}
	sess := fx.newSession(f, 4, fx.clock.Now())
	stored, err := fx.store.GetSession(f.Context(), sess.Value)
	if err != nil {
		f.Fatal(err)
	}
	base, _ := url.Parse(fx.srv.Opt.BaseURL)
	f.Fuzz(func(t *testing.T, name, value, cookie string) {
		in := httptest.NewRequest(http.MethodGet, "/portal/", nil)
		in.Header[name] = []string{value, value}
		in.Header.Add("Cookie", cookie)
		pr := &httputil.ProxyRequest{In: in, Out: in.Clone(in.Context())}
		fx.srv.rewrite(pr, base, stored.Identity)
		for k, vs := range pr.Out.Header {
			if !isIdentityHeader(k) {
				continue
			}
			want := stored.Identity
			wants := map[string]string{"X-Eid-National-Id": want.NationalID, "X-Eid-Level": "4",
				"X-Eid-Instrument": want.Instrument, "X-Eid-Auth-Method": want.AuthMethod, "X-Eid-Idp": want.IdP}
			if w, ok := wants[k]; !ok || len(vs) != 1 || vs[0] != w {
				t.Errorf("upstream header %s = %q", k, vs)
			}
		}
		if len(pr.Out.Header) < 5 {
			t.Errorf("identity headers missing: %v", pr.Out.Header)
		}
		for _, c := range pr.Out.Cookies() {
			if c.Name == fx.srv.Opt.CookieName {
				t.Errorf("session cookie reached the upstream: %q", pr.Out.Header.Values("Cookie"))
			}
		}
	})
}
