package devidp

import (
	"bytes"
	"crypto/x509"
	"html"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
)

// profileMetadata is sp's metadata as eidsp publishes it: the full ID-porten profile, which the
// admin page requires (the testSP's own metadata() is looser, for RegisterSP).
func (sp *testSP) profileMetadata(t testing.TB) []byte {
	t.Helper()
	md, err := metadata.SP{
		EntityID:        sp.entityID,
		SigningCert:     sp.signer.Cert,
		EncryptionCerts: []*x509.Certificate{sp.encCert},
		ACSArtifact:     sp.acsArtifact,
		ACSPost:         sp.acsPost,
		SLO:             sp.sloLocation,
	}.Build()
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// adminForm is one submission of the upload form.
type adminForm struct {
	token  string // "" leaves the field out
	file   []byte // nil leaves the file out
	pasted string
}

func (f adminForm) request(t testing.TB, target string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if f.token != "" {
		mw.WriteField(fieldToken, f.token)
	}
	if f.file != nil {
		fw, err := mw.CreateFormFile(fieldFile, "metadata.xml")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.file)
	}
	mw.WriteField(fieldMetadata, f.pasted)
	mw.Close()
	hreq := httptest.NewRequest(http.MethodPost, target, &body)
	hreq.RequestURI = ""
	hreq.Header.Set("Content-Type", mw.FormDataContentType())
	return hreq
}

func (e *env) adminURL() string { return e.base + "/idp/admin/" }

// adminToken reads a fresh form token off the admin page.
func (e *env) adminToken() string {
	e.t.Helper()
	return e.get(e.adminURL()).token(e.t)
}

func (e *env) upload(f adminForm) page {
	e.t.Helper()
	return e.do(f.request(e.t, e.base+"/idp/admin/sps"))
}

