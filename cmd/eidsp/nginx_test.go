package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The forward-auth test runs deploy/nginx/eidsp-forward-auth.conf, as the README shows it, in
// Debian's nginx started by the test, in front of a test portal that records the identity
// headers it receives, with the SP and the development IdP behind it: the SP's base URL is
// nginx's origin, so the browser reaches the SP only through nginx.

const nginxBinary = "/usr/sbin/nginx"

// publicListener is the SP's own listener, but names nginx's address, so that newDevEnv makes
// nginx's origin the SP's base URL (ACS URL, redirects, cookies).
type publicListener struct {
	net.Listener
	public net.Addr
}

func (l publicListener) Addr() net.Addr { return l.public }

// portal is the test upstream: it records every request's identity headers.
type portal struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []http.Header
}

func newPortal(t *testing.T) *portal {
	p := &portal{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.got = append(p.got, r.Header.Clone())
		p.mu.Unlock()
		fmt.Fprintf(w, "portal: %s\n", r.URL.RequestURI())
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// last returns the headers of the portal's latest request.
func (p *portal) last(t *testing.T) http.Header {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got) == 0 {
		t.Fatal("the portal received no request")
	}
	return p.got[len(p.got)-1]
}

func (p *portal) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

// nginxConfig is the deploy file with its placeholders filled in, inside an http block that keeps
// nginx's files in dir.
func nginxConfig(t *testing.T, dir, listen, eidsp, upstream string) string {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nginx", "eidsp-forward-auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	site := strings.NewReplacer("__LISTEN__", listen, "__SERVER_NAME__", "localhost",
		"__EIDSP__", eidsp, "__PORTAL__", upstream).Replace(string(tmpl))
	if strings.Contains(site, "__") {
		t.Fatalf("a placeholder is left in the nginx configuration:\n%s", site)
	}
	if err := os.WriteFile(filepath.Join(dir, "eidsp.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the files in dir
	}
	return fmt.Sprintf(`%s
worker_processes 1;
events { worker_connections 256; }
http {
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    access_log %[2]s/access.log;
    include %[2]s/eidsp.conf;
}
`, user, dir)
}

// startNginx runs nginx in the foreground until the test ends and waits until it accepts.
func startNginx(t *testing.T, dir, conf, addr string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-c", filepath.Join(dir, "nginx.conf"),
		"-g", fmt.Sprintf("daemon off; pid %s; error_log stderr warn;", filepath.Join(dir, "nginx.pid"))}
	if out, err := exec.Command(nginxBinary, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
	startDaemon(t, "nginx", exec.Command(nginxBinary, args...), addr, func(output string) {
		if t.Failed() {
			access, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("nginx stderr:\n%s\nnginx access log:\n%s", output, access)
		} else if strings.Contains(output, "[warn]") || strings.Contains(output, "[error]") || strings.Contains(output, "[crit]") {
			t.Errorf("nginx complained:\n%s", output)
		}
	})
}

// startDaemon starts cmd, waits until it accepts on addr and stops it with SIGINT when the test
// ends; then after gets what it wrote to stdout and stderr.
func startDaemon(t *testing.T, name string, cmd *exec.Cmd, addr string, after func(output string)) {
	t.Helper()
	var output logBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		after(output.String())
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", name, err, output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept on %s: %v\n%s", name, addr, err, output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newNginxHarness is newHarness with nginx in front of the SP and a portal behind nginx.
func newNginxHarness(t *testing.T) (*harness, *portal) {
	return newProxyHarness(t, nginxBinary, func(_ *harness, dir, addr, eidsp, portal string) {
		startNginx(t, dir, nginxConfig(t, dir, addr, eidsp, portal), addr)
	})
}

// newProxyHarness is newHarness with a proxy (binary) in front of the SP, its origin the SP's
// base URL, and a portal behind it: start runs the proxy on addr, in front of eidsp and portal.
func newProxyHarness(t *testing.T, binary string, start func(h *harness, dir, addr, eidsp, portal string)) (*harness, *portal) {
	t.Helper()
	requireBinary(t, binary)
	dir := t.TempDir()
	devKeysInto(t, dir)
	pt := newPortal(t)
	proxyAddr := freeAddr(t)
	public, err := net.ResolveTCPAddr("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t)
	h := newHarnessOn(t, dir, publicListener{Listener: ln, public: public})
	start(h, dir, proxyAddr, ln.Addr().String(), pt.srv.Listener.Addr().String())
	return h, pt
}

// requireToLogin asserts that p sends the browser to eidsp's login with profile and returnTo,
// and returns that URL.
func requireToLogin(t *testing.T, p *page, profile, returnTo string) string {
	t.Helper()
	if p.status != http.StatusFound {
		t.Fatalf("%s: status %d, want 302 to the login; body:\n%s", p.url, p.status, p.body)
	}
	loc, err := url.Parse(p.location())
	if err != nil || loc.Path != "/login" || loc.Host != "" {
		t.Fatalf("%s: Location %q, want /login on the same origin", p.url, p.location())
	}
	if q := loc.Query(); q.Get("profile") != profile || q.Get("return_to") != returnTo {
		t.Fatalf("%s: Location %q: profile %q return_to %q, want %q and %q", p.url, loc, q.Get("profile"), q.Get("return_to"), profile, returnTo)
	}
	return loc.String()
}

// getSpoofed fetches path through nginx with identity headers a client must not be able to set.
func (b *browser) getSpoofed(path string) *page {
	b.h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.sp+path, nil)
	if err != nil {
		b.h.t.Fatal(err)
	}
	for k, v := range map[string][]string{
		"X-Eid-National-Id": {"01010112345", "02020212345"},
		"x-eid-national-id": {"03030312345"},
		"X-EID-LEVEL":       {"4"},
		"X-Eid-Idp":         {"evil"},
		"X_Eid_Instrument":  {"ips:BPSC"},
		"X-Eid-Auth-Method": {"BankID"},
		"X-Eid-Min-Level":   {"3"},
		"X-Original-URI":    {"//evil.example/"},
	} {
		req.Header[k] = v
	}
	return b.do(req)
}

func TestNginxForwardAuth(t *testing.T) {
	h, pt := newNginxHarness(t)
	checkForwardAuth(t, h, pt, "nginx", nil)
}

// checkForwardAuth is what a proxy in front of the portal must do (nginx_test.go, caddy_test.go),
// through a browser that sends identity headers of its own on every request; extra are the
// identity headers the portal sees besides the five.
func checkForwardAuth(t *testing.T, h *harness, pt *portal, proxy string, extra map[string]string) {
	t.Helper()
	kari := persons[0].NationalID
	b := h.browser()
	identity := func(level, method string) map[string]string {
		want := map[string]string{"X-Eid-National-Id": kari, "X-Eid-Level": level, "X-Eid-Instrument": "unknown",
			"X-Eid-Auth-Method": method, "X-Eid-Idp": "idporten"}
		for k, v := range extra {
			want[k] = v
		}
		return want
	}

	// Without a session, nothing reaches the portal, however the client dresses the request.
	login := requireToLogin(t, b.getSpoofed("/portal/cases"), "idporten", "/portal/cases")
	if n := pt.count(); n != 0 {
		t.Fatalf("the portal received %d requests without a session", n)
	}
	requireToLogin(t, b.get("/portal/cases?id=7&tab=a%20b"), "idporten", "/portal/cases?id=7&tab=a%20b")

	// Log in through the proxy: /login, the development IdP, the ACS, back to the portal.
	b.finish(b.choose(b.atIdP(b.startLoginAt(login)), kari, "minid"), "/portal/cases")
	p := b.getSpoofed("/portal/cases")
	if p.status != http.StatusOK || p.body != "portal: /portal/cases\n" {
		t.Fatalf("GET /portal/cases after login: %d\n%s", p.status, p.body)
	}
	requireIdentity(t, pt.last(t), identity("3", "Minid-PIN"))

	// eidsp's own pages are on the same origin and see the same session.
	if st, m := b.session(); st != http.StatusOK || m["national_id"] != kari {
		t.Errorf("GET /session through %s: %d %v", proxy, st, m)
	}

	// The level-4 location refuses the level-3 session and sends it to the level-4 login,
	// whatever minimum the client claims; after that login it is let in.
	before := pt.count()
	login = requireToLogin(t, b.getSpoofed("/signing/contract?id=1"), "idporten-high", "/signing/contract?id=1")
	if pt.count() != before {
		t.Fatal("the level-4 location let a level-3 session through")
	}
	b.finish(b.choose(b.atIdP(b.startLoginAt(login)), kari, "bankid"), "/signing/contract?id=1")
	p = b.getSpoofed("/signing/contract?id=1")
	if p.status != http.StatusOK {
		t.Fatalf("GET /signing/contract after the level-4 login: %d\n%s", p.status, p.body)
	}
	requireIdentity(t, pt.last(t), identity("4", "BankID"))
	h.requireNoNationalIDInLog()
}

// startLoginAt follows a login URL nginx gave (relative to the SP's origin) to the IdP.
func (b *browser) startLoginAt(login string) string {
	b.h.t.Helper()
	u, err := url.Parse(login)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.startLogin(u.Query())
}

// requireIdentity asserts that the portal saw exactly these identity headers, once each, and no
// other X-Eid-* header in any spelling.
func requireIdentity(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	for k, vs := range got {
		norm := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if !strings.HasPrefix(norm, "x-eid-") {
			continue
		}
		if w, ok := want[k]; !ok || len(vs) != 1 || vs[0] != w {
			t.Errorf("the portal saw %s: %q", k, vs)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("the portal did not see %s", k)
		}
	}
}

// TestReverseProxyModeLogin: the same portal, proxied by eidsp itself; the browser logs in
// through the development IdP and reaches the portal with the identity headers only eidsp set.
func TestReverseProxyModeLogin(t *testing.T) {
	pt := newPortal(t)
	upstream, err := url.Parse(pt.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(env *devEnv) {
		env.app.server.Opt.Upstream, env.app.server.Opt.DefaultProfile = upstream, "idporten"
	})
	kari := persons[0].NationalID
	b := h.browser()
	login := requireToLogin(t, b.getSpoofed("/portal/cases?id=7"), "idporten", "/portal/cases?id=7")
	if n := pt.count(); n != 0 {
		t.Fatalf("the portal received %d requests without a session", n)
	}
	b.finish(b.choose(b.atIdP(b.startLoginAt(login)), kari, "minid"), "/portal/cases?id=7")
	p := b.getSpoofed("/portal/cases?id=7")
	if p.status != http.StatusOK || p.body != "portal: /portal/cases?id=7\n" {
		t.Fatalf("GET /portal/cases after login: %d\n%s", p.status, p.body)
	}
	requireIdentity(t, pt.last(t), map[string]string{
		"X-Eid-National-Id": kari, "X-Eid-Level": "3", "X-Eid-Instrument": "unknown",
		"X-Eid-Auth-Method": "Minid-PIN", "X-Eid-Idp": "idporten",
	})
	if c := pt.last(t).Get("Cookie"); strings.Contains(c, h.env.cfg.Session.CookieName+"=") {
		t.Errorf("the portal received eidsp's session cookie: %q", c)
	}
	h.requireNoNationalIDInLog()
}
