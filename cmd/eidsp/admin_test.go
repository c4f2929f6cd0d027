package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/saml"
)

const testAdminToken = "test-admin-token-0123456789abcdefghijklmnop"

// withAdminToken gives the harness's admin API a known bearer token.
func withAdminToken(env *devEnv) {
	sum := sha256.Sum256([]byte(testAdminToken))
	env.app.server.Admin.TokenSHA256 = sum[:]
}

// api calls the admin API with the token (or another Authorization value).
func (h *harness) api(method, path, auth string, body []byte) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.sp+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/samlmetadata+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		h.t.Fatalf("%s %s: %d, not JSON: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// newRotatedIdP starts a second development IdP with the same entity ID as the harness's but a
// new signing key and its own endpoints: the IdP after a key rollover. It knows our SP.
func newRotatedIdP(t *testing.T, h *harness) (*devidp.IdP, string) {
	t.Helper()
	ln := listenLoopback(t)
	kp, err := certs.Generate("eidsp development IdP, rotated key (TEST ONLY)", 24*time.Hour, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
	idp, err := devidp.New(devidp.Config{BaseURL: base, EntityID: h.idp + "/idp",
		Signer: saml.Signer{Key: kp.Key, Cert: kp.Cert}, InResponseTo: saml.InResponseToAuthnRequest,
		InstrumentNamespace: config.DefaultInstrumentNamespace})
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.RegisterSP(h.env.app.server.SPMetadataAt(time.Now())); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: idp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return idp, base
}

// TestAdminAPIUploadRotatesIdPKey: the IdP rolls its key over; an admin uploads its new metadata
// through the API (dry run first), and the next login goes to the new endpoints and is verified
// with the new certificate. Every step is in the audit trail, with no national identity number.
func TestAdminAPIUploadRotatesIdPKey(t *testing.T) {
	h := newHarness(t, withAdminToken)
	rotated, rotatedBase := newRotatedIdP(t, h)
	meta, err := rotated.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + testAdminToken

	for _, auth := range []string{"", "Bearer wrong", "Basic " + testAdminToken, bearer + "x"} {
		if st, _ := h.api(http.MethodGet, "/admin/api/idps", auth, nil); st != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, st)
		}
	}
	st, m := h.api(http.MethodGet, "/admin/api/idps", bearer, nil)
	if st != http.StatusOK {
		t.Fatalf("GET idps: %d %v", st, m)
	}
	oldFP := firstCertFingerprint(t, m, "idporten")

	// Broken and foreign documents are refused with plain-word problems, and change nothing.
	for name, doc := range map[string][]byte{
		"doctype":     append([]byte(`<!DOCTYPE x [<!ENTITY a "b">]>`), meta...),
		"not xml":     []byte("hello"),
		"http remote": bytes.ReplaceAll(meta, []byte("http://127.0.0.1"), []byte("http://192.0.2.1")),
	} {
		st, m := h.api(http.MethodPost, "/admin/api/idps/idporten/metadata", bearer, doc)
		probs, _ := m["problems"].([]any)
		if st != http.StatusUnprocessableEntity || len(probs) == 0 {
			t.Errorf("%s: status %d %v, want 422 with problems", name, st, m)
		}
	}
	if st, _ := h.api(http.MethodPost, "/admin/api/idps/nope/metadata", bearer, meta); st != http.StatusNotFound {
		t.Errorf("unknown IdP: status %d", st)
	}

	// Dry run: the changes are listed, nothing is saved.
	// A document larger than an ordinary form (real metadata with several certificates) is taken.
	big := bytes.Replace(meta, []byte("<md:IDPSSODescriptor"), []byte("<!--"+strings.Repeat("x", 40<<10)+"--><md:IDPSSODescriptor"), 1)
	if st, m := h.api(http.MethodPost, "/admin/api/idps/idporten/metadata?dry_run=1", bearer, big); st != http.StatusOK {
		t.Fatalf("a 45 KB document: %d %v", st, m)
	}
	st, m = h.api(http.MethodPost, "/admin/api/idps/idporten/metadata?dry_run=1", bearer, meta)
	if st != http.StatusOK || m["saved"] != false {
		t.Fatalf("dry run: %d %v", st, m)
	}
	changes := fmt.Sprint(m["changes"])
	for _, want := range []string{"signing certificate", "SingleSignOnService (HTTP-Redirect)", rotatedBase} {
		if !strings.Contains(changes, want) {
			t.Errorf("dry run changes do not mention %q: %s", want, changes)
		}
	}
	b := h.browser()
	if loc := b.get("/login?profile=idporten").location(); !strings.HasPrefix(loc, h.idp+"/idp/sso?") {
		t.Fatalf("a dry run changed the IdP in use: login goes to %s", loc)
	}

	st, m = h.api(http.MethodPost, "/admin/api/idps/idporten/metadata", bearer, meta)
	if st != http.StatusOK || m["saved"] != true {
		t.Fatalf("upload: %d %v", st, m)
	}
	_, m = h.api(http.MethodGet, "/admin/api/idps", bearer, nil)
	if fp := firstCertFingerprint(t, m, "idporten"); fp == oldFP {
		t.Fatal("the IdP's certificate did not change")
	}

	// The next login goes to the rotated IdP and its signature verifies with the new key.
	b = h.browser()
	p := b.get("/login?profile=idporten&return_to=/after")
	if p.status != http.StatusFound || !strings.HasPrefix(p.location(), rotatedBase+"/idp/sso?") {
		t.Fatalf("login after the upload: %d to %q", p.status, p.location())
	}
	acs := b.choose(b.atIdP(p.location()), persons[0].NationalID, "minid")
	b.finish(acs, "/after")
	b.requireSession(wantSession{nationalID: persons[0].NationalID, kind: "synthetic-fnr", instrument: "unknown",
		level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "nb"})

	// Removing the upload returns to the configured file.
	if st, m := h.api(http.MethodDelete, "/admin/api/idps/idporten/metadata", bearer, nil); st != http.StatusOK {
		t.Fatalf("remove upload: %d %v", st, m)
	}
	if loc := h.browser().get("/login?profile=idporten").location(); !strings.HasPrefix(loc, h.idp+"/idp/sso?") {
		t.Fatalf("after removing the upload, login goes to %s", loc)
	}

	// The audit trail names the admin actions and the login, with the number masked.
	events := waitAudit(t, h, bearer, func(ev []map[string]any) bool {
		return countEvents(ev, "admin", "remove uploaded idp metadata") == 1
	})
	if countEvents(events, "admin", "upload idp metadata") != 5 || countEvents(events, "login", "") != 1 {
		t.Errorf("audit trail: %v", events)
	}
	raw, _ := json.Marshal(events)
	for _, p := range persons {
		if strings.Contains(string(raw), p.NationalID) {
			t.Fatal("a national identity number in clear in the audit trail")
		}
	}
	if !strings.Contains(string(raw), persons[0].NationalID[:6]+"*****") {
		t.Errorf("the login's person is not shown masked: %s", raw)
	}
	h.requireNoNationalIDInLog()
}

