package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/identity"
)

// The interoperability test runs the SP against an OpenID provider we did not write: panva's
// certified oidc-provider (Node.js), configured like ID-porten by testdata/oidc-provider/server.mjs.
// It checks what the development provider (devidp/oidcop, written with the SP) cannot: that the
// SP's reading of the specifications matches an independent, certified implementation's.

// opScript is the provider, relative to this package; `npm ci --prefix testdata/oidc-provider`
// installs what it imports.
var (
	opScript  = filepath.Join("..", "..", "testdata", "oidc-provider", "server.mjs")
	opPackage = filepath.Join("..", "..", "testdata", "oidc-provider", "node_modules", "oidc-provider", "package.json")
)

// requirePart skips, or fails under CI=true, when a part of the interoperability test is missing.
func requirePart(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v (make test installs it)", what, err)
	}
	t.Skipf("%s missing (%v); make test installs it", what, err)
}

// nodeOP is one running server.mjs.
type nodeOP struct {
	issuer string
}

// startNodeOP starts server.mjs for the SP at spBase and waits for the issuer line it prints.
// The process ends when its stdin closes: at cleanup, or when the test binary dies.
func startNodeOP(t *testing.T, node, spBase, secret, pid string) *nodeOP {
	t.Helper()
	cmd := exec.Command(node, opScript)
	cmd.Env = append(os.Environ(), "EIDSP_OP_SP="+spBase, "EIDSP_OP_SECRET="+secret, "EIDSP_OP_PID="+pid)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", node, opScript, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("oidc-provider stderr:\n%s", stderr.String())
		}
	})
	issuer := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "issuer="); ok {
				issuer <- v
			}
		}
		close(issuer)
	}()
	select {
	case iss, ok := <-issuer:
		if !ok {
			t.Fatalf("oidc-provider exited before listening:\n%s", stderr.String())
		}
		return &nodeOP{issuer: iss}
	case <-time.After(10 * time.Second):
		t.Fatalf("oidc-provider did not listen within 10 s:\n%s", stderr.String())
	}
	return nil
}

// logoutSids are the sids of the back-channel logout tokens the provider has sent.
func (op *nodeOP) logoutSids(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(op.issuer + "/backchannel-logout")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Sids []string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Sids
}

// opLogin runs /login?q through oidc-provider (authorization endpoint, the script's interaction
// that logs the test person in, the provider's resumption) and returns the callback URL it
// sends the browser to and how many interactions (login or consent) the provider asked for: none
// when its SSO session answered. It checks the authorization request on the way: code flow,
// S256, state, nonce and the acr_values the profile asks for.
func (b *browser) opLogin(op *nodeOP, q url.Values, wantACR string) (string, int) {
	t := b.h.t
	t.Helper()
	p := b.get("/login?" + q.Encode())
	if p.status != http.StatusFound || !strings.HasPrefix(p.location(), op.issuer+"/auth?") {
		t.Fatalf("GET /login?%s: %d to %q, want the provider's authorization endpoint", q.Encode(), p.status, p.location())
	}
	auth, _ := url.Parse(p.location())
	aq := auth.Query()
	for k, want := range map[string]string{"response_type": "code", "code_challenge_method": "S256",
		"acr_values": wantACR, "redirect_uri": b.h.sp + "/oidc/callback"} {
		if got := aq.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge", "client_id"} {
		if aq.Get(k) == "" {
			t.Errorf("authorization request without %s", k)
		}
	}
	cur, interactions := auth, 0
	for range 8 {
		p = b.get(cur.String())
		if p.status != http.StatusFound && p.status != http.StatusSeeOther {
			t.Fatalf("provider %s: %d\n%s", cur.Path, p.status, p.body)
		}
		next, err := cur.Parse(p.location())
		if err != nil {
			t.Fatalf("provider %s: Location %q: %v", cur.Path, p.location(), err)
		}
		if strings.HasPrefix(next.String(), b.h.sp+"/oidc/callback?") {
			cq := next.Query()
			// RFC 9207 §2: the issuer identifier in the authorization response.
			if cq.Get("iss") != op.issuer || cq.Get("state") != aq.Get("state") || cq.Get("code") == "" {
				t.Errorf("authorization response iss=%q state matches=%v code=%v", cq.Get("iss"),
					cq.Get("state") == aq.Get("state"), cq.Get("code") != "")
			}
			return next.String(), interactions
		}
		if next.Scheme+"://"+next.Host != op.issuer {
			t.Fatalf("provider sent the browser to %q", next)
		}
		if strings.HasPrefix(next.Path, "/interaction/") {
			interactions++
		}
		cur = next
	}
	t.Fatal("no callback after 8 redirects at the provider")
	return "", 0
}

