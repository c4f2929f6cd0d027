package oidcop

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	for _, preset := range []string{PresetIDPorten, PresetBankID} {
		t.Run("ok/"+preset, func(t *testing.T) {
			r := e.newRP(preset, "disco-"+preset, AuthClientSecretBasic)
			var d struct {
				Issuer       string   `json:"issuer"`
				ISS          bool     `json:"authorization_response_iss_parameter_supported"`
				PKCE         []string `json:"code_challenge_methods_supported"`
				AuthMethods  []string `json:"token_endpoint_auth_methods_supported"`
				Algs         []string `json:"id_token_signing_alg_values_supported"`
				ACR          []string `json:"acr_values_supported"`
				FC           bool     `json:"frontchannel_logout_supported"`
				FCSession    bool     `json:"frontchannel_logout_session_supported"`
				EndSession   string   `json:"end_session_endpoint"`
				PAR          string   `json:"pushed_authorization_request_endpoint"`
				ResponseType []string `json:"response_types_supported"`
			}
			if err := r.provider.Claims(&d); err != nil {
				t.Fatal(err)
			}
			iss := e.srv.URL + "/oidc/" + preset
			wantACR := map[string][]string{
				PresetIDPorten: {"idporten-loa-substantial", "idporten-loa-high"},
				PresetBankID:   {"urn:bankid:bis;LOA=3", "urn:bankid:bid;LOA=4"},
			}[preset]
			switch {
			case d.Issuer != iss || r.op.Issuer() != iss:
				t.Errorf("issuer %q", d.Issuer)
			case !d.ISS || !d.FC || !d.FCSession:
				t.Errorf("iss/frontchannel flags %+v", d)
			case !slices.Equal(d.PKCE, []string{"S256"}) || !slices.Equal(d.Algs, []string{"RS256"}) || !slices.Equal(d.ResponseType, []string{"code"}):
				t.Errorf("PKCE/algs/response types %+v", d)
			case !slices.Equal(d.AuthMethods, []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}):
				t.Errorf("auth methods %v", d.AuthMethods)
			case !slices.Equal(d.ACR, wantACR):
				t.Errorf("acr values %v", d.ACR)
			case d.EndSession != iss+"/endsession" || d.PAR != iss+"/par":
				t.Errorf("endpoints %+v", d)
			}
		})
	}
}

// TestCodeFlow is the whole flow for each client authentication method, driven by oauth2 and
// go-oidc.
func TestCodeFlow(t *testing.T) {
	e := newEnv(t)
	subs := map[string]string{}
	for _, method := range []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT} {
		t.Run("ok/"+method, func(t *testing.T) {
			r := e.newRP(PresetIDPorten, "rp-"+method, method)
			b := e.browser()
			f := newFlow()
			code := e.login(b, r, f, "bankid", oauth2.SetAuthURLParam("ui_locales", "nn"), oauth2.SetAuthURLParam("onbehalfof", "983163327"))
			tok, idt, err := r.exchange(f, code)
			if err != nil {
				t.Fatal(err)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			c := tokenClaims(t, idt)
			now := e.clock.Now().Unix()
			switch {
			case idt.Issuer != r.op.Issuer() || !slices.Equal(idt.Audience, []string{r.client.ID}):
				t.Errorf("iss %q aud %v", idt.Issuer, idt.Audience)
			case c.PID != defaultPerson.NationalID || c.Sub == "" || c.Sub == c.PID:
				t.Errorf("sub %q pid %q", c.Sub, c.PID)
			case c.ACR != "idporten-loa-high" || !slices.Equal(c.AMR, []string{"BankID"}):
				t.Errorf("acr %q amr %v", c.ACR, c.AMR)
			case c.Locale != "nn":
				t.Errorf("locale %q", c.Locale)
			case c.SID == "" || c.AuthTime != now || c.IAT != now || c.EXP != now+120:
				t.Errorf("sid/auth_time/iat/exp %+v (now %d)", c, now)
			case tok.TokenType != "Bearer" || tok.AccessToken == "":
				t.Errorf("token %+v", tok)
			}
			if h := jwtHeader(t, tok.Extra("id_token").(string)); h["alg"] != "RS256" || h["kid"] == "" || h["typ"] != "JWT" {
				t.Errorf("header %v", h)
			}
			subs[method] = c.Sub
		})
	}
	t.Run("ok/pairwise", func(t *testing.T) {
		if subs[AuthClientSecretBasic] == subs[AuthClientSecretPost] {
			t.Errorf("two clients see the same sub %q", subs[AuthClientSecretBasic])
		}
		// The same client sees the same sub again.
		r := e.newRP(PresetIDPorten, "rp-"+AuthClientSecretBasic, AuthClientSecretBasic)
		f := newFlow()
		_, idt, err := r.exchange(f, e.login(e.browser(), r, f, "minid"))
		if err != nil {
			t.Fatal(err)
		}
		if c := tokenClaims(t, idt); c.Sub != subs[AuthClientSecretBasic] || c.ACR != "idporten-loa-substantial" || !slices.Equal(c.AMR, []string{"MinID-PIN"}) {
			t.Errorf("second login %+v, first sub %q", c, subs[AuthClientSecretBasic])
		}
	})
}

