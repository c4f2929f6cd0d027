package main

import (
	"bufio"
	"fmt"
	"github.com/eidsp/eidsp/internal/redistest"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eidsp/eidsp/config"
)

// The multi-instance test runs two eidsp processes (the test binary re-executed as eidsp, see
// TestMain) on one real redis-server, behind a test load balancer that the test points at one
// instance or the other for each request, and a development IdP.

func requireBinary(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing; make test installs it", path)
		}
		t.Skipf("%s missing; make test installs it", path)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln := listenLoopback(t)
	defer ln.Close()
	return ln.Addr().String()
}

// startRedisProc starts a redis-server with append-only persistence (fsync on every write), so
// that a SIGKILL loses nothing acknowledged; it is killed when the test ends.
func startRedisProc(t *testing.T) *redistest.Server {
	t.Helper()
	bin := requireBinary(t, "/usr/bin/redis-server")
	r, err := redistest.Start(bin, t.TempDir(), "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// eidspProc is one `eidsp serve` process.
type eidspProc struct {
	addr string
	cmd  *exec.Cmd
}

// writeConfig writes cfg as dir/eidsp.yaml for `eidsp serve -config` and returns the path.
func writeConfig(t *testing.T, dir string, cfg *config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "eidsp.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startEidsp(t *testing.T, cfgFile, addr string) *eidspProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "-config", cfgFile)
	cmd.Env = append(os.Environ(), "EIDSP_TEST_RUN_MAIN=1", "EIDSP_LISTEN="+addr)
	logFile, err := os.Create(cfgFile + "." + strings.ReplaceAll(addr, ":", "_") + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &eidspProc{addr: addr, cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("eidsp %s log:\n%s", addr, b)
		}
	})
	for range 200 {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("eidsp on %s did not come up", addr)
	return nil
}

func TestMultiInstanceOnRedis(t *testing.T) {
	rds := startRedisProc(t)
	dir := t.TempDir()
	devKeysInto(t, dir)

	// The load balancer: one public origin, requests go to whichever instance `target` names.
	var target atomic.Value
	lbLn := listenLoopback(t)
	lb := &http.Server{Handler: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse("http://" + target.Load().(string))
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}}
	go lb.Serve(lbLn)
	t.Cleanup(func() { lb.Close() })
	base := fmt.Sprintf("http://localhost:%d", lbLn.Addr().(*net.TCPAddr).Port)

	// The development IdP, in this process.
	idpLn := listenLoopback(t)
	idp, metaFile := devIdPInto(t, dir, baseURL(idpLn))
	idpSrv := &http.Server{Handler: idp.Handler()}
	go idpSrv.Serve(idpLn)
	t.Cleanup(func() { idpSrv.Close() })

	// One configuration for both instances: same base URL, keys and Redis.
	cfg := config.Dev(dir, "", base, metaFile)
	cfg.Store = config.StoreConfig{Driver: "redis", Redis: config.RedisConfig{Addr: rds.Addr()}}
	cfg.Log.Format = "json"
	cfgFile := writeConfig(t, dir, cfg)
	a := startEidsp(t, cfgFile, freeAddr(t))
	b := startEidsp(t, cfgFile, freeAddr(t))
	spMeta, err := http.Get("http://" + a.addr + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	spMetaXML := readAll(t, spMeta)
	if err := idp.RegisterSP(spMetaXML); err != nil {
		t.Fatal(err)
	}

	w := &world{t: t, idpURL: baseURL(idpLn)}
	u := w.user()
	via := func(p *eidspProc) { target.Store(p.addr) }

	// The login starts on A; the artifact lands on B, which finds A's pending login in Redis.
	via(a)
	hops := u.follow(base + "/login?profile=buypass-mobile&return_to=%2Fcases")
	idpPage := hops[len(hops)-1]
	form := url.Values{"token": {first(reToken, idpPage.body)}, "person": {kari}, "method": {"ips:OTP1PKI"},
		"password": {"x"}, "otp": {first(reOTP, idpPage.body)}}
	h := u.post(first(reAction, idpPage.body), form)
	acs := h.loc
	if !strings.HasPrefix(acs, base+"/saml/acs?") {
		t.Fatalf("IdP sent the browser to %q", acs)
	}
	via(b)
	if h := u.get(acs); h.status != http.StatusSeeOther || h.loc != base+"/cases" {
		t.Fatalf("ACS on B: %d %s\n%s", h.status, h.loc, h.body)
	}
	// A sees the session B made.
	via(a)
	if m := u.session(base); m == nil || m["national_id"] != kari || m["instrument"] != "ips:OTP1PKI" {
		t.Fatalf("A does not see B's session: %v", m)
	}
	// A replay on A of what B accepted: refused (pending login and artifact are spent in Redis).
	if h := u.get(acs); h.status < 400 {
		t.Fatalf("replayed ACS on A: %d", h.status)
	}
	// The session survives a Redis crash (AOF, fsync always); /readyz reports the outage and
	// recovers without restarting eidsp.
	rds.Kill()
	if h := u.get("http://" + a.addr + "/readyz"); h.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: %d", h.status)
	}
	if err := rds.Restart(); err != nil {
		t.Fatal(err)
	}
	if h := u.get("http://" + a.addr + "/readyz"); h.status != http.StatusOK {
		t.Fatalf("/readyz after Redis came back: %d", h.status)
	}
	via(b)
	if m := u.session(base); m == nil || m["national_id"] != kari {
		t.Fatalf("session lost across the Redis restart: %v", m)
	}
	// Logout on B ends the session A sees.
	hops = u.follow(base + "/logout")
	if last := hops[len(hops)-1]; last.status != http.StatusOK {
		t.Fatalf("logout on B ended with %d at %s", last.status, last.url)
	}
	// A forgets the session when Redis announces B's logout (pub/sub, a few microseconds after
	// B answered), at the latest after session.cache_ttl (1s by default).
	via(a)
	ttl := cfg.Session.SessionCacheTTL()
	deadline := time.Now().Add(ttl + 2*time.Second)
	for m := u.session(base); m != nil; m = u.session(base) {
		if time.Now().After(deadline) {
			t.Fatalf("A still sees a session %s after logout on B (cache_ttl %s): %v", ttl+2*time.Second, ttl, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}
