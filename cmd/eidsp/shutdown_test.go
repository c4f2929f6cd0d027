package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/handlers"
)

// TestShutdownFinishesInFlightLogin: SIGTERM (the serve context ending) while the SP waits for
// the IdP's ArtifactResponse. The listener closes at once — new connections are refused — but
// the login in flight completes: 303, a session cookie, the session in the store; and only then
// does serveUntilDone return, with nil.
func TestShutdownFinishesInFlightLogin(t *testing.T) {
	dir := t.TempDir()
	devKeysInto(t, dir)
	spLn := listenLoopback(t)
	idpLn := listenLoopback(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env, err := newDevEnv(context.Background(), dir, spLn, idpLn, log, time.Now)
	if err != nil {
		spLn.Close()
		idpLn.Close()
		t.Fatalf("newDevEnv: %v", err)
	}

	// The IdP's ArtifactResolutionService holds every answer until the test lets it go.
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	idpHandler := env.idpHandler
	idpSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/idp/ars" {
			select {
			case arrived <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		idpHandler.ServeHTTP(w, r)
	})}
	go func() { _ = idpSrv.Serve(idpLn) }()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveUntilDone(ctx, log, env.app, spLn, nil) }()
	served := false
	t.Cleanup(func() {
		cancel()
		letGo()
		if !served {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("serveUntilDone did not return")
			}
		}
		idpSrv.Close()
		env.app.store.Close()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})

	h := &harness{t: t, env: env, sp: env.spBase, idp: baseURL(idpLn), logs: logs, idpSrv: idpSrv}
	b := h.browser()
	kari := persons[0].NationalID
	acs := b.idpLogin(url.Values{"profile": {"idporten"}}, kari, "minid")

	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := b.c.Get(acs)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		answered <- answer{resp, err}
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the SP never asked the IdP to resolve the artifact")
	}

	cancel() // SIGTERM

	// The listener closes: a new connection is refused, not queued. (One that raced the close
	// into the accept queue is reset; the next is refused.)
	addr := spLn.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if conn != nil {
			conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after shutdown began a new connection is still not refused (last: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if resp, err := fresh.Get(env.spBase + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a new request during shutdown was served: %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		served = true
		t.Fatalf("serveUntilDone returned (%v) while a login was in flight", err)
	case a := <-answered:
		t.Fatalf("the ACS request ended before the IdP answered: %+v", a)
	default:
	}

	letGo()
	var a answer
	select {
	case a = <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight ACS request never completed")
	}
	if a.err != nil {
		t.Fatalf("in-flight ACS request: %v", a.err)
	}
	if a.resp.StatusCode != http.StatusSeeOther || a.resp.Header.Get("Location") != "/" {
		t.Fatalf("in-flight ACS request: %d %q, want 303 to /", a.resp.StatusCode, a.resp.Header.Get("Location"))
	}
	var sid string
	for _, c := range a.resp.Cookies() {
		if c.Name == env.cfg.Session.CookieName {
			sid = c.Value
		}
	}
	if sid == "" {
		t.Fatal("the login finished during shutdown set no session cookie")
	}
	sess, err := env.app.store.GetSession(context.Background(), sid)
	if err != nil || sess.Identity.NationalID != kari {
		t.Fatalf("session of the login finished during shutdown: %+v, %v", sess, err)
	}

	select {
	case err := <-done:
		served = true
		if err != nil {
			t.Errorf("serveUntilDone: %v, want nil after a graceful shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serveUntilDone did not return after the last request finished")
	}
	h.requireNoNationalIDInLog()
}

// TestServeMetricsListener: with metrics_listen, `eidsp serve` answers GET /metrics there and
// only there (the public listener says 404), the metrics listener answers nothing else, and
// both close at shutdown.
func TestServeMetricsListener(t *testing.T) {
	dir := t.TempDir()
	devKeysInto(t, dir)
	_, metaFile := devIdPInto(t, dir, "http://127.0.0.1:1")
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	cfg := config.Dev(dir, "", "http://"+addr, metaFile)
	cfg.MetricsListen = metricsAddr
	p := startEidsp(t, writeConfig(t, dir, cfg), addr)
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && strings.HasSuffix(url, "/metrics") && !strings.Contains(string(body), "eidsp_certificate_expiry_seconds") {
			t.Errorf("GET %s: no eidsp metrics in\n%.500s", url, body)
		}
		return resp.StatusCode
	}
	if got := status("http://" + metricsAddr + "/metrics"); got != http.StatusOK {
		t.Errorf("GET /metrics on metrics_listen: %d, want 200", got)
	}
	if got := status("http://" + addr + "/metrics"); got != http.StatusNotFound {
		t.Errorf("GET /metrics on listen: %d, want 404", got)
	}
	for _, path := range []string{"/healthz", "/login", "/"} {
		if got := status("http://" + metricsAddr + path); got != http.StatusNotFound {
			t.Errorf("GET %s on metrics_listen: %d, want 404", path, got)
		}
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("eidsp serve after SIGINT: %v", err)
	}
	for _, a := range []string{addr, metricsAddr} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after shutdown", a)
		}
	}
}

// metrics_listen without metrics is refused before anything is served, and both listeners
// are closed, not left open until the process exits.
func TestServeMetricsListenerWithoutMetrics(t *testing.T) {
	ln := listenLoopback(t)
	metricsLn := listenLoopback(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := serveUntilDone(context.Background(), log, &app{server: &handlers.Server{}}, ln, metricsLn)
	if err == nil || !strings.Contains(err.Error(), "no metrics") {
		t.Errorf("serveUntilDone with metrics_listen and no metrics: %v", err)
	}
	for _, l := range []net.Listener{ln, metricsLn} {
		if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts", l.Addr())
		}
	}
}