func TestUserinfo(t *testing.T) {
	e := newEnv(t)
	r := e.newRP(PresetIDPorten, "rp-ui", AuthClientSecretPost)
	f := newFlow()
	tok, idt, err := r.exchange(f, e.login(e.browser(), r, f, "testid"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok", func(t *testing.T) {
		ui, err := r.provider.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		var c claims
		ui.Claims(&c)
		if ui.Subject != idt.Subject || c.PID != defaultPerson.NationalID {
			t.Errorf("userinfo %+v", c)
		}
	})
	t.Run("fail/unknown token", func(t *testing.T) {
		_, err := r.provider.UserInfo(e.ctx(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "nope", TokenType: "Bearer"}))
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("fail/expired token", func(t *testing.T) {
		e.clock.Advance(121 * time.Second)
		if _, err := r.provider.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("expired access token accepted")
		}
	})
}

func TestPAR(t *testing.T) {
	e := newEnv(t)
	basic := e.newRP(PresetIDPorten, "rp-par", AuthClientSecretBasic)
	jwtRP := e.newRP(PresetBankID, "rp-par-jwt", AuthPrivateKeyJWT)
	push := func(r *rp, f flow, form url.Values, auth bool) (int, map[string]any) {
		authURL, _ := url.Parse(r.authURL(f))
		q := authURL.Query()
		for k, v := range form {
			q[k] = v
		}
		user, pass := "", ""
		if auth && r.key == nil {
			user, pass = r.client.ID, r.client.Secret
		} else if auth {
			q.Set("client_assertion_type", clientAssertionType)
			q.Set("client_assertion", r.assertion(r.key, r.op.urls.par, "", time.Minute))
		}
		return e.postForm(r.op.urls.par, q, user, pass)
	}
	for _, r := range []*rp{basic, jwtRP} {
		t.Run("ok/"+r.client.AuthMethod, func(t *testing.T) {
			f := newFlow()
			status, m := push(r, f, nil, true)
			uri, _ := m["request_uri"].(string)
			if status != http.StatusCreated || !strings.HasPrefix(uri, requestURIPrefix) || m["expires_in"] != float64(60) {
				t.Fatalf("PAR: HTTP %d %v", status, m)
			}
			u := r.op.urls.authorize + "?" + url.Values{"client_id": {r.client.ID}, "request_uri": {uri}}.Encode()
			b := e.browser()
			p := e.loginPage(b, u)
			_, q := e.submit(b, p, url.Values{"person": {defaultPerson.NationalID}, "eid": {p.eIDs[0]}})
			if _, _, err := r.exchange(f, e.checkCode(r, f, q)); err != nil {
				t.Fatal(err)
			}
			// A request_uri is good once.
			if resp, _ := e.get(b, u); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("second use of request_uri: HTTP %d", resp.StatusCode)
			}
		})
	}
	t.Run("fail/expired request_uri", func(t *testing.T) {
		_, m := push(basic, newFlow(), nil, true)
		e.clock.Advance(61 * time.Second)
		u := basic.op.urls.authorize + "?" + url.Values{"client_id": {basic.client.ID}, "request_uri": {m["request_uri"].(string)}}.Encode()
		if resp, _ := e.get(e.browser(), u); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("HTTP %d", resp.StatusCode)
		}
	})
	t.Run("fail/request_uri of another client", func(t *testing.T) {
		_, m := push(basic, newFlow(), nil, true)
		other := e.newRP(PresetIDPorten, "rp-par-other", AuthClientSecretBasic)
		u := basic.op.urls.authorize + "?" + url.Values{"client_id": {other.client.ID}, "request_uri": {m["request_uri"].(string)}}.Encode()
		if resp, _ := e.get(e.browser(), u); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("HTTP %d", resp.StatusCode)
		}
	})
	for _, tc := range []struct {
		name   string
		form   url.Values
		auth   bool
		status int
		code   string
	}{
		{"fail/no client authentication", nil, false, http.StatusUnauthorized, "invalid_client"},
		{"fail/bad redirect_uri", url.Values{"redirect_uri": {e.srv.URL + "/rp/evil"}}, true, http.StatusBadRequest, "invalid_request"},
		{"fail/plain PKCE", url.Values{"code_challenge_method": {"plain"}}, true, http.StatusBadRequest, "invalid_request"},
		{"fail/request_uri pushed", url.Values{"request_uri": {requestURIPrefix + "x"}}, true, http.StatusBadRequest, "invalid_request"},
		{"fail/another client_id", url.Values{"client_id": {"rp-par-jwt"}}, true, http.StatusUnauthorized, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := push(basic, newFlow(), tc.form, tc.auth)
			if status != tc.status || m["error"] != tc.code {
				t.Errorf("HTTP %d %v, want %d %s", status, m, tc.status, tc.code)
			}
		})
	}
}

