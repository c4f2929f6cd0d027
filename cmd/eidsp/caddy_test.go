package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Caddy test runs deploy/caddy/eidsp-forward-auth.caddy, as the README shows it, in
// Debian's Caddy started by the test, like the nginx test: the same portal, SP and development
// IdP, with Caddy's origin as the SP's base URL.

const caddyBinary = "/usr/bin/caddy"

// caddyConfig is a Caddyfile that imports the deploy file with its placeholders filled in,
// with Caddy's admin endpoint, automatic HTTPS and logs kept out of the way.
func caddyConfig(t *testing.T, dir, site, eidsp, upstream string) string {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "caddy", "eidsp-forward-auth.caddy"))
	if err != nil {
		t.Fatal(err)
	}
	block := strings.NewReplacer("__SITE__", site, "__EIDSP__", eidsp, "__PORTAL__", upstream).Replace(string(tmpl))
	if strings.Contains(block, "__") {
		t.Fatalf("a placeholder is left in the Caddy configuration:\n%s", block)
	}
	if err := os.WriteFile(filepath.Join(dir, "eidsp.caddy"), []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/caddy-data
	log {
		output stderr
		level WARN
	}
}
import %[1]s/eidsp.caddy
`, dir)
}

// startCaddy runs caddy until the test ends and waits until it accepts on addr.
func startCaddy(t *testing.T, dir, conf, addr string) {
	t.Helper()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	args := []string{"--config", path, "--adapter", "caddyfile"}
	check := exec.Command(caddyBinary, append([]string{"validate"}, args...)...)
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s\n%s", err, out, conf)
	}
	cmd := exec.Command(caddyBinary, append([]string{"run"}, args...)...)
	cmd.Env = env
	startDaemon(t, "caddy", cmd, addr, func(output string) {
		if t.Failed() {
			t.Logf("caddy output:\n%s", output)
		}
	})
}

// The portal sees X-Eid-Subject empty: /auth always answers it (see forwardAuth), and Caddy
// 2.6 would otherwise hand on its literal placeholder.
func TestCaddyForwardAuth(t *testing.T) {
	h, pt := newProxyHarness(t, caddyBinary, func(h *harness, dir, addr, eidsp, portal string) {
		startCaddy(t, dir, caddyConfig(t, dir, h.sp, eidsp, portal), addr)
	})
	checkForwardAuth(t, h, pt, "Caddy", map[string]string{"X-Eid-Subject": ""})
}