func TestAdminUpload(t *testing.T) {
	e := newEnv(t, nil)
	person := DefaultPersons()[2]

	t.Run("ok/file, listed, then a login", func(t *testing.T) {
		sp := newTestSP(t, "https://uploaded.test.example")
		p := e.upload(adminForm{token: e.adminToken(), file: sp.profileMetadata(t)})
		want := "/idp/admin/?registered=" + url.QueryEscape(sp.entityID)
		if p.status != http.StatusSeeOther || p.location != want {
			t.Fatalf("HTTP %d to %q, want 303 to %q: %s", p.status, p.location, want, p.body)
		}
		list := e.get(e.base + p.location)
		for _, s := range []string{
			`id="registered"`, "<h3>https://uploaded.test.example</h3>",
			"HTTP-Artifact: https://uploaded.test.example/saml/acs (standard)",
			"HTTP-POST: https://uploaded.test.example/saml/acs-post",
			"HTTP-Redirect: https://uploaded.test.example/saml/slo; svar til https://uploaded.test.example/saml/slo",
			"Signering: CN=sp-signing (TEST ONLY), utløper " + sp.signer.Cert.NotAfter.UTC().Format("2006-01-02"),
			"Kryptering: CN=sp-encryption (TEST ONLY), utløper",
		} {
			if !strings.Contains(html.UnescapeString(list.body), s) {
				t.Errorf("list lacks %q:\n%s", s, list.body)
			}
		}

		saved := e.sp
		e.sp = sp
		defer func() { e.sp = saved }()
		r := e.fill(req{})
		art, _ := e.artifactFrom(e.login(e.get(e.redirectURL(r)), person.NationalID, "testid-3"), sp.acsArtifact)
		if _, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest); err != nil {
			t.Fatalf("login over the Artifact ACS: %v", err)
		}
		r = e.fill(req{binding: saml.BindingHTTPPost, force: true})
		xml, _ := e.login(e.get(e.redirectURL(r)), person.NationalID, "testid-4").postForm(t)
		if _, err := e.verifier().VerifyPOSTResponse(xml, saml.Expected{IdP: e.spIdP(saml.InResponseToAuthnRequest),
			AuthnRequestID: r.id, ACSURL: sp.acsPost, Now: e.clock.Now()}); err != nil {
			t.Fatalf("login over the POST ACS: %v", err)
		}
	})

	t.Run("ok/pasted, form-encoded", func(t *testing.T) {
		sp := newTestSP(t, "https://pasted.test.example")
		p := e.post(e.base+"/idp/admin/sps", url.Values{fieldToken: {e.adminToken()}, fieldMetadata: {string(sp.profileMetadata(t))}})
		if p.status != http.StatusSeeOther || e.idp.lookupSP(sp.entityID) == nil {
			t.Fatalf("HTTP %d, registered %v: %s", p.status, e.idp.lookupSP(sp.entityID) != nil, p.body)
		}
	})

	t.Run("ok/upload again replaces", func(t *testing.T) {
		sp := newTestSP(t, "https://again.test.example")
		if p := e.upload(adminForm{token: e.adminToken(), file: sp.profileMetadata(t)}); p.status != http.StatusSeeOther {
			t.Fatalf("first upload: HTTP %d", p.status)
		}
		before := len(e.idp.sps)
		sp.acsArtifact = "https://again.test.example/new/acs"
		sp.acsPost = ""
		if p := e.upload(adminForm{token: e.adminToken(), pasted: string(sp.profileMetadata(t))}); p.status != http.StatusSeeOther {
			t.Fatalf("second upload: HTTP %d", p.status)
		}
		got := e.idp.lookupSP(sp.entityID)
		if len(e.idp.sps) != before || len(got.acs) != 1 || got.acs[0].Location != sp.acsArtifact {
			t.Errorf("%d SPs (was %d), ACS %+v", len(e.idp.sps), before, got.acs)
		}
		if body := e.get(e.adminURL()).body; strings.Contains(body, "https://again.test.example/saml/acs") {
			t.Error("the list still shows the replaced ACS")
		}
	})

	t.Run("fail/broken metadata", func(t *testing.T) {
		sp := newTestSP(t, "https://broken.test.example")
		md := string(sp.profileMetadata(t))
		md = strings.Replace(md, `AuthnRequestsSigned="true"`, `AuthnRequestsSigned="false"`, 1)
		md = regexp.MustCompile(`\s*<md:SingleLogoutService [^>]*/>`).ReplaceAllString(md, "")
		p := e.upload(adminForm{token: e.adminToken(), pasted: md})
		if p.status != http.StatusUnprocessableEntity {
			t.Fatalf("HTTP %d, want 422", p.status)
		}
		body := html.UnescapeString(p.body)
		for _, s := range []string{
			catalogue["nb"]["admin_err_refused"], `<ul lang="en" id="problems">`,
			`<li>the SPSSODescriptor has AuthnRequestsSigned="false"; it must be "true"`,
			"<li>there is no SingleLogoutService",
			`AuthnRequestsSigned="false"`, // the pasted text comes back, to be fixed
		} {
			if !strings.Contains(body, s) {
				t.Errorf("page lacks %q:\n%s", s, p.body)
			}
		}
		if e.idp.lookupSP(sp.entityID) != nil {
			t.Error("refused metadata was registered")
		}
		checkAccessible(t, p.body)
	})

	t.Run("fail/not acceptable XML", func(t *testing.T) {
		p := e.upload(adminForm{token: e.adminToken(), file: []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "SP metadata is not acceptable XML: doctype") {
			t.Fatalf("HTTP %d: %s", p.status, p.body)
		}
	})

	t.Run("fail/empty", func(t *testing.T) {
		p := e.upload(adminForm{token: e.adminToken(), pasted: "  \n"})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(p.body), catalogue["nb"]["admin_err_empty"]) {
			t.Fatalf("HTTP %d: %s", p.status, p.body)
		}
	})

	for _, tc := range []struct{ name, token string }{
		{"fail/no form token", ""},
		{"fail/forged form token", "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"fail/token without MAC", "AAAAAAAAAAAAAAAAAAAAAA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := newTestSP(t, "https://csrf.test.example")
			p := e.upload(adminForm{token: tc.token, file: sp.profileMetadata(t)})
			if p.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(p.body), catalogue["nb"]["admin_err_token"]) {
				t.Fatalf("HTTP %d, want 403: %s", p.status, p.body)
			}
			if e.idp.lookupSP(sp.entityID) != nil {
				t.Error("registered without a valid form token")
			}
		})
	}

	t.Run("fail/token of another IdP", func(t *testing.T) {
		other := newEnv(t, nil)
		sp := newTestSP(t, "https://csrf.test.example")
		if p := e.upload(adminForm{token: other.adminToken(), file: sp.profileMetadata(t)}); p.status != http.StatusForbidden {
			t.Fatalf("HTTP %d, want 403", p.status)
		}
	})

	// In process: the server answers before it has read an oversized body, which a real client
	// may see as a reset connection instead of the answer.
	t.Run("fail/too large", func(t *testing.T) {
		sp := newTestSP(t, "https://large.test.example")
		md := sp.profileMetadata(t)
		padded := append(bytes.Replace(md, []byte("</md:EntityDescriptor>"), nil, 1), bytes.Repeat([]byte(" "), maxAdminBody)...)
		padded = append(padded, "</md:EntityDescriptor>"...)
		rec := httptest.NewRecorder()
		e.idp.Handler().ServeHTTP(rec, adminForm{token: e.adminToken(), file: padded}.request(t, "/idp/admin/sps"))
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(html.UnescapeString(rec.Body.String()), catalogue["nb"]["admin_err_too_large"]) {
			t.Fatalf("HTTP %d, want 413 with a message: %s", rec.Code, rec.Body)
		}
		if e.idp.lookupSP(sp.entityID) != nil {
			t.Error("oversized metadata was registered")
		}
	})
}