func firstCertFingerprint(t *testing.T, m map[string]any, name string) string {
	t.Helper()
	list, _ := m["idps"].([]any)
	for _, x := range list {
		idp, _ := x.(map[string]any)
		if idp["name"] != name {
			continue
		}
		certs, _ := idp["signing_certificates"].([]any)
		if len(certs) == 0 {
			t.Fatalf("%s has no signing certificates: %v", name, idp)
		}
		c, _ := certs[0].(map[string]any)
		return asString(c["sha256"])
	}
	t.Fatalf("no IdP %s in %v", name, m)
	return ""
}

func countEvents(ev []map[string]any, event, action string) int {
	n := 0
	for _, e := range ev {
		if e["event"] == event && (action == "" || e["action"] == action) {
			n++
		}
	}
	return n
}

// waitAudit polls the audit API until ok holds: the trail is written in the background.
func waitAudit(t *testing.T, h *harness, bearer string, ok func([]map[string]any) bool) []map[string]any {
	t.Helper()
	var events []map[string]any
	for range 100 {
		st, m := h.api(http.MethodGet, "/admin/api/audit?n=200", bearer, nil)
		if st != http.StatusOK {
			t.Fatalf("audit: %d %v", st, m)
		}
		events = events[:0]
		list, _ := m["events"].([]any)
		for _, x := range list {
			e, _ := x.(map[string]any)
			events = append(events, e)
		}
		if ok(events) {
			return events
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("audit trail never complete: %v", events)
	return nil
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// TestAdminPages: only a level-4 login by a listed admin opens /admin/; every form needs the
// CSRF token; an upload is previewed with its changes and saved, a broken one lists its
// problems and saves nothing.
func TestAdminPages(t *testing.T) {
	h := newHarness(t)
	admin := persons[2]
	if DevAdmin().NationalID != admin.NationalID {
		t.Fatal("test assumes the third test person is the development admin")
	}

	// No session: sent to the admin login.
	b := h.browser()
	p := b.get("/admin/")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login?") || !strings.Contains(p.location(), "profile=idporten-high") {
		t.Fatalf("GET /admin/ without a session: %d %q", p.status, p.location())
	}
	// Someone not on the list, at level 4: 403.
	b.finish(b.idpLogin(url.Values{"profile": {"idporten-high"}}, persons[0].NationalID, "bankid"), "/")
	if p := b.get("/admin/"); p.status != http.StatusForbidden || !strings.Contains(p.body, `data-key="admin_forbidden"`) {
		t.Fatalf("non-admin: %d", p.status)
	}
	// The admin at level 4 through another IdP (Buypass via the IPS broker) than the admin
	// profile's: 403.
	b = h.browser()
	b.finish(b.idpLogin(url.Values{"profile": {"buypass-smartcard"}}, admin.NationalID, "ips:BPSC"), "/")
	if p := b.get("/admin/"); p.status != http.StatusForbidden {
		t.Fatalf("admin through another IdP: %d", p.status)
	}
	// The admin at level 3: 403.
	b = h.browser()
	b.finish(b.idpLogin(url.Values{"profile": {"idporten"}}, admin.NationalID, "minid"), "/")
	if p := b.get("/admin/"); p.status != http.StatusForbidden {
		t.Fatalf("admin at level 3: %d", p.status)
	}
	// The admin at level 4.
	b = h.browser()
	b.finish(b.idpLogin(url.Values{"profile": {"idporten-high"}, "return_to": {"/admin/"}}, admin.NationalID, "bankid"), "/admin/")
	p = b.get("/admin/")
	if p.status != http.StatusOK {
		t.Fatalf("admin: %d\n%s", p.status, p.body)
	}
	for _, want := range []string{`id="idp-idporten"`, `id="idp-ips"`, `id="download-sp"`, "idporten-high", `id="audit"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("admin page lacks %s", want)
		}
	}
	for _, pp := range persons {
		if strings.Contains(p.body, pp.NationalID) {
			t.Fatal("the admin page shows a national identity number in clear")
		}
	}
	csrf := first(reCSRF, p.body)
	if csrf == "" {
		t.Fatal("no CSRF token on the admin page")
	}
	if d := b.get("/admin/sp-metadata"); d.status != http.StatusOK || !strings.Contains(d.header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(d.body, "SPSSODescriptor") {
		t.Errorf("SP metadata download: %d %q", d.status, d.header.Get("Content-Disposition"))
	}

	// A form without the token is refused and changes nothing.
	if p := b.post("/admin/idps/idporten/refresh", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("refresh without CSRF: %d", p.status)
	}
	if p := b.post("/admin/idps/idporten/refresh", url.Values{"csrf": {"x" + csrf}}); p.status != http.StatusForbidden {
		t.Errorf("refresh with a wrong CSRF token: %d", p.status)
	}
	// Another browser's valid session token does not fit this session.
	if p := h.browser().post("/admin/idps/idporten/refresh", url.Values{"csrf": {csrf}}); p.status != http.StatusForbidden {
		t.Errorf("refresh from a browser without the session: %d", p.status)
	}

	// Broken upload: problems in plain words, nothing saved.
	p = b.multipart("/admin/idps/idporten/preview", csrf, []byte(`<!DOCTYPE x><x/>`))
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `id="problems"`) || !strings.Contains(p.body, "DOCTYPE") {
		t.Fatalf("broken upload: %d\n%s", p.status, p.body)
	}

	// Good upload: preview lists the changes, save uses it.
	rotated, rotatedBase := newRotatedIdP(t, h)
	meta, err := rotated.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	p = b.multipart("/admin/idps/idporten/preview", csrf, meta)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="changes"`) || !strings.Contains(p.body, rotatedBase) {
		t.Fatalf("preview: %d\n%s", p.status, p.body)
	}
	if loc := h.browser().get("/login?profile=idporten").location(); !strings.HasPrefix(loc, h.idp+"/idp/sso?") {
		t.Fatal("a preview changed the IdP in use")
	}
	doc := first(regexp.MustCompile(`name="metadata_b64" value="([^"]*)"`), p.body)
	p = b.post("/admin/idps/idporten/save", url.Values{"csrf": {csrf}, "metadata_b64": {doc}})
	if p.status != http.StatusSeeOther || p.location() != "/admin/?done=saved" {
		t.Fatalf("save: %d %q\n%s", p.status, p.location(), p.body)
	}
	if loc := h.browser().get("/login?profile=idporten").location(); !strings.HasPrefix(loc, rotatedBase+"/idp/sso?") {
		t.Fatalf("after saving, login goes to %s", loc)
	}
	p = b.get("/admin/?done=saved")
	if !strings.Contains(p.body, `id="admin-message"`) || !strings.Contains(p.body, `data-origin="upload"`) || !strings.Contains(p.body, `id="remove-idporten"`) {
		t.Errorf("overview after saving does not show the upload")
	}
	h.requireNoNationalIDInLog()
}

// multipart posts a metadata file as the upload form does.
func (b *browser) multipart(path, csrf string, file []byte) *page {
	b.h.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("csrf", csrf)
	fw, err := w.CreateFormFile("file", filepath.Base("idp-metadata.xml"))
	if err != nil {
		b.h.t.Fatal(err)
	}
	fw.Write(file)
	w.Close()
	req, err := http.NewRequest(http.MethodPost, b.h.sp+path, &body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}
