package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/oidc"
)

// fakeOP is an OIDCClient whose token endpoint accepts the code "good" only, and only with the
// verifier and nonce derived from the state (as the real provider checks PKCE and nonce).
type fakeOP struct{ key []byte }

const fakeIssuer = "https://op.example"

func (f *fakeOP) Issuer() string { return fakeIssuer }

func (f *fakeOP) AuthURL(_ context.Context, a oidc.AuthParams) (string, error) {
	return fakeIssuer + "/authorize?" + url.Values{"state": {a.State}, "nonce": {a.Nonce}}.Encode(), nil
}

func (f *fakeOP) Exchange(_ context.Context, cb oidc.Callback, a oidc.AuthParams) (*oidc.Result, error) {
	if cb.Error == "access_denied" {
		return nil, &oidc.Error{Reason: oidc.ReasonStatus, Code: "access_denied", Err: errors.New("cancelled")}
	}
	if cb.Iss != fakeIssuer {
		return nil, &oidc.Error{Reason: oidc.ReasonIssuer, Err: errors.New("iss")}
	}
	v, n := oidc.Derive(f.key, cb.State)
	if cb.Code != "good" || a.CodeVerifier != v || a.Nonce != n {
		return nil, &oidc.Error{Reason: oidc.ReasonReplay, Code: "invalid_grant", Err: errors.New("bad code")}
	}
	id := identity.Identity{NationalID: "31129956715", Kind: identity.KindFNR, Level: 3, LoA: identity.LoASubstantial,
		AuthMethod: "MinID-PIN", Instrument: identity.InstrumentUnknown, AuthenticatedAt: time.Now()}
	return &oidc.Result{Identity: id, IDToken: "header.payload.signature", SID: "sid-1"}, nil
}

func (f *fakeOP) EndSessionURL(hint, redirect, state string) (string, bool) {
	return fakeIssuer + "/endsession?" + url.Values{"id_token_hint": {hint}, "state": {state}}.Encode(), true
}

func withFakeOP(s *Server) {
	s.OIDC = map[string]OIDCClient{"op": &fakeOP{key: s.Opt.HashKey}}
	s.Profiles = append(s.Profiles, Profile{Name: "oidc3", Label: "profile.idporten", IdP: "op", MinLevel: 3},
		Profile{Name: "oidc4", Label: "profile.idporten-high", IdP: "op", MinLevel: 4})
}

// oidcPending starts a login on profile and returns its state and browser-binding cookie.
func (f *fixture) oidcPending(t testing.TB, profile string) (string, *http.Cookie) {
	t.Helper()
	rec := f.request(http.MethodGet, "/login?profile="+profile, "")
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil {
		t.Fatalf("GET /login: %d", rec.Code)
	}
	state := loc.Query().Get("state")
	for _, c := range rec.Result().Cookies() {
		if c.Name == bindingCookie(state) {
			if c.Path != oidcCallbackPath {
				t.Fatalf("binding cookie path %q", c.Path)
			}
			return state, &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatal("no binding cookie")
	return "", nil
}

func TestOIDCCallback(t *testing.T) {
	f := newFixture(t, withFakeOP)
	for _, tt := range []struct {
		name, query string
		profile     string
		status      int
		key         string
	}{
		{"ok", "code=good&state=STATE&iss=" + url.QueryEscape(fakeIssuer), "oidc3", http.StatusSeeOther, ""},
		{"fail/level below the profile", "code=good&state=STATE&iss=" + url.QueryEscape(fakeIssuer), "oidc4", http.StatusForbidden, "level_too_low"},
		{"fail/iss mix-up", "code=good&state=STATE&iss=https%3A%2F%2Fevil.example", "oidc3", http.StatusForbidden, "verification"},
		{"fail/reused or wrong code", "code=bad&state=STATE&iss=" + url.QueryEscape(fakeIssuer), "oidc3", http.StatusBadRequest, "expired"},
		{"fail/cancelled", "error=access_denied&state=STATE&iss=" + url.QueryEscape(fakeIssuer), "oidc3", http.StatusForbidden, "cancelled"},
		{"fail/unknown state", "code=good&state=" + strings.Repeat("A", 43) + "&iss=" + url.QueryEscape(fakeIssuer), "oidc3", http.StatusBadRequest, "expired"},
		{"fail/two states", "code=good&state=STATE&state=STATE&iss=" + url.QueryEscape(fakeIssuer), "oidc3", http.StatusBadRequest, "bad_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			state, bc := f.oidcPending(t, tt.profile)
			req := httptest.NewRequest(http.MethodGet, oidcCallbackPath+"?"+strings.ReplaceAll(tt.query, "STATE", state), nil)
			req.AddCookie(bc)
			rec := httptest.NewRecorder()
			f.srv.Echo().ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tt.status, rec.Body)
			}
			got := cookieNamed(rec, f.srv.Opt.CookieName) != nil
			if got != (tt.key == "") {
				t.Fatalf("session cookie %v", got)
			}
			if tt.key != "" && !strings.Contains(rec.Body.String(), `data-key="`+tt.key+`"`) {
				t.Errorf("page is not %s:\n%s", tt.key, rec.Body)
			}
		})
	}
	// A malformed answer consumes the login it names: the good code afterwards finds nothing.
	state, bc := f.oidcPending(t, "oidc3")
	for _, q := range []string{"code=good&code=x&state=" + state, "code=good&state=" + state + "&iss=" + url.QueryEscape(fakeIssuer)} {
		req := httptest.NewRequest(http.MethodGet, oidcCallbackPath+"?"+q, nil)
		req.AddCookie(bc)
		rec := httptest.NewRecorder()
		f.srv.Echo().ServeHTTP(rec, req)
		if rec.Code < 400 || cookieNamed(rec, f.srv.Opt.CookieName) != nil {
			t.Fatalf("%s after a malformed answer: %d", q, rec.Code)
		}
	}
	if !strings.Contains(f.logs.String(), `"path":"/oidc/callback"`) || !strings.Contains(f.logs.String(), `"audit":true,"action":"login","result":"failure"`) {
		t.Error("failed OIDC logins are not audited as logins")
	}
	if strings.Contains(f.logs.String(), "31129956715") || strings.Contains(f.logs.String(), "header.payload") {
		t.Error("national id or ID token in the log")
	}
}

