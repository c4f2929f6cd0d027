package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/devidp/oidcop"
	"github.com/eidsp/eidsp/handlers"
)

// dropSPSession forgets the SP's session cookie in the browser, keeping the provider's SSO
// cookie: the user comes back to our service while still logged in at the provider.
func (b *browser) dropSPSession() {
	u, _ := url.Parse(b.h.sp)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: b.h.env.cfg.Session.CookieName, Value: "", Path: "/", MaxAge: -1}})
}

// authorize starts a login and returns the provider's authorization URL and its parameters.
func (b *browser) authorize(q url.Values) (string, url.Values) {
	b.h.t.Helper()
	p := b.get("/login?" + q.Encode())
	if p.status != http.StatusFound {
		b.h.t.Fatalf("GET /login?%s: %d", q.Encode(), p.status)
	}
	u, err := url.Parse(p.location())
	if err != nil {
		b.h.t.Fatal(err)
	}
	return p.location(), u.Query()
}

var reIframe = regexp.MustCompile(`<iframe[^>]*src="([^"]*)"`)

// TestOIDCVerification runs Digdir's verification tests 9b (ForceAuthn = prompt=login), 10b
// (onbehalfof), 11b (locale) and the single sign-on and single logout equivalents against the
// development ID-porten OpenID provider.
func TestOIDCVerification(t *testing.T) {
	h := newHarness(t, func(env *devEnv) {
		s := env.app.server
		s.Profiles = append(s.Profiles, handlers.Profile{Name: "idporten-oidc-obo", Label: "profile.idporten-oidc",
			IdP: "idporten-oidc", MinLevel: 3, OnBehalfOf: "SERVICEOWNER"})
		// Another service at the same provider, for single logout started elsewhere.
		if err := env.ops[oidcop.PresetIDPorten].RegisterClient(oidcop.Client{ID: "other-service", Secret: "other-service-secret-0123456789",
			AuthMethod: oidcop.AuthClientSecretBasic, RedirectURIs: []string{"http://127.0.0.1:1/cb"},
			PostLogoutRedirectURIs: []string{"http://127.0.0.1:1/bye"}}); err != nil {
			t.Fatal(err)
		}
	})
	kari := persons[0]

	t.Run("ok/SSO and 9b ForceAuthn", func(t *testing.T) {
		h.t = t
		b := h.browser()
		b.finish(b.oidcLogin(url.Values{"profile": {"idporten-oidc"}}, kari.NationalID, "minid"), "/")
		// Back at our service with the provider's session: no page, straight to the callback.
		b.dropSPSession()
		b.requireNoSession()
		loc, q := b.authorize(url.Values{"profile": {"idporten-oidc"}})
		if q.Get("prompt") != "" {
			t.Errorf("prompt %q without ForceAuthn", q.Get("prompt"))
		}
		p := b.get(loc)
		if p.status != http.StatusFound && p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), h.sp+"/oidc/callback?") {
			t.Fatalf("single sign-on showed the provider's page: %d", p.status)
		}
		b.finish(p.location(), "/")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 3,
			authMethod: "MinID-PIN", idp: "idporten-oidc", culture: "nb"})
		// 9b: ForceAuthn asks for prompt=login and the provider shows its page despite SSO.
		loc, q = b.authorize(url.Values{"profile": {"idporten-oidc"}, "force": {"1"}})
		if q.Get("prompt") != "login" {
			t.Fatalf("ForceAuthn sent prompt %q", q.Get("prompt"))
		}
		if p := b.get(loc); p.status != http.StatusOK || !strings.Contains(p.body, `name="eid"`) {
			t.Fatalf("prompt=login did not show the login page: %d", p.status)
		}
	})

	t.Run("ok/10b onbehalfof", func(t *testing.T) {
		h.t = t
		b := h.browser()
		_, q := b.authorize(url.Values{"profile": {"idporten-oidc-obo"}})
		if q.Get("onbehalfof") != "SERVICEOWNER" {
			t.Fatalf("onbehalfof %q", q.Get("onbehalfof"))
		}
		b = h.browser()
		b.finish(b.oidcLogin(url.Values{"profile": {"idporten-oidc-obo"}}, kari.NationalID, "minid"), "/")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 3,
			authMethod: "MinID-PIN", idp: "idporten-oidc", culture: "nb", onBehalfOf: "SERVICEOWNER"})
	})

	t.Run("ok/11b locale", func(t *testing.T) {
		h.t = t
		for _, lang := range []string{"en", "nn", "nb"} {
			b := h.browser()
			loc, q := b.authorize(url.Values{"profile": {"idporten-oidc"}, "locale": {lang}})
			if q.Get("ui_locales") != lang {
				t.Errorf("ui_locales %q, want %s", q.Get("ui_locales"), lang)
			}
			if got := first(reLang, b.get(loc).body); got != lang {
				t.Errorf("provider page in %q, want %s", got, lang)
			}
		}
	})

	t.Run("ok/SLO from another service ends our session (front-channel)", func(t *testing.T) {
		h.t = t
		b := h.browser()
		b.finish(b.oidcLogin(url.Values{"profile": {"idporten-oidc"}}, kari.NationalID, "minid"), "/")
		// The user logs out at the other service; the provider's page frames our front-channel
		// logout URL, which the browser loads.
		op := h.env.ops[oidcop.PresetIDPorten]
		end := b.get(op.Issuer() + "/endsession?" + url.Values{"client_id": {"other-service"},
			"post_logout_redirect_uri": {"http://127.0.0.1:1/bye"}}.Encode())
		frames := all(reIframe, end.body)
		if len(frames) != 1 || !strings.HasPrefix(html.UnescapeString(frames[0]), h.sp+"/oidc/frontchannel-logout?") {
			t.Fatalf("provider's logout page frames %v\n%s", frames, end.body)
		}
		if p := b.get(html.UnescapeString(frames[0])); p.status != http.StatusOK {
			t.Fatalf("front-channel logout: %d", p.status)
		}
		b.requireNoSession()
	})

	t.Run("fail/front-channel logout names another issuer", func(t *testing.T) {
		h.t = t
		b := h.browser()
		b.finish(b.oidcLogin(url.Values{"profile": {"idporten-oidc"}}, kari.NationalID, "minid"), "/")
		_, m := b.session()
		sid := asString(m["session_index"])
		for _, q := range []url.Values{
			{"iss": {"https://evil.example"}, "sid": {sid}},
			{"iss": {h.env.ops[oidcop.PresetIDPorten].Issuer()}, "sid": {"another-sid"}},
			{"sid": {sid}},
		} {
			h.browser().get("/oidc/frontchannel-logout?" + q.Encode())
		}
		if st, _ := b.session(); st != http.StatusOK {
			t.Fatalf("a front-channel logout for another issuer or sid ended the session: %d", st)
		}
		// The right one from any browser (the provider's frame) ends it.
		h.browser().get("/oidc/frontchannel-logout?" + url.Values{"iss": {h.env.ops[oidcop.PresetIDPorten].Issuer()}, "sid": {sid}}.Encode())
		b.requireNoSession()
	})
	h.t = t
	h.requireNoNationalIDInLog()
}
