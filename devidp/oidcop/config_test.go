package oidcop

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/eidsp/eidsp/devidp"
)

func TestConfigValidate(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{
		BaseURL: "http://127.0.0.1:8081",
		Preset:  "azure",
		Signer:  weak,
		Persons: []devidp.Person{{NationalID: "31129956715", Name: "Real Person"}, {NationalID: "45678901234", Name: "Broken"}},
	})
	want := `oidcop: base URL "http://127.0.0.1:8081" is not an absolute https URL without query (http only with AllowInsecure)
oidcop: preset "azure" is neither "idporten" nor "bankid"
oidcop: signer: RSA key of 1024 bits; at least 2048
oidcop: test person 0 (Real Person) is not synthetic (month + 80)
oidcop: test person 1 (Broken): identity: invalid national identity number: first check digit does not match`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "31129956715") {
		t.Error("error names a national identity number")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"ok/https", Config{BaseURL: "https://op.test.example/", Preset: PresetBankID, Signer: signerKey()}},
		{"ok/http with AllowInsecure", Config{BaseURL: "http://127.0.0.1:8081", Preset: PresetIDPorten, Signer: signerKey(), AllowInsecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if op.Issuer() != strings.TrimRight(tc.cfg.BaseURL, "/")+"/oidc/"+tc.cfg.Preset {
				t.Errorf("issuer %q", op.Issuer())
			}
		})
	}
}

func TestRegisterClient(t *testing.T) {
	op, err := New(Config{BaseURL: "https://op.test.example", Preset: PresetIDPorten, Signer: signerKey(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	good := Client{ID: "c", Secret: "s", RedirectURIs: []string{"https://rp.test.example/cb"}}
	for _, tc := range []struct {
		name   string
		mutate func(*Client)
		want   string // a substring of the error; "" for success
	}{
		{"ok/default method", func(c *Client) {}, ""},
		{"ok/private_key_jwt", func(c *Client) { c.Secret, c.AuthMethod, c.PublicKey = "", AuthPrivateKeyJWT, &clientKey().PublicKey }, ""},
		{"fail/no secret", func(c *Client) { c.Secret = "" }, "client_secret_basic needs a secret"},
		{"fail/private_key_jwt without key", func(c *Client) { c.AuthMethod = AuthPrivateKeyJWT }, "private_key_jwt needs a public key"},
		{"fail/unknown method", func(c *Client) { c.AuthMethod = "tls_client_auth" }, `auth method "tls_client_auth"`},
		{"fail/http redirect", func(c *Client) { c.RedirectURIs = []string{"http://rp.test.example/cb"} }, "redirect URI"},
		{"fail/fragment", func(c *Client) { c.RedirectURIs = []string{"https://rp.test.example/cb#x"} }, "redirect URI"},
		{"fail/no redirect", func(c *Client) { c.RedirectURIs = nil }, "no redirect URI"},
		{"fail/relative logout", func(c *Client) { c.PostLogoutRedirectURIs = []string{"/out"} }, "post-logout redirect URI"},
		{"fail/front-channel", func(c *Client) { c.FrontchannelLogoutURI = "javascript:alert(1)" }, "front-channel logout URI"},
		{"fail/nnin_altsub at idporten", func(c *Client) { c.NNINAltsub = true }, "nnin_altsub is a BankID entitlement"},
		{"fail/empty ID", func(c *Client) { c.ID = "" }, "client ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			err := op.RegisterClient(c)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLoginPage checks the page for what assistive technology needs: the language, one h1,
// labelled radios, legends, buttons named by their text, no script.
func TestLoginPage(t *testing.T) {
	e := newEnv(t)
	r := e.newRP(PresetIDPorten, "rp-page", AuthClientSecretBasic)
	for _, tc := range []struct {
		name, uiLocales, acceptLanguage, lang, heading string
	}{
		{"ok/ui_locales nn", "nn en", "", "nn", "Innlogging (utviklings-OP)"},
		{"ok/ui_locales en", "en", "nb", "en", "Log in (development OP)"},
		{"ok/ui_locales se falls back to nb", "se", "", "nb", "Innlogging (utviklings-OP)"},
		{"ok/Accept-Language", "", "en-GB,nb;q=0.5", "en", "Log in (development OP)"},
		{"ok/default", "", "", "nb", "Innlogging (utviklings-OP)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			if tc.uiLocales != "" {
				opts = append(opts, oauth2.SetAuthURLParam("ui_locales", tc.uiLocales))
			}
			req, _ := http.NewRequest(http.MethodGet, r.authURL(newFlow(), opts...), nil)
			if tc.acceptLanguage != "" {
				req.Header.Set("Accept-Language", tc.acceptLanguage)
			}
			resp, err := e.browser().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			body := string(raw)
			if !strings.Contains(body, `<html lang="`+tc.lang+`">`) || strings.Count(body, "<h1>") != 1 || !strings.Contains(body, "<h1>"+tc.heading+"</h1>") {
				t.Errorf("lang or heading:\n%s", body)
			}
			if strings.Count(body, "<legend>") != 2 || strings.Contains(body, "<script") {
				t.Errorf("legends or script:\n%s", body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP %q", csp)
			}
			ids := regexp.MustCompile(`<input type="radio" name="person" id="([^"]+)"`).FindAllStringSubmatch(body, -1)
			if len(ids) != len(devidp.DefaultPersons()) {
				t.Fatalf("%d radios", len(ids))
			}
			for _, m := range ids {
				if !strings.Contains(body, `<label for="`+m[1]+`">`) {
					t.Errorf("radio %s has no label", m[1])
				}
			}
		})
	}
	t.Run("fail/no person chosen shows an alert", func(t *testing.T) {
		b := e.browser()
		p := e.loginPage(b, r.authURL(newFlow(), oauth2.SetAuthURLParam("ui_locales", "en")))
		resp, err := b.PostForm(e.srv.URL+p.action, url.Values{"login": {p.token}, "eid": {"minid"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `role="alert" id="error">Choose a test person.</p>`) {
			t.Errorf("HTTP %d\n%s", resp.StatusCode, body)
		}
	})
}