// FuzzOIDCCallback: whatever query reaches /oidc/callback for a pending login (with its binding
// cookie), only the exact good answer makes a session, and nothing panics.
func FuzzOIDCCallback(f *testing.F) {
	for _, q := range []string{"code=good&state=STATE&iss=https%3A%2F%2Fop.example", "code=good&state=STATE", "error=access_denied&state=STATE",
		"code=%zz&state=STATE", "state=STATE&state=x", "code=" + strings.Repeat("c", 5000) + "&state=STATE", "iss=&code=&state="} {
		f.Add(q)
	}
	fx := newFixture(f, withFakeOP)
	f.Fuzz(func(t *testing.T, query string) {
		state, bc := fx.oidcPending(t, "oidc3")
		q := strings.ReplaceAll(query, "STATE", state)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery = oidcCallbackPath, q
		req.AddCookie(bc)
		rec := httptest.NewRecorder()
		fx.srv.Echo().ServeHTTP(rec, req)
		good := false
		if v, err := url.ParseQuery(q); err == nil && len(v["code"]) == 1 && v.Get("code") == "good" && len(v["state"]) == 1 &&
			v.Get("state") == state && len(v["iss"]) == 1 && v.Get("iss") == fakeIssuer && len(v) == 3 {
			good = true
		}
		if session := cookieNamed(rec, fx.srv.Opt.CookieName) != nil; session && !good {
			t.Fatalf("query %q made a session", q)
		}
		if rec.Code >= 500 || strings.Contains(fx.logs.String(), `"reason":"panic"`) {
			t.Fatalf("query %q: status %d", q, rec.Code)
		}
	})
}

func TestOIDCFrontChannelAndLogout(t *testing.T) {
	f := newFixture(t, withFakeOP)
	login := func() *http.Cookie {
		state, bc := f.oidcPending(t, "oidc3")
		req := httptest.NewRequest(http.MethodGet, oidcCallbackPath+"?code=good&state="+state+"&iss="+url.QueryEscape(fakeIssuer), nil)
		req.AddCookie(bc)
		rec := httptest.NewRecorder()
		f.srv.Echo().ServeHTTP(rec, req)
		c := cookieNamed(rec, f.srv.Opt.CookieName)
		if c == nil {
			t.Fatalf("no session: %d", rec.Code)
		}
		return c
	}
	sess := login()
	for _, q := range []string{"iss=https%3A%2F%2Fevil.example&sid=sid-1", "iss=" + url.QueryEscape(fakeIssuer) + "&sid=other", "sid=sid-1"} {
		f.request(http.MethodGet, oidcFrontChannel+"?"+q, "")
	}
	if rec := f.request(http.MethodGet, "/session", "", sess); rec.Code != http.StatusOK {
		t.Fatalf("a front-channel logout for another issuer or sid ended the session: %d", rec.Code)
	}
	f.request(http.MethodGet, oidcFrontChannel+"?iss="+url.QueryEscape(fakeIssuer)+"&sid=sid-1", "")
	if rec := f.request(http.MethodGet, "/session", "", sess); rec.Code != http.StatusUnauthorized {
		t.Fatalf("front-channel logout left the session: %d", rec.Code)
	}

	// RP-initiated logout with the ID token as hint, and the provider's answer.
	sess = login()
	rec := f.request(http.MethodGet, "/logout", "", sess)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc.Query().Get("id_token_hint") != "header.payload.signature" {
		t.Fatalf("logout: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := f.request(http.MethodGet, oidcLoggedOutPath+"?state=unknown", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("logged-out with an unknown state: %d", rec.Code)
	}
	if rec := f.request(http.MethodGet, oidcLoggedOutPath+"?state="+loc.Query().Get("state"), ""); rec.Code != http.StatusOK {
		t.Errorf("logged-out: %d", rec.Code)
	}
}