func TestSSO(t *testing.T) {
	e := newEnv(t)
	a := e.newRP(PresetIDPorten, "rp-a", AuthClientSecretBasic)
	bRP := e.newRP(PresetIDPorten, "rp-b", AuthClientSecretPost)
	b := e.browser()
	f := newFlow()
	_, first, err := a.exchange(f, e.login(b, a, f, "minid"))
	if err != nil {
		t.Fatal(err)
	}
	firstClaims := tokenClaims(t, first)
	e.clock.Advance(time.Minute)

	t.Run("ok/second login without page", func(t *testing.T) {
		f := newFlow()
		resp, _ := e.get(b, bRP.authURL(f))
		code := e.checkCode(bRP, f, redirectQuery(t, resp))
		_, idt, err := bRP.exchange(f, code)
		if err != nil {
			t.Fatal(err)
		}
		c := tokenClaims(t, idt)
		if c.SID != firstClaims.SID || c.AuthTime != firstClaims.AuthTime || c.ACR != "idporten-loa-substantial" {
			t.Errorf("SSO token %+v, first %+v", c, firstClaims)
		}
	})
	t.Run("ok/prompt=login shows the page", func(t *testing.T) {
		f := newFlow()
		code := e.login(b, a, f, "buypass", oauth2.SetAuthURLParam("prompt", "login"))
		_, idt, err := a.exchange(f, code)
		if err != nil {
			t.Fatal(err)
		}
		// The same person's session is renewed: same sid, new auth_time and level.
		c := tokenClaims(t, idt)
		if c.SID != firstClaims.SID || c.AuthTime == firstClaims.AuthTime || c.ACR != "idporten-loa-high" {
			t.Errorf("after prompt=login %+v", c)
		}
	})
	t.Run("ok/level 4 session answers a level 3 request", func(t *testing.T) {
		f := newFlow()
		resp, _ := e.get(b, a.authURL(f, oauth2.SetAuthURLParam("acr_values", "idporten-loa-substantial")))
		e.checkCode(a, f, redirectQuery(t, resp))
	})
	t.Run("ok/level 3 session does not answer a level 4 request", func(t *testing.T) {
		b := e.browser()
		f := newFlow()
		e.login(b, a, f, "minid")
		p := e.loginPage(b, a.authURL(newFlow(), oauth2.SetAuthURLParam("acr_values", "idporten-loa-high")))
		if slices.Contains(p.eIDs, "minid") {
			t.Errorf("eIDs %v", p.eIDs)
		}
	})
	t.Run("fail/prompt=none without session", func(t *testing.T) {
		f := newFlow()
		resp, _ := e.get(e.browser(), a.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
		if q := redirectQuery(t, resp); q.Get("error") != "login_required" || q.Get("state") != f.state || q.Get("iss") != a.op.Issuer() {
			t.Errorf("redirect %v", q)
		}
	})
	t.Run("ok/the sessions of the two issuers are apart", func(t *testing.T) {
		bank := e.newRP(PresetBankID, "rp-bank-sso", AuthClientSecretBasic)
		e.loginPage(b, bank.authURL(newFlow()))
	})
}

func TestACRValues(t *testing.T) {
	e := newEnv(t)
	id := e.newRP(PresetIDPorten, "rp-acr", AuthClientSecretBasic)
	bank := e.newRP(PresetBankID, "rp-acr-bank", AuthClientSecretBasic)
	for _, tc := range []struct {
		name string
		r    *rp
		acr  string
		want []string
	}{
		{"ok/idporten none", id, "", []string{"minid", "bankid", "buypass", "commfides", "testid"}},
		{"ok/idporten substantial", id, "idporten-loa-substantial", []string{"minid", "bankid", "buypass", "commfides", "testid"}},
		{"ok/idporten high", id, "idporten-loa-high", []string{"bankid", "buypass", "commfides", "testid"}},
		{"ok/idporten both is the lower", id, "idporten-loa-high idporten-loa-substantial", []string{"minid", "bankid", "buypass", "commfides", "testid"}},
		{"ok/bankid none", bank, "", []string{"bid", "bis"}},
		{"ok/bankid LOA=3", bank, "urn:bankid:bis;LOA=3", []string{"bid", "bis"}},
		{"ok/bankid LOA=4", bank, "urn:bankid:bid;LOA=4", []string{"bid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			if tc.acr != "" {
				opts = append(opts, oauth2.SetAuthURLParam("acr_values", tc.acr))
			}
			p := e.loginPage(e.browser(), tc.r.authURL(newFlow(), opts...))
			if !slices.Equal(p.eIDs, tc.want) {
				t.Errorf("eIDs %v, want %v", p.eIDs, tc.want)
			}
		})
	}
	t.Run("ok/level 3 request answered at level 4", func(t *testing.T) {
		f := newFlow()
		code := e.login(e.browser(), bank, f, "bid", oauth2.SetAuthURLParam("acr_values", "urn:bankid:bis;LOA=3"))
		_, idt, err := bank.exchange(f, code)
		if err != nil {
			t.Fatal(err)
		}
		if c := tokenClaims(t, idt); c.ACR != "urn:bankid:bid;LOA=4" || !slices.Equal(c.AMR, []string{"BID"}) {
			t.Errorf("claims %+v", c)
		}
	})
	t.Run("fail/eID below the level posted anyway", func(t *testing.T) {
		b := e.browser()
		p := e.loginPage(b, id.authURL(newFlow(), oauth2.SetAuthURLParam("acr_values", "idporten-loa-high")))
		resp, q := e.submit(b, p, url.Values{"person": {defaultPerson.NationalID}, "eid": {"minid"}})
		if resp.StatusCode != http.StatusOK || q != nil {
			t.Errorf("HTTP %d %v", resp.StatusCode, q)
		}
	})
}

