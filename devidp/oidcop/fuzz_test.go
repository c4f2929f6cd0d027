package oidcop

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAuthorize feeds arbitrary query strings to /authorize: it must never panic and never answer
// with anything but the login page, the 400 page or a redirect to the registered redirect URI.
func FuzzAuthorize(f *testing.F) {
	e := newEnv(f)
	r := e.newRP(PresetIDPorten, "rp-fuzz", AuthClientSecretBasic)
	good, _ := url.Parse(r.authURL(newFlow()))
	f.Add(good.RawQuery)
	for _, tc := range authorizeCases {
		q := good.Query()
		tc.mutate(q)
		f.Add(q.Encode())
	}
	f.Add("")
	f.Add("client_id=rp-fuzz&request_uri=" + url.QueryEscape(requestURIPrefix+"x"))
	f.Add("client_id=%ZZ&redirect_uri=%00")
	f.Add(good.RawQuery + "&acr_values=idporten-loa-high+idporten-loa-high&ui_locales=se+nn&prompt=none")
	h := r.op.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/oidc/idporten/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
		case http.StatusFound:
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, r.client.RedirectURIs[0]+"?") {
				t.Fatalf("redirect to %q", loc)
			}
		default:
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

// FuzzToken feeds arbitrary form bodies and Authorization headers to /token: it must never panic,
// always answer with an OAuth error in JSON, and never issue a token.
func FuzzToken(f *testing.F) {
	e := newEnv(f)
	basic := e.newRP(PresetIDPorten, "rp-fuzz-basic", AuthClientSecretBasic)
	pkjwt := e.newRP(PresetIDPorten, "rp-fuzz-jwt", AuthPrivateKeyJWT)
	verifier := newFlow().verifier
	f.Add("grant_type=authorization_code&code=x&code_verifier="+verifier+"&redirect_uri="+url.QueryEscape(basic.client.RedirectURIs[0]), "Basic "+basicAuth(basic.client.ID, basic.client.Secret))
	f.Add(url.Values{
		"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {verifier},
		"client_assertion_type": {clientAssertionType}, "client_assertion": {pkjwt.assertion(pkjwt.key, pkjwt.op.Issuer(), "", 60e9)},
	}.Encode(), "")
	f.Add("client_id=rp-fuzz-basic&client_secret=nope&grant_type=refresh_token", "")
	f.Add("grant_type=authorization_code&grant_type=authorization_code", "Basic %%%")
	f.Add("%ZZ", "Bearer x")
	f.Add("", "Basic "+basicAuth("a:b", "%"))
	h := basic.op.Handler()
	f.Fuzz(func(t *testing.T, body, authorization string) {
		req := httptest.NewRequest(http.MethodPost, "/oidc/idporten/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["error"] == "" {
			t.Fatalf("HTTP %d, body %q", rec.Code, rec.Body.String())
		}
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusUnauthorized {
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

func basicAuth(user, pass string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
