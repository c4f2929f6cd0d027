package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	reOPAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	reOPLogin  = regexp.MustCompile(`name="login" value="([^"]*)"`)
	reOPEID    = regexp.MustCompile(`name="eid" value="([^"]*)"`)
)

// oidcLogin runs /login?q through the development OpenID provider's page, choosing person and
// eID, and returns the callback URL the provider sends the browser to.
func (b *browser) oidcLogin(q url.Values, person, eid string) string {
	t := b.h.t
	t.Helper()
	p := b.get("/login?" + q.Encode())
	if p.status != http.StatusFound || !strings.Contains(p.location(), "/oidc/") {
		t.Fatalf("GET /login?%s: %d to %q", q.Encode(), p.status, p.location())
	}
	auth, _ := url.Parse(p.location())
	for _, k := range []string{"state", "nonce", "code_challenge", "redirect_uri"} {
		if auth.Query().Get(k) == "" {
			t.Errorf("authorization request without %s: %s", k, auth.RawQuery)
		}
	}
	if m := auth.Query().Get("code_challenge_method"); m != "S256" {
		t.Errorf("code_challenge_method %q", m)
	}
	page := b.get(p.location())
	if page.status != http.StatusOK {
		t.Fatalf("provider page: %d\n%s", page.status, page.body)
	}
	if eids := all(reOPEID, page.body); len(eids) == 0 || !strings.Contains(strings.Join(eids, ","), eid) {
		t.Fatalf("provider offers %v, not %s", eids, eid)
	}
	action := first(reOPAction, page.body)
	if strings.HasPrefix(action, "/") {
		action = auth.Scheme + "://" + auth.Host + action
	}
	res := b.post(action, url.Values{"login": {first(reOPLogin, page.body)}, "person": {person}, "eid": {eid}})
	if res.status != http.StatusFound && res.status != http.StatusSeeOther {
		t.Fatalf("provider form: %d\n%s", res.status, res.body)
	}
	cb := res.location()
	if !strings.HasPrefix(cb, b.h.sp+"/oidc/callback?") {
		t.Fatalf("provider sent the browser to %q", cb)
	}
	return cb
}

// TestE2EOIDC: logins through the development OpenID providers give the same identity and
// session as SAML (ID-porten OIDC at both levels, BankID with nnin_altsub by private_key_jwt),
// ForceAuthn is prompt=login, the level is enforced, a replayed callback fails, and logout goes
// through the provider's end_session_endpoint.
func TestE2EOIDC(t *testing.T) {
	h := newHarness(t)
	kari := persons[0]

	t.Run("ok/idporten level 3 with MinID", func(t *testing.T) {
		h.t = t
		b := h.browser()
		cb := b.oidcLogin(url.Values{"profile": {"idporten-oidc"}, "return_to": {"/cases"}, "locale": {"nn"}}, kari.NationalID, "minid")
		b.finish(cb, "/cases")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 3,
			authMethod: "MinID-PIN", idp: "idporten-oidc", culture: "nn"})
		// The same callback again: the state was used.
		if p := b.get(cb); p.status < 400 || !strings.Contains(p.body, `data-key="expired"`) {
			t.Errorf("replayed callback: %d", p.status)
		}
		// Level upgrade: a level-4 profile asks the provider again, which shows its page
		// (the SSO session is at level 3).
		cb = b.oidcLogin(url.Values{"profile": {"idporten-oidc-high"}}, kari.NationalID, "bankid")
		b.finish(cb, "/")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 4,
			authMethod: "BankID", idp: "idporten-oidc", culture: "nn"}) // the language chosen before stays
		// Logout: RP-initiated at the provider, back at /oidc/logged-out.
		p := b.get("/logout")
		if p.status != http.StatusFound || !strings.Contains(p.location(), "/oidc/idporten/endsession?") {
			t.Fatalf("logout: %d %q", p.status, p.location())
		}
		b.requireNoSession()
		end := b.get(p.location())
		back := end.location()
		if back == "" {
			back = first(regexp.MustCompile(`url=([^"]*)"`), end.body)
		}
		if !strings.HasPrefix(back, h.sp+"/oidc/logged-out?") {
			t.Fatalf("provider's logout answer: %d %q\n%s", end.status, back, end.body)
		}
		if p := b.get(back); p.status != http.StatusOK {
			t.Errorf("logged-out page: %d", p.status)
		}
	})

	t.Run("ok/bankid with nnin_altsub", func(t *testing.T) {
		h.t = t
		b := h.browser()
		b.finish(b.oidcLogin(url.Values{"profile": {"bankid"}}, kari.NationalID, "bid"), "/")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 4,
			authMethod: "BankID", idp: "bankid-oidc", culture: ""}) // BankID returns no locale
	})

	t.Run("fail/level too low", func(t *testing.T) {
		h.t = t
		b := h.browser()
		// The provider hides MinID for a level-4 request; BankID substantial (level 3) through
		// the bankid profile (level 4) is hidden too, so the provider itself enforces it. The SP's
		// own check is exercised in the oidc package's tests.
		p := b.get("/login?profile=idporten-oidc-high")
		page := b.get(p.location())
		if strings.Contains(strings.Join(all(reOPEID, page.body), ","), "minid") {
			t.Error("level-4 request offers MinID")
		}
	})

	t.Run("fail/callback in another browser", func(t *testing.T) {
		h.t = t
		b := h.browser()
		cb := b.oidcLogin(url.Values{"profile": {"idporten-oidc"}}, kari.NationalID, "minid")
		other := h.browser()
		if p := other.get(cb); p.status != http.StatusBadRequest || !strings.Contains(p.body, `data-key="browser"`) {
			t.Errorf("callback in another browser: %d", p.status)
		}
		other.requireNoSession()
	})

	t.Run("fail/iss mix-up", func(t *testing.T) {
		h.t = t
		b := h.browser()
		cb := b.oidcLogin(url.Values{"profile": {"idporten-oidc"}}, kari.NationalID, "minid")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("iss", strings.Replace(q.Get("iss"), "/oidc/idporten", "/oidc/bankid", 1))
		u.RawQuery = q.Encode()
		if p := b.get(u.String()); p.status < 400 {
			t.Errorf("callback with another provider's iss: %d", p.status)
		}
		b.requireNoSession()
	})

	t.Run("fail/cancel at the provider", func(t *testing.T) {
		h.t = t
		b := h.browser()
		p := b.get("/login?profile=idporten-oidc")
		page := b.get(p.location())
		auth, _ := url.Parse(p.location())
		action := first(reOPAction, page.body)
		if strings.HasPrefix(action, "/") {
			action = auth.Scheme + "://" + auth.Host + action
		}
		res := b.post(action, url.Values{"login": {first(reOPLogin, page.body)}, "action": {"cancel"}})
		if p := b.get(res.location()); p.status != http.StatusForbidden || !strings.Contains(p.body, `data-key="cancelled"`) {
			t.Errorf("cancelled login: %d\n%s", p.status, p.body)
		}
		b.requireNoSession()
	})
	h.t = t
	h.requireNoNationalIDInLog()
}