func TestBankIDNNINAltsub(t *testing.T) {
	e := newEnv(t)
	entitled := e.newRP(PresetBankID, "rp-nnin", AuthClientSecretBasic, func(c *Client) { c.NNINAltsub = true })
	plain := e.newRP(PresetBankID, "rp-no-nnin", AuthClientSecretBasic)
	for _, tc := range []struct {
		name      string
		r         *rp
		scope     []string
		want      bool
		wantScope string
	}{
		{"ok/entitled and asked", entitled, []string{"openid", "nnin_altsub"}, true, "openid nnin_altsub"},
		{"ok/entitled, not asked", entitled, []string{"openid", "profile"}, false, "openid profile"},
		{"ok/asked, not entitled", plain, []string{"openid", "nnin_altsub", "unknown"}, false, "openid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.conf.Scopes = tc.scope
			f := newFlow()
			tok, idt, err := tc.r.exchange(f, e.login(e.browser(), tc.r, f, "bis"))
			if err != nil {
				t.Fatal(err)
			}
			c := tokenClaims(t, idt)
			if (c.NNINAltsub == defaultPerson.NationalID) != tc.want || (c.NNINAltsub != "" && !tc.want) || c.PID != "" || c.Locale != "" {
				t.Errorf("claims %+v", c)
			}
			if c.ACR != "urn:bankid:bis;LOA=3" || !slices.Equal(c.AMR, []string{"BIS"}) {
				t.Errorf("acr %q amr %v", c.ACR, c.AMR)
			}
			if s, _ := tok.Extra("scope").(string); s != tc.wantScope {
				t.Errorf("scope %q, want %q", s, tc.wantScope)
			}
			ui, err := tc.r.provider.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			var uc claims
			ui.Claims(&uc)
			if (uc.NNINAltsub != "") != tc.want {
				t.Errorf("userinfo %+v", uc)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	r := e.newRP(PresetIDPorten, "rp-cancel", AuthClientSecretBasic)
	b := e.browser()
	f := newFlow()
	p := e.loginPage(b, r.authURL(f))
	_, q := e.submit(b, p, url.Values{"action": {"cancel"}})
	if q.Get("error") != "access_denied" || q.Get("state") != f.state || q.Get("iss") != r.op.Issuer() {
		t.Errorf("redirect %v", q)
	}
	// The page's token is used up.
	if resp, _ := e.submit(b, p, url.Values{"person": {defaultPerson.NationalID}, "eid": {"minid"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("reused login page: HTTP %d", resp.StatusCode)
	}
}
