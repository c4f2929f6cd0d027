package oidcop

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

var (
	reIframe  = regexp.MustCompile(`<iframe class="frontchannel" src="([^"]+)" title="([^"]+)">`)
	reRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="2;url=([^"]+)">`)
)

func TestEndSession(t *testing.T) {
	e := newEnv(t)
	a := e.newRP(PresetIDPorten, "rp-a", AuthClientSecretBasic)
	bRP := e.newRP(PresetIDPorten, "rp-b", AuthClientSecretPost)
	c := e.newRP(PresetIDPorten, "rp-c", AuthPrivateKeyJWT, func(c *Client) { c.FrontchannelLogoutURI = "" })
	d := e.newRP(PresetIDPorten, "rp-d", AuthClientSecretBasic, func(c *Client) {
		c.FrontchannelLogoutURI = "http://127.0.0.2:9/rp/d/fc?x=1"
	})
	// loginAll logs a browser in to every RP (the page once, then SSO) and returns A's ID token.
	loginAll := func() (*http.Client, string, string) {
		b := e.browser()
		f := newFlow()
		tok, idt, err := a.exchange(f, e.login(b, a, f, "minid"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*rp{bRP, c, d} {
			f := newFlow()
			resp, _ := e.get(b, r.authURL(f))
			if _, _, err := r.exchange(f, e.checkCode(r, f, redirectQuery(t, resp))); err != nil {
				t.Fatal(err)
			}
		}
		return b, tok.Extra("id_token").(string), tokenClaims(t, idt).SID
	}

	t.Run("ok/id_token_hint with front-channel iframes", func(t *testing.T) {
		b, hint, sid := loginAll()
		u := a.op.urls.endsession + "?" + url.Values{
			"id_token_hint":            {hint},
			"post_logout_redirect_uri": {a.client.PostLogoutRedirectURIs[0]},
			"state":                    {"st&<"},
			"ui_locales":               {"en"},
		}.Encode()
		resp, body := e.get(b, u)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<html lang="en">`) {
			t.Fatalf("HTTP %d\n%s", resp.StatusCode, body)
		}
		var got []string
		for _, m := range reIframe.FindAllStringSubmatch(body, -1) {
			got = append(got, html.UnescapeString(m[1]))
			if !strings.HasPrefix(m[2], "Logout from rp-") {
				t.Errorf("iframe title %q", m[2])
			}
		}
		iss := url.QueryEscape(a.op.Issuer())
		want := []string{
			bRP.client.FrontchannelLogoutURI + "?iss=" + iss + "&sid=" + sid,
			"http://127.0.0.2:9/rp/d/fc?iss=" + iss + "&sid=" + sid + "&x=1",
		}
		if !slices.Equal(got, want) {
			t.Errorf("iframes\n%q\nwant\n%q", got, want)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-src "+e.srv.URL+" http://127.0.0.2:9;") || strings.Contains(csp, "script-src") || strings.Contains(body, "<script") {
			t.Errorf("CSP %q", csp)
		}
		m := reRefresh.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no refresh:\n%s", body)
		}
		if target := html.UnescapeString(m[1]); target != a.client.PostLogoutRedirectURIs[0]+"?state=st%26%3C" {
			t.Errorf("refresh to %q", target)
		}
		// The session is over: the page again, at every RP.
		e.loginPage(b, bRP.authURL(newFlow()))
	})
	t.Run("ok/client_id without other RPs redirects at once", func(t *testing.T) {
		b := e.browser()
		f := newFlow()
		e.login(b, c, f, "minid")
		u := a.op.urls.endsession + "?" + url.Values{"client_id": {c.client.ID}, "post_logout_redirect_uri": {c.client.PostLogoutRedirectURIs[0]}, "state": {"s"}}.Encode()
		resp, _ := e.get(b, u)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != c.client.PostLogoutRedirectURIs[0]+"?state=s" {
			t.Errorf("HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		e.loginPage(b, c.authURL(newFlow()))
	})
	t.Run("ok/POST without cookie ends the hint's session", func(t *testing.T) {
		b, hint, _ := loginAll()
		// Another browser (no cookie: a cross-site POST) posts A's hint.
		resp, err := e.browser().PostForm(a.op.urls.endsession, url.Values{"id_token_hint": {hint}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HTTP %d", resp.StatusCode)
		}
		e.loginPage(b, a.authURL(newFlow()))
	})
	t.Run("ok/expired hint, after key rotation", func(t *testing.T) {
		b, hint, _ := loginAll()
		e.clock.Advance(5 * time.Minute)
		a.op.RotateKey(rotatedKey())
		t.Cleanup(func() { a.op.RotateKey(signerKey()) })
		u := a.op.urls.endsession + "?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {a.client.PostLogoutRedirectURIs[0]}}.Encode()
		if resp, _ := e.get(b, u); resp.StatusCode != http.StatusOK {
			t.Errorf("HTTP %d", resp.StatusCode)
		}
	})
	b, hint, _ := loginAll()
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"fail/unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {e.srv.URL + "/rp/evil"}}},
		{"fail/redirect URI of another client", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bRP.client.PostLogoutRedirectURIs[0]}}},
		{"fail/post_logout_redirect_uri without client", url.Values{"post_logout_redirect_uri": {a.client.PostLogoutRedirectURIs[0]}}},
		{"fail/hint and client_id disagree", url.Values{"id_token_hint": {hint}, "client_id": {bRP.client.ID}}},
		{"fail/forged hint", url.Values{"id_token_hint": {hint[:len(hint)-4] + "AAAA"}}},
		{"fail/unknown client_id", url.Values{"client_id": {"nobody"}}},
		{"fail/repeated parameter", url.Values{"client_id": {a.client.ID, a.client.ID}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := e.get(b, a.op.urls.endsession+"?"+tc.q.Encode())
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	t.Run("ok/refused logouts left the session", func(t *testing.T) {
		f := newFlow()
		resp, _ := e.get(b, a.authURL(f))
		e.checkCode(a, f, redirectQuery(t, resp))
	})
}

func TestRotateKey(t *testing.T) {
	e := newEnv(t)
	r := e.newRP(PresetBankID, "rp-rot", AuthClientSecretBasic)
	kids := func() []string {
		resp, err := e.srv.Client().Get(r.op.urls.jwks)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				Kid, Alg, Use, Kty string
			} `json:"keys"`
		}
		json.NewDecoder(resp.Body).Decode(&set)
		var out []string
		for _, k := range set.Keys {
			if k.Alg != "RS256" || k.Use != "sig" || k.Kty != "RSA" {
				t.Errorf("key %+v", k)
			}
			out = append(out, k.Kid)
		}
		return out
	}
	login := func() (string, string) {
		f := newFlow()
		tok, _, err := r.exchange(f, e.login(e.browser(), r, f, "bid"))
		if err != nil {
			t.Fatal(err)
		}
		raw := tok.Extra("id_token").(string)
		return raw, jwtHeader(t, raw)["kid"].(string)
	}
	oldToken, oldKid := login()
	if got := kids(); !slices.Equal(got, []string{oldKid}) {
		t.Fatalf("JWKS %v, token kid %q", got, oldKid)
	}
	r.op.RotateKey(rotatedKey())
	newToken, newKid := login()
	if newKid == oldKid {
		t.Fatal("kid did not change")
	}
	if got := kids(); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Errorf("JWKS during the overlap %v", got)
	}
	// The verifier cached the old set; the new kid makes it refetch, and both verify.
	for _, raw := range []string{oldToken, newToken} {
		if _, err := r.verifier.Verify(e.ctx(), raw); err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	r.op.RotateKey(rotatedKey()) // the current key again: nothing changes
	if got := kids(); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Errorf("JWKS after a repeated rotation %v", got)
	}
	e.clock.Advance(DefaultKeyOverlap + time.Second)
	if got := kids(); !slices.Equal(got, []string{newKid}) {
		t.Errorf("JWKS after the overlap %v", got)
	}
	// A verifier that never saw the old key refuses a token signed by it.
	fresh := oidc.NewVerifier(r.op.Issuer(), oidc.NewRemoteKeySet(e.ctx(), r.op.urls.jwks), &oidc.Config{ClientID: r.client.ID, SkipExpiryCheck: true})
	if _, err := fresh.Verify(e.ctx(), oldToken); err == nil {
		t.Error("token of a retired key verified")
	}
}