func TestAdminPage(t *testing.T) {
	e := newEnv(t, nil)
	t.Run("ok/lists the SPs registered by RegisterSP", func(t *testing.T) {
		p := e.get(e.adminURL())
		if p.status != http.StatusOK || !strings.Contains(p.body, "<h3>https://sp.test.example</h3>") {
			t.Fatalf("HTTP %d: %s", p.status, p.body)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
		if strings.Contains(p.body, `id="registered"`) {
			t.Error("a success message without an upload")
		}
	})
	t.Run("ok/a crafted link claims no registration", func(t *testing.T) {
		if p := e.get(e.adminURL() + "?registered=https%3A%2F%2Fnot.registered.example"); strings.Contains(p.body, "not.registered.example") {
			t.Error("the page confirms a registration that did not happen")
		}
	})
	for _, tc := range []struct{ name, query, acceptLanguage, lang string }{
		{"ok/nb by default", "", "", "nb"},
		{"ok/nn from Accept-Language", "", "nn-NO,nn;q=0.9", "nn"},
		{"ok/en from locale", "?locale=en", "nb", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(e.adminURL()+tc.query, "Accept-Language", tc.acceptLanguage)
			if p.lang() != tc.lang || !strings.Contains(html.UnescapeString(p.body), "<h1>"+catalogue[tc.lang]["admin_title"]+"</h1>") {
				t.Errorf("lang %q, want %q:\n%s", p.lang(), tc.lang, p.body)
			}
			checkAccessible(t, p.body)
		})
	}
	t.Run("ok/no SPs", func(t *testing.T) {
		e := newEnv(t, nil)
		e.idp.sps = map[string]*serviceProvider{}
		if p := e.get(e.adminURL()); !strings.Contains(p.body, `id="no-sps"`) {
			t.Errorf("no message for an empty list:\n%s", p.body)
		}
	})
}

var (
	headingRe = regexp.MustCompile(`<h([1-6])[ >]`)
	controlRe = regexp.MustCompile(`<(input|textarea|select)\b([^>]*)>`)
	idRe      = regexp.MustCompile(`\bid="([^"]+)"`)
	titleRe   = regexp.MustCompile(`<title>[^<]+</title>`)
)

// checkAccessible holds a page to the rules the browser tests check with axe-core, as far as they
// can be read off the HTML: a language, a title, one h1 and no skipped heading level, and a label
// for every form control that is not hidden.
func checkAccessible(t *testing.T, body string) {
	t.Helper()
	if !langRe.MatchString(body) {
		t.Error("no <html lang>")
	}
	if !titleRe.MatchString(body) {
		t.Error("no <title>")
	}
	level := 0
	h1s := 0
	for _, m := range headingRe.FindAllStringSubmatch(body, -1) {
		l := int(m[1][0] - '0')
		if l == 1 {
			h1s++
		}
		if l > level+1 {
			t.Errorf("heading h%d follows h%d", l, level)
		}
		level = l
	}
	if h1s != 1 {
		t.Errorf("%d h1 headings, want 1", h1s)
	}
	for _, m := range controlRe.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[2], `type="hidden"`) {
			continue
		}
		id := idRe.FindStringSubmatch(m[2])
		if id == nil {
			t.Errorf("<%s%s> has no id for a label", m[1], m[2])
			continue
		}
		if !regexp.MustCompile(`<label for="` + regexp.QuoteMeta(id[1]) + `">[^<]+</label>`).MatchString(body) {
			t.Errorf("<%s id=%q> has no label", m[1], id[1])
		}
	}
}