var (
	reOPLogoutForm = regexp.MustCompile(`<form id="op.logoutForm" method="post" action="([^"]*)"`)
	reOPXSRF       = regexp.MustCompile(`name="xsrf" value="([^"]*)"`)
)

// nodeVersion checks that node is one oidc-provider 9 runs on. It supports the Node.js LTS
// releases from 22; it also runs on 20.18 and later (it needs URL.parse), but not on 18, the
// nodejs of Debian 12's own archive.
func nodeVersion(node string) error {
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return err
	}
	v := strings.TrimSpace(string(out))
	var major, minor int
	if _, err := fmt.Sscanf(v, "v%d.%d", &major, &minor); err != nil {
		return fmt.Errorf("node --version said %q", v)
	}
	if major < 20 || major == 20 && minor < 18 {
		return fmt.Errorf("node %s is older than 20.18, which oidc-provider 9 needs (22 LTS or later is what it supports)", v)
	}
	return nil
}

// TestOIDCProviderInterop: logins at both ID-porten levels through oidc-provider give the
// session the SP's own tests expect, the client secret survives client_secret_basic's encoding,
// prompt=login makes the provider authenticate again, a replayed callback and a replayed code
// are refused, an answer below the profile's level is refused, and RP-initiated logout completes
// at the provider. oidc-provider 9 has no front-channel logout, so that part of PROFILE.md §9 is
// not covered here.
func TestOIDCProviderInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	requirePart(t, "Node.js (apt-get install nodejs npm)", err)
	requirePart(t, "Node.js 20.18 or later", nodeVersion(node))
	_, err = os.Stat(opPackage)
	requirePart(t, "oidc-provider (npm ci --prefix testdata/oidc-provider)", err)

	kari := persons[0]
	var random [24]byte
	if _, err := rand.Read(random[:]); err != nil {
		t.Fatal(err)
	}
	// RFC 6749 §2.3.1: client_secret_basic form-encodes the secret before Base64, so one with
	// characters that encoding changes checks that both sides do it.
	secret := base64.StdEncoding.EncodeToString(random[:]) + " :%+&="
	var op *nodeOP
	h := newHarness(t, func(env *devEnv) {
		op = startNodeOP(t, node, env.spBase, secret, kari.NationalID)
		secretFile := filepath.Join(t.TempDir(), "oidc-provider.secret")
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The development providers are replaced by oidc-provider, reached over the loopback
		// network with the SP's default HTTP client, as a real provider is.
		cfg := *env.cfg
		provider := func(name, clientID string) config.OIDCConfig {
			return config.OIDCConfig{Name: name, Preset: config.OIDCPresetIDPorten, Issuer: op.issuer, ClientID: clientID,
				ClientSecretFile: secretFile, AllowTestPersons: true, AllowInsecure: true}
		}
		cfg.OIDC = []config.OIDCConfig{provider("oidc-provider", "eidsp"), provider("oidc-provider-downgrade", "eidsp-downgrade")}
		cfg.Profiles = slices.DeleteFunc(slices.Clone(cfg.Profiles), func(p config.ProfileConfig) bool {
			_, isOIDC := env.cfg.OIDCProvider(p.IdP)
			return isOIDC
		})
		cfg.Profiles = append(cfg.Profiles,
			config.ProfileConfig{Name: "idporten-oidc", Label: "ID-porten (oidc-provider)", IdP: "oidc-provider", MinLevel: 3},
			config.ProfileConfig{Name: "idporten-oidc-high", Label: "ID-porten høyt (oidc-provider)", IdP: "oidc-provider", MinLevel: 4},
			config.ProfileConfig{Name: "idporten-oidc-downgraded", Label: "ID-porten høyt (svarer betydelig)", IdP: "oidc-provider-downgrade", MinLevel: 4})
		cfg.Defaults()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("configuration with oidc-provider: %v", err)
		}
		a, err := buildApp(t.Context(), &cfg, env.app.server.Log, env.app.server.Now)
		if err != nil {
			t.Fatalf("buildApp with oidc-provider: %v", err)
		}
		env.app.store.Close()
		env.app, env.cfg = a, &cfg
	})

	var highSession map[string]any
	var l3Browser, highBrowser *browser

	t.Run("ok/level 3", func(t *testing.T) {
		h.t = t
		b := h.browser()
		cb, n := b.opLogin(op, url.Values{"profile": {"idporten-oidc"}, "return_to": {"/cases"}, "locale": {"nn"}}, identity.ACRSubstantial)
		if n == 0 {
			t.Error("a first login passed no interaction at the provider")
		}
		b.finish(cb, "/cases")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 3,
			authMethod: "MinID-PIN", idp: "oidc-provider", culture: "nn"})

		// The same callback again, from a browser that captured the URL: the state was used.
		other := h.browser()
		off := h.logs.Len()
		h.requireErrorPage(other.get(cb), off, http.StatusBadRequest, "expired", "pending_login")
		other.requireNoSession()
		l3Browser = b
	})

	t.Run("ok/prompt=login", func(t *testing.T) {
		h.t = t
		b := l3Browser
		if b == nil {
			t.Skip("no level-3 browser")
		}
		// ForceAuthn is prompt=login: the provider authenticates again despite its SSO session.
		cb, n := b.opLogin(op, url.Values{"profile": {"idporten-oidc"}, "force": {"1"}}, identity.ACRSubstantial)
		if n == 0 {
			t.Error("prompt=login: the provider answered from its SSO session without a new login")
		}
		b.finish(cb, "/")
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 3,
			authMethod: "MinID-PIN", idp: "oidc-provider", culture: "nn"})
	})

	t.Run("ok/step-up from the level-3 session logs in again", func(t *testing.T) {
		h.t = t
		b := l3Browser
		if b == nil {
			t.Skip("no level-3 browser")
		}
		// Step-up in the same browser. acr_values is a voluntary claim request (OpenID Connect
		// Core §3.1.2.1, §5.5.1.1), and oidc-provider would answer it from its level-3 SSO
		// session without a new login (which the level check then refuses). The SP therefore
		// adds prompt=login when the browser's session is below the profile's level, and the
		// provider authenticates again at level 4.
		p := b.get("/login?" + url.Values{"profile": {"idporten-oidc-high"}}.Encode())
		if u, err := url.Parse(p.location()); err != nil || u.Query().Get("prompt") != "login" {
			t.Fatalf("step-up without prompt=login: %q", p.location())
		}
		cb, n := b.opLogin(op, url.Values{"profile": {"idporten-oidc-high"}, "locale": {"nb"}}, identity.ACRHigh)
		if n == 0 {
			t.Error("oidc-provider answered the step-up from its SSO session")
		}
		b.finish(cb, "/")
		// culture: the provider keeps the locale of the session's first login (nn).
		b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 4,
			authMethod: "BankID", idp: "oidc-provider", culture: "nn"})
	})

	t.Run("ok/level 4", func(t *testing.T) {
		h.t = t
		b := h.browser()
		cb, _ := b.opLogin(op, url.Values{"profile": {"idporten-oidc-high"}}, identity.ACRHigh)
		b.finish(cb, "/")
		highSession = b.requireSession(wantSession{nationalID: kari.NationalID, kind: "synthetic-fnr", instrument: "unknown", level: 4,
			authMethod: "BankID", idp: "oidc-provider", culture: "nb"})
		highBrowser = b
	})

	t.Run("fail/code used before", func(t *testing.T) {
		h.t = t
		first := h.browser()
		used, _ := first.opLogin(op, url.Values{"profile": {"idporten-oidc"}}, identity.ACRSubstantial)
		first.finish(used, "/")
		usedURL, _ := url.Parse(used)

		// A second login whose callback carries the first login's code: the SP sends it to the
		// token endpoint (with this login's PKCE verifier), and oidc-provider refuses it.
		b := h.browser()
		raw, _ := b.opLogin(op, url.Values{"profile": {"idporten-oidc"}}, identity.ACRSubstantial)
		cb, _ := url.Parse(raw)
		q := cb.Query()
		q.Set("code", usedURL.Query().Get("code"))
		cb.RawQuery = q.Encode()
		off := h.logs.Len()
		h.requireErrorPage(b.get(cb.String()), off, http.StatusBadRequest, "expired", "replay")
		if f := h.failures(off); len(f) == 1 && !strings.Contains(asString(f[0]["err"]), "invalid_grant") {
			t.Errorf("logged %v, want the provider's invalid_grant", f[0]["err"])
		}
		b.requireNoSession()
	})

	t.Run("fail/answered below the level", func(t *testing.T) {
		h.t = t
		b := h.browser()
		cb, _ := b.opLogin(op, url.Values{"profile": {"idporten-oidc-downgraded"}}, identity.ACRHigh)
		off := h.logs.Len()
		h.requireErrorPage(b.get(cb), off, http.StatusForbidden, "level_too_low", "level")
		b.requireNoSession()
	})
	t.Run("ok/logout", func(t *testing.T) {
		h.t = t
		if highBrowser == nil {
			t.Skip("no level-4 session to end")
		}
		b := highBrowser
		p := b.get("/logout")
		if p.status != http.StatusFound || !strings.HasPrefix(p.location(), op.issuer+"/session/end?") {
			t.Fatalf("logout: %d to %q, want the provider's end_session_endpoint", p.status, p.location())
		}
		b.requireNoSession()
		end, _ := url.Parse(p.location())
		for _, k := range []string{"id_token_hint", "post_logout_redirect_uri", "state", "client_id"} {
			if end.Query().Get(k) == "" {
				t.Errorf("end session request without %s", k)
			}
		}
		confirm := b.get(end.String())
		action, xsrf := first(reOPLogoutForm, confirm.body), first(reOPXSRF, confirm.body)
		if confirm.status != http.StatusOK || action == "" || xsrf == "" {
			t.Fatalf("provider's logout page: %d\n%s", confirm.status, confirm.body)
		}
		actionURL, err := end.Parse(action)
		if err != nil {
			t.Fatal(err)
		}
		done := b.post(actionURL.String(), url.Values{"xsrf": {xsrf}, "logout": {"yes"}})
		back := done.location()
		if done.status != http.StatusSeeOther || !strings.HasPrefix(back, h.sp+"/oidc/logged-out?") {
			t.Fatalf("provider's logout answer: %d to %q\n%s", done.status, back, done.body)
		}
		if bu, _ := url.Parse(back); bu.Query().Get("state") != end.Query().Get("state") {
			t.Errorf("provider's logout answer does not return our state: %q", back)
		}
		if p := b.get(back); p.status != http.StatusOK {
			t.Errorf("logged-out page: %d\n%s", p.status, p.body)
		}
		b.requireNoSession()
		// The provider ended the session the SP knew by that sid: the sid the SP would match a
		// front-channel logout against is the provider's.
		if sid := asString(highSession["session_index"]); !slices.Contains(op.logoutSids(t), sid) {
			t.Errorf("provider's back-channel logout named sids %v, not the session's %q", op.logoutSids(t), sid)
		}
	})
	h.t = t
	h.requireNoNationalIDInLog()
}
