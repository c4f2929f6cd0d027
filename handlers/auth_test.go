package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/identity"
)

func TestForwardAuth(t *testing.T) {
	tests := []struct {
		name        string
		level       int // 0: no session
		query       string
		minHeader   []string
		origURI     string
		fwdURI      string
		wantStatus  int
		wantReturn  string // X-Eid-Return-To, unescaped; "" : none
		wantLogin   string // Location of a redirect to the login (?login=)
		wantHeaders bool
	}{
		{name: "ok/level 4 session", level: 4, wantStatus: http.StatusOK, wantHeaders: true},
		{name: "ok/level 3 session without a minimum", level: 3, wantStatus: http.StatusOK, wantHeaders: true},
		{name: "ok/level 3 session, minimum 3", level: 3, query: "?min_level=3", wantStatus: http.StatusOK, wantHeaders: true},
		{name: "ok/level 4 session, minimum 4 by query", level: 4, query: "?min_level=4", wantStatus: http.StatusOK, wantHeaders: true},
		{name: "ok/level 4 session, minimum 4 by header", level: 4, minHeader: []string{"4"}, wantStatus: http.StatusOK, wantHeaders: true},
		{name: "ok/empty header is no minimum", level: 3, minHeader: []string{""}, wantStatus: http.StatusOK, wantHeaders: true},
		{name: "fail/level 3 session, minimum 4 by query", level: 3, query: "?min_level=4", origURI: "/portal/high?id=1&x=a%20b",
			wantStatus: http.StatusForbidden, wantReturn: "/portal/high?id=1&x=a%20b"},
		{name: "fail/level 3 session, minimum 4 by header", level: 3, minHeader: []string{"4"}, wantStatus: http.StatusForbidden},
		{name: "fail/a lower query does not undo a header", level: 3, query: "?min_level=3", minHeader: []string{"4"}, wantStatus: http.StatusForbidden},
		{name: "fail/a lower header does not undo a query", level: 3, query: "?min_level=4", minHeader: []string{"3"}, wantStatus: http.StatusForbidden},
		{name: "fail/repeated header, highest counts", level: 3, minHeader: []string{"3", "4"}, wantStatus: http.StatusForbidden},
		{name: "fail/no session", origURI: "/portal/cases", wantStatus: http.StatusUnauthorized, wantReturn: "/portal/cases"},
		{name: "fail/no session, Traefik's header", fwdURI: "/portal/cases", wantStatus: http.StatusUnauthorized, wantReturn: "/portal/cases"},
		{name: "fail/no session, unsafe original URI", origURI: "//evil.example/", wantStatus: http.StatusUnauthorized},
		{name: "fail/min_level not a level", level: 4, query: "?min_level=5", wantStatus: http.StatusBadRequest},
		{name: "fail/min_level not a number", level: 4, minHeader: []string{"high"}, wantStatus: http.StatusBadRequest},
		{name: "fail/min_level 2", level: 4, query: "?min_level=2", wantStatus: http.StatusBadRequest},
		// ?login=: a refusal is the redirect to that login (Traefik, Caddy), a grant unchanged.
		{name: "ok/login mode, session", level: 3, query: "?login=p3", wantStatus: http.StatusOK, wantHeaders: true},
		{name: "ok/login mode, level 4 session, minimum 4", level: 4, query: "?min_level=4&login=p4", wantStatus: http.StatusOK, wantHeaders: true},
		{name: "fail/login mode, no session", query: "?login=p3", fwdURI: "/portal/cases?id=7&x=a%20b", wantStatus: http.StatusFound,
			wantLogin: "/login?profile=p3&return_to=%2Fportal%2Fcases%3Fid%3D7%26x%3Da%2520b"},
		{name: "fail/login mode, no session, no original URI", query: "?login=p3", wantStatus: http.StatusFound, wantLogin: "/login?profile=p3"},
		{name: "fail/login mode, unsafe original URI dropped", query: "?login=p3", fwdURI: "//evil.example/", wantStatus: http.StatusFound,
			wantLogin: "/login?profile=p3"},
		{name: "fail/login mode, level 3 session, minimum 4", level: 3, query: "?min_level=4&login=p4", origURI: "/signing/x",
			wantStatus: http.StatusFound, wantLogin: "/login?profile=p4&return_to=%2Fsigning%2Fx"},
		{name: "fail/login mode, minimum 4 by header", level: 3, query: "?login=p4", minHeader: []string{"4"}, wantStatus: http.StatusFound,
			wantLogin: "/login?profile=p4"},
		{name: "fail/login profile unknown", query: "?login=nope", wantStatus: http.StatusBadRequest},
		{name: "fail/login profile below the minimum", level: 4, query: "?min_level=4&login=p3", wantStatus: http.StatusBadRequest},
		{name: "fail/login profile below the minimum by header", query: "?login=p3", minHeader: []string{"4"}, wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			req := httptest.NewRequest(http.MethodGet, "/auth"+tt.query, nil)
			if tt.level != 0 {
				req.AddCookie(f.newSession(t, tt.level, f.clock.Now()))
			}
			for _, v := range tt.minHeader {
				req.Header.Add("X-Eid-Min-Level", v)
			}
			if tt.origURI != "" {
				req.Header.Set("X-Original-URI", tt.origURI)
			}
			if tt.fwdURI != "" {
				req.Header.Set("X-Forwarded-Uri", tt.fwdURI)
			}
			rec := httptest.NewRecorder()
			f.srv.Echo().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			h := rec.Header()
			if got := h.Get("Location"); got != tt.wantLogin {
				t.Errorf("Location %q, want %q", got, tt.wantLogin)
			}
			if got := h.Get("X-Eid-National-Id") != ""; got != tt.wantHeaders {
				t.Errorf("identity headers present = %v, want %v: %v", got, tt.wantHeaders, h)
			}
			if tt.wantHeaders {
				want := map[string]string{"X-Eid-National-Id": "15819010290", "X-Eid-Level": string(rune('0' + tt.level)),
					"X-Eid-Instrument": "unknown", "X-Eid-Auth-Method": "Minid-PIN", "X-Eid-IdP": "idp"}
				for k, v := range want {
					if h.Get(k) != v {
						t.Errorf("%s = %q, want %q", k, h.Get(k), v)
					}
				}
				// Present and empty for an identity with a number (Caddy 2.6, see forwardAuth).
				if v, ok := h["X-Eid-Subject"]; !ok || len(v) != 1 || v[0] != "" {
					t.Errorf("X-Eid-Subject = %q (present %v), want one empty value", v, ok)
				}
			}
			raw := h.Get("X-Eid-Return-To")
			got, err := url.QueryUnescape(raw)
			if err != nil || got != tt.wantReturn {
				t.Errorf("X-Eid-Return-To %q (%q), want %q", raw, got, tt.wantReturn)
			}
			if raw != url.QueryEscape(tt.wantReturn) {
				t.Errorf("X-Eid-Return-To %q is not query-escaped", raw)
			}
		})
	}
}

