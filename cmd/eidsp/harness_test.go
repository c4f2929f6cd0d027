package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/saml"
)

// The end-to-end tests run the SP and the development IdP over loopback, as `eidsp dev` does,
// and drive them with a browser-like client that stops at every redirect.

var (
	keysOnce sync.Once
	keysDir  string
	keysErr  error
)

func TestMain(m *testing.M) {
	// The test binary doubles as the eidsp binary, so that multi-instance tests run real,
	// separate processes without building anything.
	if os.Getenv("EIDSP_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if keysDir != "" {
		os.RemoveAll(keysDir)
	}
	os.Exit(code)
}

// devKeysInto copies one set of development keys, generated once per run, into dir: RSA key
// generation under the race detector is too slow to repeat for every case.
func devKeysInto(t *testing.T, dir string) {
	t.Helper()
	keysOnce.Do(func() {
		keysDir, keysErr = os.MkdirTemp("", "eidsp-e2e-keys")
		if keysErr != nil {
			return
		}
		now := time.Now()
		if _, keysErr = certs.EnsureDevKeyPair(keysDir, "sp", "eidsp development SP", now); keysErr != nil {
			return
		}
		_, keysErr = certs.EnsureDevKeyPair(keysDir, "devidp", "eidsp development IdP", now)
	})
	if keysErr != nil {
		t.Fatalf("development keys: %v", keysErr)
	}
	for _, f := range []string{"sp.crt", "sp.key", "devidp.crt", "devidp.key"} {
		b, err := os.ReadFile(filepath.Join(keysDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// listenLoopback is a listener on a free loopback port.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// devIdPInto builds a development IdP at baseURL with the keys devKeysInto put in dir, and
// writes its metadata to dir/devidp-metadata.xml, the file the returned path names.
func devIdPInto(t *testing.T, dir, baseURL string) (*devidp.IdP, string) {
	t.Helper()
	kp, err := certs.LoadKeyPair(filepath.Join(dir, "devidp.crt"), filepath.Join(dir, "devidp.key"))
	if err != nil {
		t.Fatal(err)
	}
	idp, err := devidp.New(devidp.Config{BaseURL: baseURL, Signer: saml.Signer{Key: kp.Key, Cert: kp.Cert},
		InstrumentNamespace: config.DefaultInstrumentNamespace, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	metaFile := filepath.Join(dir, "devidp-metadata.xml")
	if err := os.WriteFile(metaFile, meta, 0o600); err != nil {
		t.Fatal(err)
	}
	return idp, metaFile
}

// logBuffer collects the JSON log lines of both servers; handlers write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// linesFrom returns the log records written after offset off.
func (l *logBuffer) linesFrom(t *testing.T, off int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(l.String()[off:], "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// harness is one SP and one development IdP, each on its own loopback listener.
type harness struct {
	t      *testing.T
	env    *devEnv
	sp     string // SP base URL
	idp    string // IdP base URL
	logs   *logBuffer
	idpSrv *http.Server
}

// newHarness wires a development environment; setup may adjust the wiring before anything is
// served.
func newHarness(t *testing.T, setup ...func(*devEnv)) *harness {
	t.Helper()
	dir := t.TempDir()
	devKeysInto(t, dir)
	spLn := listenLoopback(t)
	return newHarnessOn(t, dir, spLn, setup...)
}

// newHarnessOn is newHarness with the data directory (holding the development keys) and the
// SP's listener given, for a harness behind a proxy.
func newHarnessOn(t *testing.T, dir string, spLn net.Listener, setup ...func(*devEnv)) *harness {
	t.Helper()
	idpLn := listenLoopback(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	env, err := newDevEnv(ctx, dir, spLn, idpLn, log, time.Now)
	if err != nil {
		cancel()
		spLn.Close()
		idpLn.Close()
		t.Fatalf("newDevEnv: %v", err)
	}
	for _, f := range setup {
		f(env)
	}
	idpSrv := &http.Server{Handler: env.idpHandler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	done := make(chan error, 1)
	go func() { done <- serveUntilDone(ctx, log, env.app, spLn, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveUntilDone: %v", err)
		}
		idpSrv.Close()
		env.app.store.Close()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return &harness{t: t, env: env, sp: env.spBase, idp: baseURL(idpLn), logs: logs, idpSrv: idpSrv}
}

// browser is a cookie-keeping client that follows no redirect by itself.
type browser struct {
	h *harness
	c *http.Client
}

func (h *harness) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &browser{h: h, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one response, read completely.
type page struct {
	url     string
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie
}

func (p *page) location() string { return p.header.Get("Location") }

func (p *page) cookie(name string) *http.Cookie {
	for _, c := range p.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *browser) do(req *http.Request) *page {
	b.h.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.h.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return &page{url: req.URL.String(), status: resp.StatusCode, header: resp.Header, body: string(body), cookies: resp.Cookies()}
}

// get fetches u; a path is taken relative to the SP.
func (b *browser) get(u string) *page {
	b.h.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.h.sp + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.h.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.h.sp + u
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// startLogin GETs /login with q and returns the IdP URL it redirects to.
func (b *browser) startLogin(q url.Values) string {
	b.h.t.Helper()
	p := b.get("/login?" + q.Encode())
	if p.status != http.StatusFound {
		b.h.t.Fatalf("GET /login?%s: status %d, want 302; body:\n%s", q.Encode(), p.status, p.body)
	}
	loc := p.location()
	if !strings.HasPrefix(loc, b.h.idp+"/idp/sso?") {
		b.h.t.Fatalf("GET /login: Location %q is not the IdP's SingleSignOnService", loc)
	}
	return loc
}

// idpForm is the development IdP's login page as a browser sees it.
type idpForm struct {
	lang, action, token, otp string
	persons, methods         []string
}

var (
	reLang   = regexp.MustCompile(`<html lang="([^"]*)"`)
	reAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	reToken  = regexp.MustCompile(`name="token" value="([^"]*)"`)
	rePerson = regexp.MustCompile(`name="person" id="[^"]*" value="([^"]*)"`)
	reMethod = regexp.MustCompile(`name="method" value="([^"]*)"`)
	reOTP    = regexp.MustCompile(`id="otp-code">([^<]*)<`)
	reRetry  = regexp.MustCompile(`<a class="button primary" href="([^"]*)"`)
)

func first(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func all(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// atIdP opens the IdP page the SP redirected to and reads its form.
func (b *browser) atIdP(loc string) idpForm {
	b.h.t.Helper()
	p := b.get(loc)
	if p.status != http.StatusOK {
		b.h.t.Fatalf("IdP page: status %d; body:\n%s", p.status, p.body)
	}
	f := idpForm{
		lang: first(reLang, p.body), action: first(reAction, p.body), token: first(reToken, p.body),
		otp: first(reOTP, p.body), persons: all(rePerson, p.body), methods: all(reMethod, p.body),
	}
	if f.action == "" || f.token == "" || len(f.persons) == 0 {
		b.h.t.Fatalf("IdP page has no usable login form:\n%s", p.body)
	}
	return f
}

// submit posts the IdP form and returns the ACS URL the IdP redirects to.
func (b *browser) submit(f idpForm, v url.Values) string {
	b.h.t.Helper()
	v.Set("token", f.token)
	p := b.post(f.action, v)
	if p.status != http.StatusFound {
		b.h.t.Fatalf("IdP form: status %d, want 302; body:\n%s", p.status, p.body)
	}
	loc := p.location()
	if !strings.HasPrefix(loc, b.h.sp+"/saml/acs?") {
		b.h.t.Fatalf("IdP redirected to %q, not the SP's ACS", loc)
	}
	return loc
}

// choose logs in as person with method (filling PasswordID's password and code when needed).
func (b *browser) choose(f idpForm, person, method string) string {
	b.h.t.Helper()
	v := url.Values{"person": {person}, "method": {method}}
	if method == "ips:OTP1PKI" {
		if f.otp == "" {
			b.h.t.Fatal("PasswordID offered without a one-time code on the page")
		}
		v.Set("password", "secret")
		v.Set("otp", f.otp)
	}
	return b.submit(f, v)
}

// idpLogin runs /login and the IdP page and returns the ACS URL with the artifact.
func (b *browser) idpLogin(q url.Values, person, method string) string {
	b.h.t.Helper()
	return b.choose(b.atIdP(b.startLogin(q)), person, method)
}

// session returns GET /session's status and JSON.
func (b *browser) session() (int, map[string]any) {
	b.h.t.Helper()
	p := b.get("/session")
	var m map[string]any
	if err := json.Unmarshal([]byte(p.body), &m); err != nil {
		b.h.t.Fatalf("GET /session: not JSON (%d): %q", p.status, p.body)
	}
	return p.status, m
}

func (b *browser) requireNoSession() {
	b.h.t.Helper()
	if st, m := b.session(); st != http.StatusUnauthorized {
		b.h.t.Errorf("GET /session: status %d (%v), want 401", st, m)
	}
}

// persons are the development IdP's test persons.
var persons = devidp.DefaultPersons()

// requireNoNationalIDInLog asserts that no test person's number, and no raw SAML XML or
// encoded SAML message, was logged.
func (h *harness) requireNoNationalIDInLog() {
	h.t.Helper()
	logs := h.logs.String()
	for _, p := range persons {
		if strings.Contains(logs, p.NationalID) {
			h.t.Errorf("the log holds the national identity number of %s", p.Name)
		}
	}
	for _, raw := range []string{"<saml", "<samlp", "<soap", "SAMLResponse=", "SAMLRequest=", "SAMLart="} {
		if strings.Contains(logs, raw) {
			h.t.Errorf("the log holds raw SAML (%s)", raw)
		}
	}
}

// failures returns the "request failed" records logged after off.
func (h *harness) failures(off int) []map[string]any {
	var out []map[string]any
	for _, m := range h.logs.linesFrom(h.t, off) {
		if m["msg"] == "request failed" {
			out = append(out, m)
		}
	}
	return out
}

// requireErrorPage asserts what every failed browser request shows and logs: the status, the
// Bokmål error page with a way to start again, no session cookie, and exactly one log line with
// the reason.
func (h *harness) requireErrorPage(p *page, logOff, status int, key, reason string) {
	h.t.Helper()
	if p.status != status {
		h.t.Errorf("%s: status %d, want %d", p.url, p.status, status)
	}
	if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		h.t.Errorf("%s: Content-Type %q, want an HTML page", p.url, ct)
	}
	if !strings.Contains(p.body, `<html lang="nb"`) {
		h.t.Errorf("%s: not a Bokmål page:\n%s", p.url, p.body)
	}
	if first(reRetry, p.body) == "" {
		h.t.Errorf("%s: error page has no retry link:\n%s", p.url, p.body)
	}
	if strings.Contains(p.body, "<samlp:") || strings.Contains(p.body, "<saml:") {
		h.t.Errorf("%s: error page shows SAML XML", p.url)
	}
	if c := p.cookie(h.env.cfg.Session.CookieName); c != nil && c.Value != "" {
		h.t.Errorf("%s: set a session cookie", p.url)
	}
	fails := h.failures(logOff)
	if len(fails) != 1 {
		h.t.Errorf("%s: %d 'request failed' log lines, want 1: %v", p.url, len(fails), fails)
		return
	}
	f := fails[0]
	if f["error_key"] != key || f["reason"] != reason {
		h.t.Errorf("%s: logged error_key=%v reason=%v, want %s/%s", p.url, f["error_key"], f["reason"], key, reason)
	}
	if st, _ := f["status"].(float64); int(st) != status {
		h.t.Errorf("%s: logged status %v, want %d", p.url, f["status"], status)
	}
	for _, k := range []string{"ref", "err"} {
		if s, _ := f[k].(string); s == "" {
			h.t.Errorf("%s: log line has no %s: %v", p.url, k, f)
		}
	}
	if ref := p.header.Get("X-Request-Id"); ref == "" || ref != f["ref"] {
		h.t.Errorf("%s: X-Request-Id %q does not match the logged ref %v", p.url, ref, f["ref"])
	}
	if ref, _ := f["ref"].(string); ref != "" && !strings.Contains(p.body, ref) {
		h.t.Errorf("%s: error page does not show the reference %s", p.url, ref)
	}
}
