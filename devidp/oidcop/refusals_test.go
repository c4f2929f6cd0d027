package oidcop

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// authorizeCases are refused authorization requests: mutate changes a good request's query. With
// an empty code the user sees the error page; otherwise the client gets the error by redirect.
var authorizeCases = []struct {
	name   string
	mutate func(q url.Values)
	code   string
}{
	{"fail/unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, ""},
	{"fail/bad redirect_uri", func(q url.Values) { q.Set("redirect_uri", q.Get("redirect_uri")+"/x") }, ""},
	{"fail/redirect_uri missing", func(q url.Values) { q.Del("redirect_uri") }, ""},
	{"fail/redirect_uri twice", func(q url.Values) { q.Add("redirect_uri", q.Get("redirect_uri")) }, ""},
	{"fail/missing PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
	{"fail/plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
	{"fail/no PKCE method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
	{"fail/malformed challenge", func(q url.Values) { q.Set("code_challenge", "short") }, "invalid_request"},
	{"fail/response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
	{"fail/response_mode form_post", func(q url.Values) { q.Set("response_mode", "form_post") }, "invalid_request"},
	{"fail/no state", func(q url.Values) { q.Del("state") }, "invalid_request"},
	{"fail/no nonce", func(q url.Values) { q.Del("nonce") }, "invalid_request"},
	{"fail/no openid scope", func(q url.Values) { q.Set("scope", "profile") }, "invalid_scope"},
	{"fail/repeated parameter", func(q url.Values) { q.Add("nonce", "again") }, "invalid_request"},
	{"fail/unknown acr", func(q url.Values) { q.Set("acr_values", "urn:bankid:bid;LOA=4") }, "invalid_request"},
	{"fail/prompt consent", func(q url.Values) { q.Set("prompt", "consent") }, "invalid_request"},
	{"fail/prompt none and login", func(q url.Values) { q.Set("prompt", "none login") }, "invalid_request"},
	{"fail/request object", func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, "request_not_supported"},
	{"fail/onbehalfof control character", func(q url.Values) { q.Set("onbehalfof", "a\x00b") }, "invalid_request"},
}

func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	r := e.newRP(PresetIDPorten, "rp-refuse", AuthClientSecretBasic)
	for _, tc := range authorizeCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow()
			u, _ := url.Parse(r.authURL(f))
			q := u.Query()
			tc.mutate(q)
			u.RawQuery = q.Encode()
			resp, body := e.get(e.browser(), u.String())
			if tc.code == "" {
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `<html lang="nb">`) || !strings.Contains(body, "<h1>") {
					t.Errorf("HTTP %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			rq := redirectQuery(t, resp)
			if rq.Get("error") != tc.code || rq.Get("iss") != r.op.Issuer() || rq.Get("code") != "" {
				t.Errorf("redirect %v, want error %s", rq, tc.code)
			}
			if q.Has("state") && rq.Get("state") != q.Get("state") {
				t.Errorf("state %q", rq.Get("state"))
			}
			if !strings.HasPrefix(resp.Header.Get("Location"), r.client.RedirectURIs[0]+"?") {
				t.Errorf("Location %q", resp.Header.Get("Location"))
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	e := newEnv(t)
	basic := e.newRP(PresetIDPorten, "rp-tok-basic", AuthClientSecretBasic)
	post := e.newRP(PresetIDPorten, "rp-tok-post", AuthClientSecretPost)
	pkjwt := e.newRP(PresetIDPorten, "rp-tok-jwt", AuthPrivateKeyJWT)
	// code logs in with a fresh browser and returns the flow and its code.
	code := func(r *rp) (flow, string) {
		f := newFlow()
		return f, e.login(e.browser(), r, f, "commfides")
	}
	exchange := func(r *rp, f flow, c string, opts ...oauth2.AuthCodeOption) error {
		_, err := r.conf.Exchange(e.ctx(), c, append([]oauth2.AuthCodeOption{oauth2.VerifierOption(f.verifier)}, opts...)...)
		return err
	}
	wantError := func(t *testing.T, err error, code string) {
		t.Helper()
		if err == nil {
			t.Fatalf("accepted; want %s", code)
		}
		if got := oauthErrorCode(t, err); got != code {
			t.Errorf("error %q (%v), want %q", got, err, code)
		}
	}
	t.Run("fail/wrong verifier", func(t *testing.T) {
		f, c := code(basic)
		f.verifier = oauth2.GenerateVerifier()
		wantError(t, exchange(basic, f, c), "invalid_grant")
	})
	t.Run("fail/reused code", func(t *testing.T) {
		f, c := code(basic)
		if _, _, err := basic.exchange(f, c); err != nil {
			t.Fatal(err)
		}
		_, _, err := basic.exchange(f, c)
		wantError(t, err, "invalid_grant")
	})
	t.Run("fail/expired code", func(t *testing.T) {
		f, c := code(basic)
		e.clock.Advance(61 * time.Second)
		wantError(t, exchange(basic, f, c), "invalid_grant")
	})
	t.Run("ok/code just inside 60 s", func(t *testing.T) {
		f, c := code(basic)
		e.clock.Advance(59 * time.Second)
		if _, _, err := basic.exchange(f, c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/wrong client secret", func(t *testing.T) {
		f, c := code(basic)
		conf := *basic.conf
		conf.ClientSecret = "wrong"
		_, err := conf.Exchange(e.ctx(), c, oauth2.VerifierOption(f.verifier))
		wantError(t, err, "invalid_client")
		if re := err.(*oauth2.RetrieveError); re.Response.StatusCode != http.StatusUnauthorized || re.Response.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("HTTP %d, WWW-Authenticate %q", re.Response.StatusCode, re.Response.Header.Get("WWW-Authenticate"))
		}
		// The code survives a failed client authentication.
		if _, _, err := basic.exchange(f, c); err != nil {
			t.Errorf("after a failed authentication: %v", err)
		}
	})
	t.Run("fail/wrong post secret", func(t *testing.T) {
		f, c := code(post)
		conf := *post.conf
		conf.ClientSecret = "wrong"
		_, err := conf.Exchange(e.ctx(), c, oauth2.VerifierOption(f.verifier))
		wantError(t, err, "invalid_client")
	})
	t.Run("fail/basic client authenticating by post", func(t *testing.T) {
		f, c := code(basic)
		conf := *basic.conf
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		_, err := conf.Exchange(e.ctx(), c, oauth2.VerifierOption(f.verifier))
		wantError(t, err, "invalid_client")
	})
	t.Run("fail/no client authentication", func(t *testing.T) {
		f, c := code(post)
		conf := *post.conf
		conf.ClientSecret = ""
		_, err := conf.Exchange(e.ctx(), c, oauth2.VerifierOption(f.verifier))
		wantError(t, err, "invalid_client")
	})
	t.Run("fail/code of another client", func(t *testing.T) {
		f, c := code(post)
		wantError(t, exchange(basic, f, c), "invalid_grant")
	})
	t.Run("fail/redirect_uri differs", func(t *testing.T) {
		f, c := code(basic)
		conf := *basic.conf
		conf.RedirectURL += "/other"
		_, err := conf.Exchange(e.ctx(), c, oauth2.VerifierOption(f.verifier))
		wantError(t, err, "invalid_grant")
	})
	t.Run("fail/no verifier", func(t *testing.T) {
		_, c := code(basic)
		_, err := basic.conf.Exchange(e.ctx(), c)
		wantError(t, err, "invalid_request")
	})
	t.Run("fail/grant_type", func(t *testing.T) {
		status, m := e.postForm(basic.op.urls.token, url.Values{"grant_type": {"client_credentials"}}, basic.client.ID, basic.client.Secret)
		if status != http.StatusBadRequest || m["error"] != "unsupported_grant_type" {
			t.Errorf("HTTP %d %v", status, m)
		}
	})
	t.Run("fail/two authentication methods", func(t *testing.T) {
		status, m := e.postForm(basic.op.urls.token, url.Values{"grant_type": {"authorization_code"}, "client_secret": {"x"}}, basic.client.ID, basic.client.Secret)
		if status != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("HTTP %d %v", status, m)
		}
	})
	t.Run("ok/private_key_jwt aud = token endpoint", func(t *testing.T) {
		f, c := code(pkjwt)
		if err := exchange(pkjwt, f, c, assertionOpts(pkjwt.assertion(pkjwt.key, pkjwt.op.urls.token, "", time.Minute))...); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/private_key_jwt replayed jti", func(t *testing.T) {
		a := pkjwt.assertion(pkjwt.key, pkjwt.op.Issuer(), "the-same-jti", time.Minute)
		f, c := code(pkjwt)
		if err := exchange(pkjwt, f, c, assertionOpts(a)...); err != nil {
			t.Fatal(err)
		}
		f, c = code(pkjwt)
		wantError(t, exchange(pkjwt, f, c, assertionOpts(a)...), "invalid_client")
		// A new jti (the same assertion otherwise) is fine, and the code was not used up.
		if err := exchange(pkjwt, f, c, assertionOpts(pkjwt.assertion(pkjwt.key, pkjwt.op.Issuer(), "", time.Minute))...); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct {
		name      string
		assertion func() string
	}{
		{"fail/private_key_jwt wrong key", func() string { return pkjwt.assertion(otherKey(), pkjwt.op.Issuer(), "", time.Minute) }},
		{"fail/private_key_jwt wrong aud", func() string { return pkjwt.assertion(pkjwt.key, pkjwt.op.urls.userinfo, "", time.Minute) }},
		{"fail/private_key_jwt other issuer's aud", func() string {
			return pkjwt.assertion(pkjwt.key, e.ops[PresetBankID].Issuer(), "", time.Minute)
		}},
		{"fail/private_key_jwt expired", func() string { return pkjwt.assertion(pkjwt.key, pkjwt.op.Issuer(), "", -time.Minute) }},
		{"fail/private_key_jwt lifetime too long", func() string { return pkjwt.assertion(pkjwt.key, pkjwt.op.Issuer(), "", time.Hour) }},
		{"fail/private_key_jwt not a JWT", func() string { return "not.a.jwt" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := code(pkjwt)
			wantError(t, exchange(pkjwt, f, c, assertionOpts(tc.assertion())...), "invalid_client")
		})
	}
	t.Run("fail/private_key_jwt by a secret client", func(t *testing.T) {
		f, c := code(post)
		a := pkjwt.assertion(pkjwt.key, pkjwt.op.Issuer(), "", time.Minute)
		conf := *post.conf
		conf.ClientSecret = ""
		_, err := conf.Exchange(e.ctx(), c, append([]oauth2.AuthCodeOption{oauth2.VerifierOption(f.verifier)}, assertionOpts(a)...)...)
		wantError(t, err, "invalid_client")
	})
}