// FuzzForwardAuthMinLevel: whatever the proxy or client sends as a minimum level and a login
// profile, /auth answers one of its statuses, never grants a level it was told to demand, and
// redirects only to the login of a configured profile that reaches that level.
func FuzzForwardAuthMinLevel(f *testing.F) {
	for _, s := range []string{"", "3", "4", "5", "-1", " 4 ", "4,3", "03", "+4", "9999999999999999999999"} {
		f.Add(s, s, "")
	}
	for _, p := range []string{"p3", "p4", "nope", "p4&min_level=3", "../p4", "p3\r\nX: y"} {
		f.Add("4", "", p)
		f.Add("", "3", p)
	}
	fx := newFixture(f)
	ck := fx.newSession(f, 3, fx.clock.Now())
	e := fx.srv.Echo()
	f.Fuzz(func(t *testing.T, query, header, login string) {
		q := url.Values{"min_level": {query}}
		if login != "" {
			q.Set("login", login)
		}
		req := httptest.NewRequest(http.MethodGet, "/auth?"+q.Encode(), nil)
		req.Header.Set("X-Eid-Min-Level", header)
		req.Header.Set("X-Forwarded-Uri", "/portal/"+login)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		demanded := 0
		for _, v := range []string{query, header} {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				demanded = max(demanded, n)
			}
		}
		switch rec.Code {
		case http.StatusOK:
			if demanded > 3 {
				t.Errorf("200 for a level-3 session with min_level %q / %q", query, header)
			}
		case http.StatusFound:
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || loc.Host != "" || loc.Path != "/login" {
				t.Fatalf("redirect to %q, want eidsp's /login", rec.Header().Get("Location"))
			}
			p, ok := fx.srv.profile(loc.Query().Get("profile"))
			if !ok || p.Name != login || p.MinLevel < demanded || demanded <= 3 {
				t.Errorf("redirect to %q for login %q, min_level %q / %q", loc, login, query, header)
			}
		case http.StatusForbidden:
			if login != "" {
				t.Errorf("403 for login %q: want the redirect", login)
			}
		case http.StatusBadRequest:
		default:
			t.Errorf("status %d", rec.Code)
		}
	})
}

// TestSetIdentityHeadersSubject: a subject-only identity (BankID without nnin_altsub) sends
// X-Eid-Subject and an empty X-Eid-National-Id; an identity with a number never sends a subject,
// and a client's X-Eid-Subject is replaced either way.
func TestSetIdentityHeadersSubject(t *testing.T) {
	h := http.Header{"X-Eid-Subject": {"forged"}}
	setIdentityHeaders(h, identity.Identity{Subject: "bankid-sub", Level: 4, IdP: "bankid"})
	if h.Get("X-Eid-Subject") != "bankid-sub" || h.Get("X-Eid-National-Id") != "" || len(h.Values("X-Eid-Subject")) != 1 {
		t.Fatalf("subject-only identity: %v", h)
	}
	h = http.Header{"X-Eid-Subject": {"forged"}}
	setIdentityHeaders(h, identity.Identity{NationalID: "31129956715", Subject: "x", Level: 4})
	if _, ok := h["X-Eid-Subject"]; ok {
		t.Fatalf("identity with a number sent a subject: %v", h)
	}
}
