package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/handlers"
)

// Digdir's verification tests for an ID-porten integration (spec/PROFILE.md §7), one Go test
// each, named after it. They drive real HTTP over loopback between a cookie-keeping client, our
// SP, the development IdP acting as ID-porten, and a second SP (another eidsp, on another host
// name so that the browser keeps their cookies apart) acting as "another service". One clock,
// injected, drives all three.

// vclock is the shared, adjustable clock.
type vclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vclock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *vclock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is our SP ("own service"), the other SP and the development IdP.
type world struct {
	t      *testing.T
	clock  *vclock
	own    *app
	other  *app
	ownURL string
	othURL string
	idpURL string
	logs   *logBuffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	clock := &vclock{t: time.Now().UTC().Truncate(time.Second)}
	dir1, dir2 := t.TempDir(), t.TempDir()
	devKeysInto(t, dir1)
	devKeysInto(t, dir2)
	listen := func() net.Listener {
		ln := listenLoopback(t)
		return ln
	}
	ownLn, otherLn, idpLn := listen(), listen(), listen()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	env, err := newDevEnv(ctx, dir1, ownLn, idpLn, log, clock.Now)
	if err != nil {
		cancel()
		t.Fatalf("newDevEnv: %v", err)
	}
	// OnBehalfOf (verification test 10) is a profile setting.
	env.app.server.Profiles = append(env.app.server.Profiles, handlers.Profile{
		Name: "idporten-obo", Label: "profile.idporten", IdP: "idporten", MinLevel: 3, OnBehalfOf: "SERVICEOWNER1"})
	othURL := fmt.Sprintf("http://127.0.0.1:%d", otherLn.Addr().(*net.TCPAddr).Port)
	cfg := config.Dev(dir2, otherLn.Addr().String(), othURL, filepath.Join(dir1, "devidp-metadata.xml"))
	cfg.Session.CookieName = "other_session"
	cfg.UI.PortalName = "Another service"
	if err := cfg.Validate(); err != nil {
		cancel()
		t.Fatal(err)
	}
	other, err := buildApp(ctx, cfg, log.With("sp", "other"), clock.Now)
	if err != nil {
		cancel()
		t.Fatalf("second SP: %v", err)
	}
	idpSrv := &http.Server{Handler: env.idpHandler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	done := make(chan error, 2)
	go func() { done <- serveUntilDone(ctx, log, env.app, ownLn, nil) }()
	go func() { done <- serveUntilDone(ctx, log, other, otherLn, nil) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
		idpSrv.Close()
		env.app.store.Close()
		other.store.Close()
		(&harness{t: t, logs: logs}).requireNoNationalIDInLog() // both SPs and the IdP
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	// The other SP registers as an admin would: its metadata fetched from it over HTTP and
	// uploaded through the development IdP's self-service page.
	registerAtDevIdP(t, othURL+"/saml/metadata", baseURL(idpLn)+"/idp/admin/")
	return &world{t: t, clock: clock, own: env.app, other: other, ownURL: env.spBase, othURL: othURL,
		idpURL: baseURL(idpLn), logs: logs}
}

// registerAtDevIdP fetches an SP's metadata and uploads it with the form of the development IdP's
// admin page, failing the test unless the IdP registers it.
func registerAtDevIdP(t *testing.T, metadataURL, adminURL string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) []byte {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d, %v", u, resp.StatusCode, err)
		}
		return body
	}
	md := get(metadataURL)
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindSubmatch(get(adminURL))
	if token == nil {
		t.Fatalf("no form token on %s", adminURL)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("token", string(token[1]))
	fw, _ := mw.CreateFormFile("file", "sp-metadata.xml")
	fw.Write(md)
	mw.Close()
	resp, err := c.Post(adminURL+"sps", mw.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "registered=") {
		t.Fatalf("uploading %s to the development IdP: HTTP %d\n%s", metadataURL, resp.StatusCode, body)
	}
}

// user is one browser.
type user struct {
	w *world
	c *http.Client
}

func (w *world) user() *user {
	jar, _ := cookiejar.New(nil)
	return &user{w: w, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type hop struct {
	url    string
	status int
	body   string
	loc    string
}

func (u *user) get(raw string) hop {
	u.w.t.Helper()
	resp, err := u.c.Get(raw)
	if err != nil {
		u.w.t.Fatalf("GET %s: %v", raw, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if loc != "" {
		if base, err := url.Parse(raw); err == nil {
			if l, err := base.Parse(loc); err == nil {
				loc = l.String()
			}
		}
	}
	return hop{url: raw, status: resp.StatusCode, body: string(b), loc: loc}
}

func (u *user) post(raw string, form url.Values) hop {
	u.w.t.Helper()
	resp, err := u.c.PostForm(raw, form)
	if err != nil {
		u.w.t.Fatalf("POST %s: %v", raw, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hop{url: raw, status: resp.StatusCode, body: string(b), loc: resp.Header.Get("Location")}
}

// follow GETs start and every redirect after it, returning all hops; the last is not a redirect.
func (u *user) follow(start string) []hop {
	u.w.t.Helper()
	var hops []hop
	for next := start; len(hops) < 30; {
		h := u.get(next)
		hops = append(hops, h)
		if h.status < 300 || h.status > 399 {
			return hops
		}
		next = h.loc
	}
	u.w.t.Fatalf("more than 30 redirects from %s", start)
	return nil
}

// login runs a login at the SP whose base is sp. It returns the language of the IdP's page, or
// "" when the IdP answered without showing it (single sign-on).
func (u *user) login(sp string, q url.Values, person, method string) (idpLang string) {
	u.w.t.Helper()
	hops := u.follow(sp + "/login?" + q.Encode())
	last := hops[len(hops)-1]
	if strings.HasPrefix(last.url, u.w.idpURL+"/idp/sso") && last.status == http.StatusOK {
		idpLang = first(reLang, last.body)
		v := url.Values{"token": {first(reToken, last.body)}, "person": {person}, "method": {method}}
		if method == "ips:OTP1PKI" {
			v.Set("password", "x")
			v.Set("otp", first(reOTP, last.body))
		}
		h := u.post(first(reAction, last.body), v)
		if h.status != http.StatusFound {
			u.w.t.Fatalf("IdP form: %d\n%s", h.status, h.body)
		}
		hops = u.follow(h.loc)
		last = hops[len(hops)-1]
	}
	if last.status != http.StatusOK || !strings.HasPrefix(last.url, sp) {
		u.w.t.Fatalf("login at %s ended at %s with %d:\n%s", sp, last.url, last.status, last.body)
	}
	return idpLang
}

// session returns /session at sp: nil when there is none.
func (u *user) session(sp string) map[string]any {
	u.w.t.Helper()
	h := u.get(sp + "/session")
	if h.status == http.StatusUnauthorized {
		return nil
	}
	var m map[string]any
	if h.status != http.StatusOK || json.Unmarshal([]byte(h.body), &m) != nil {
		u.w.t.Fatalf("GET %s/session: %d %s", sp, h.status, h.body)
	}
	return m
}

// requireSession asserts who is logged in at sp, at which level, with which method.
func (u *user) requireSession(sp string, nid string, level int, method string) map[string]any {
	u.w.t.Helper()
	m := u.session(sp)
	if m == nil {
		u.w.t.Fatalf("no session at %s", sp)
	}
	if m["national_id"] != nid || m["security_level"] != float64(level) || m["auth_method"] != method {
		u.w.t.Fatalf("session at %s: %v; want %s, level %d, %s", sp, m, nid, level, method)
	}
	return m
}

var (
	kari = persons[0].NationalID
	ola  = persons[1].NationalID
)

func q(profile string, kv ...string) url.Values {
	v := url.Values{"profile": {profile}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// Test 1: single sign-on from our service at level 3: logged in here, the other service needs no
// new login and sees the same level and method.
func TestVerification01SSOFromOwnServiceLevel3(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	if lang := u.login(w.ownURL, q("idporten"), kari, "minid"); lang == "" {
		t.Fatal("first login did not show the IdP page")
	}
	u.requireSession(w.ownURL, kari, 3, "Minid-PIN")
	if lang := u.login(w.othURL, q("idporten"), "", ""); lang != "" {
		t.Fatal("the other service's login showed the IdP page: no single sign-on")
	}
	u.requireSession(w.othURL, kari, 3, "Minid-PIN")
}

// Test 2: the same at level 4.
func TestVerification02SSOFromOwnServiceLevel4(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.ownURL, q("idporten-high"), ola, "bankid")
	u.requireSession(w.ownURL, ola, 4, "BankID")
	if lang := u.login(w.othURL, q("idporten-high"), "", ""); lang != "" {
		t.Fatal("no single sign-on to the other service")
	}
	u.requireSession(w.othURL, ola, 4, "BankID")
}

// Test 3: single sign-on to our service at level 3: logged in at the other service first.
func TestVerification03SSOToOwnServiceLevel3(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.othURL, q("idporten"), kari, "minid")
	if lang := u.login(w.ownURL, q("idporten"), "", ""); lang != "" {
		t.Fatal("our login showed the IdP page: no single sign-on")
	}
	u.requireSession(w.ownURL, kari, 3, "Minid-PIN")
}

// Test 4: the same at level 4.
func TestVerification04SSOToOwnServiceLevel4(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.othURL, q("idporten-high"), ola, "buypass")
	if lang := u.login(w.ownURL, q("idporten-high"), "", ""); lang != "" {
		t.Fatal("no single sign-on to our service")
	}
	u.requireSession(w.ownURL, ola, 4, "Buypass")
}

// Test 5: level upgrade: logged in at level 3, a service needing level 4 asks for it, and the
// login at level 4 succeeds.
func TestVerification05LevelUpgrade(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.ownURL, q("idporten"), kari, "minid")
	first := u.requireSession(w.ownURL, kari, 3, "Minid-PIN")
	if lang := u.login(w.ownURL, q("idporten-high"), kari, "bankid"); lang == "" {
		t.Fatal("a level-4 login on a level-3 session did not go to the IdP's login page")
	}
	second := u.requireSession(w.ownURL, kari, 4, "BankID")
	if first["session_index"] == "" || second["loa"] != "http://eidas.europa.eu/LoA/high" {
		t.Fatalf("upgraded session: %v", second)
	}
}

// logoutAt starts logout at sp and follows the whole single-logout chain.
func (u *user) logoutAt(sp string) []hop {
	u.w.t.Helper()
	hops := u.follow(sp + "/logout")
	last := hops[len(hops)-1]
	if last.status != http.StatusOK || !strings.HasPrefix(last.url, sp+"/saml/slo") {
		var chain []string
		for _, h := range hops {
			chain = append(chain, fmt.Sprintf("%d %s", h.status, strings.SplitN(h.url, "?", 2)[0]))
		}
		u.w.t.Fatalf("logout at %s did not end on its logged-out page:\n%s\n%s", sp, strings.Join(chain, "\n"), last.body)
	}
	return hops
}

func visited(hops []hop, prefix string) bool {
	for _, h := range hops {
		if strings.HasPrefix(h.url, prefix) {
			return true
		}
	}
	return false
}

// Test 6: single logout from our service logs the user out of the other service too.
func TestVerification06SLOFromOwnService(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.ownURL, q("idporten"), kari, "minid")
	u.login(w.othURL, q("idporten"), "", "")
	hops := u.logoutAt(w.ownURL)
	if !visited(hops, w.othURL+"/saml/slo?SAMLRequest=") {
		t.Error("the IdP never sent the other service a LogoutRequest")
	}
	if u.session(w.ownURL) != nil || u.session(w.othURL) != nil {
		t.Fatal("still logged in after single logout")
	}
	// The IdP session is gone too: a new login shows the IdP's page.
	if lang := u.login(w.othURL, q("idporten"), kari, "minid"); lang == "" {
		t.Fatal("IdP session survived single logout")
	}
}

// Test 7: single logout from the other service logs the user out of ours.
func TestVerification07SLOFromAnotherService(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.othURL, q("idporten-high"), ola, "bankid")
	u.login(w.ownURL, q("idporten-high"), "", "")
	u.requireSession(w.ownURL, ola, 4, "BankID")
	hops := u.logoutAt(w.othURL)
	if !visited(hops, w.ownURL+"/saml/slo?SAMLRequest=") {
		t.Error("the IdP never sent our service a LogoutRequest")
	}
	if u.session(w.ownURL) != nil {
		t.Fatal("our service kept its session after logout at the other service")
	}
}

// Test 8: after more than 30 minutes idle our service has logged the user out; activity keeps
// the session alive up to the absolute lifetime.
func TestVerification08Timeout(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.ownURL, q("idporten"), kari, "minid")
	for range 3 {
		w.clock.Advance(25 * time.Minute)
		u.requireSession(w.ownURL, kari, 3, "Minid-PIN")
	}
	w.clock.Advance(30*time.Minute + time.Second)
	if u.session(w.ownURL) != nil {
		t.Fatal("session alive after 30 minutes idle")
	}
	if h := u.get(w.ownURL + "/auth"); h.status != http.StatusUnauthorized {
		t.Fatalf("/auth after timeout: %d", h.status)
	}
	// Absolute lifetime: 120 minutes however active the user is.
	u.login(w.ownURL, q("idporten"), kari, "minid")
	for range 4 {
		w.clock.Advance(29 * time.Minute)
		u.requireSession(w.ownURL, kari, 3, "Minid-PIN")
	}
	w.clock.Advance(5 * time.Minute)
	if u.session(w.ownURL) != nil {
		t.Fatal("session alive after its 120-minute lifetime")
	}
}

// Test 9: ForceAuthn makes the user log in again despite single sign-on.
func TestVerification09ForceAuthn(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.othURL, q("idporten"), kari, "minid")
	if lang := u.login(w.ownURL, q("idporten", "force", "1"), kari, "minid"); lang == "" {
		t.Fatal("ForceAuthn did not bring the user to the IdP's login page")
	}
	u.requireSession(w.ownURL, kari, 3, "Minid-PIN")
}

// Test 10: a login with OnBehalfOf succeeds, and the value comes back.
func TestVerification10OnBehalfOf(t *testing.T) {
	w := newWorld(t)
	u := w.user()
	u.login(w.ownURL, q("idporten-obo"), kari, "minid")
	if m := u.requireSession(w.ownURL, kari, 3, "Minid-PIN"); m["on_behalf_of"] != "SERVICEOWNER1" {
		t.Fatalf("on_behalf_of = %v", m["on_behalf_of"])
	}
}

// Test 11: the IdP shows the language we ask for.
func TestVerification11Locale(t *testing.T) {
	for _, tc := range []struct{ locale, page, culture string }{
		{"en", "en", "en"}, {"nn", "nn", "nn"}, {"nb", "nb", "nb"},
	} {
		t.Run(tc.locale, func(t *testing.T) {
			w := newWorld(t)
			u := w.user()
			if lang := u.login(w.ownURL, q("idporten", "locale", tc.locale), kari, "minid"); lang != tc.page {
				t.Fatalf("IdP page language %q, want %q", lang, tc.page)
			}
			if m := u.requireSession(w.ownURL, kari, 3, "Minid-PIN"); m["culture"] != tc.culture {
				t.Fatalf("culture %v, want %s", m["culture"], tc.culture)
			}
		})
	}
}
