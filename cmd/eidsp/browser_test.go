package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/eidsp/eidsp/identity"
)

// The browser tests drive Debian's Chromium, headless, through the SP and the development IdP
// over loopback: every login by clicking (one by keyboard only), the language carried to the
// IdP, every error page a browser can reach, logout. axe-core runs inside every page and must
// report no serious or critical violation. Screenshots go to $EIDSP_SCREENSHOTS, or to a
// directory under the system's temporary directory that the log names.

const chromiumPath = "/usr/bin/chromium"

// axePath is where `npm ci --prefix testdata/browser` puts axe-core.
var axePath = filepath.Join("..", "..", "testdata", "browser", "node_modules", "axe-core", "axe.min.js")

// requireTool skips, or fails under CI=true, when a part the browser tests need is missing.
func requireTool(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s missing (%v); browser tests skipped", what, err)
}

// chrome is one headless Chromium shared by the subtests; each tab has a browser context of its
// own, so cookies never leak between them.
type chrome struct {
	t       *testing.T
	ctx     context.Context
	axe     string
	shots   string
	mu      sync.Mutex
	nshots  int
	shotted map[string]bool // kinds of page checked once per run
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	_, err := exec.LookPath(chromiumPath)
	requireTool(t, "Chromium ("+chromiumPath+", apt-get install chromium)", err)
	axe, err := os.ReadFile(axePath)
	requireTool(t, "axe-core (npm ci --prefix testdata/browser)", err)
	shots := os.Getenv("EIDSP_SCREENSHOTS")
	if shots == "" {
		shots, err = os.MkdirTemp("", "eidsp-screenshots-")
	} else {
		err = os.MkdirAll(shots, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	// This machine's network is closed to everything but loopback: no background traffic.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "nb-NO"),
		chromedp.Flag("accept-lang", "nb-NO,nb,no,en"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		requireTool(t, "a running Chromium", err)
	}
	return &chrome{t: t, ctx: ctx, axe: string(axe), shots: shots, shotted: map[string]bool{}}
}

// tab is one page in a fresh browser context. Every request to the SP's ACS passes through it
// (CDP Fetch), so that a test can see the URL, change it, or act before it reaches the SP.
type tab struct {
	t   *testing.T
	c   *chrome
	h   *harness
	ctx context.Context

	mu    sync.Mutex
	acs   []string                    // ACS URLs requested, in order
	atACS func(u string) (new string) // runs before an ACS request goes on; "" keeps it
}

func (c *chrome) tab(t *testing.T, h *harness) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, c: c, h: h, ctx: ctx}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for e, err := range paused {
			if err != nil {
				return
			}
			tb.passACS(&e)
		}
	}()
	tb.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: h.sp + "/saml/acs*"}}})
		return err
	})
	return tb
}

func (tb *tab) passACS(e *fetch.EventRequestPaused) {
	tb.mu.Lock()
	tb.acs = append(tb.acs, e.Request.URL+e.Request.URLFragment)
	hook := tb.atACS
	tb.mu.Unlock()
	p := fetch.ContinueRequestParams{RequestID: e.RequestID}
	if hook != nil {
		p.URL = hook(e.Request.URL)
	}
	if _, err := chromedp.Call(tb.ctx, fetch.ContinueRequest, p); err != nil && tb.ctx.Err() == nil {
		tb.t.Errorf("continue ACS request: %v", err)
	}
}

func (tb *tab) lastACS() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.acs) == 0 {
		tb.t.Fatal("no request reached the ACS")
	}
	return tb.acs[len(tb.acs)-1]
}

// call runs f on the tab with a time limit, failing the test on an error.
func (tb *tab) call(f func(ctx context.Context) error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
		tb.t.Fatalf("browser at %s: %v", loc, err)
	}
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	tb.call(func(ctx context.Context) error { return chromedp.Do(ctx, steps...) })
}

// get runs an action that reads a value.
func get[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	var v T
	tb.call(func(ctx context.Context) (err error) { v, err = chromedp.Run(ctx, a); return err })
	return v
}

// open navigates to u (a path is taken relative to the SP) and waits for sel.
func (tb *tab) open(u, sel string) {
	tb.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = tb.h.sp + u
	}
	tb.do(chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS(sel)))
}

// click clicks sel and waits for next, an element of the page that follows.
func (tb *tab) click(sel, next string) {
	tb.t.Helper()
	tb.navigateBy(chromedp.Click(chromedp.CSS(sel)), next)
}

// navigateBy runs an action that leaves the page (a click, a key) and waits for next on the
// loaded page that follows. It polls, because evaluation fails while the document changes.
func (tb *tab) navigateBy(a chromedp.Action[chromedp.Void], next string) {
	tb.t.Helper()
	tb.call(func(ctx context.Context) error {
		if err := chromedp.Do(ctx, a); err != nil {
			return err
		}
		return tb.waitFor(ctx, next)
	})
}

// waitFor polls until the loaded document has an element matching sel.
func (tb *tab) waitFor(ctx context.Context, sel string) error {
	js := fmt.Sprintf(`document.readyState === "complete" && document.querySelector(%q) !== null`, sel)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", sel, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(get(tb, chromedp.Text(chromedp.CSS(sel))))
}

func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	return get(tb, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	return get(tb, chromedp.Evaluate[T](js))
}

func (tb *tab) location() string {
	tb.t.Helper()
	return get(tb, chromedp.Location())
}

func (tb *tab) lang() string { return tb.attr("html", "lang") }

// axeResult is the part of axe.run's answer the tests read.
type axeResult struct {
	Violations []struct {
		ID, Impact, Help string
		Nodes            []struct {
			Target []any
			HTML   string
		}
	}
	Passes []struct{ ID string }
}

// check screenshots the page under name and runs axe-core in it (WCAG 2.0/2.1 A and AA rules,
// plus best practices); a serious or critical violation fails the test, others are logged.
func (tb *tab) check(name string) {
	tb.t.Helper()
	png := get(tb, chromedp.FullScreenshot(100))
	tb.c.mu.Lock()
	tb.c.nshots++
	file := filepath.Join(tb.c.shots, fmt.Sprintf("%02d-%s.png", tb.c.nshots, name))
	tb.c.mu.Unlock()
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	r := tb.axe()
	var serious, minor []string
	for _, v := range r.Violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, n.HTML)
		}
		line := fmt.Sprintf("%s (%s): %s: %s", v.ID, v.Impact, v.Help, strings.Join(where, " | "))
		if v.Impact == "serious" || v.Impact == "critical" {
			serious = append(serious, line)
		} else {
			minor = append(minor, line)
		}
	}
	for _, m := range minor {
		tb.t.Logf("axe on %s, not serious: %s", name, m)
	}
	for _, s := range serious {
		tb.t.Errorf("axe on %s: %s", name, s)
	}
	tb.h.t.Logf("axe %s: %d serious/critical, %d minor; screenshot %s", name, len(serious), len(minor), filepath.Base(file))
}

// axe runs axe-core in the page: the WCAG 2.0/2.1 A and AA rules and the best practices.
func (tb *tab) axe() axeResult {
	tb.t.Helper()
	if !eval[bool](tb, `typeof axe !== "undefined"`) {
		eval[bool](tb, tb.c.axe+"\n;true")
	}
	return get(tb, chromedp.Evaluate[axeResult](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}, resultTypes: ["violations"]})`,
		chromedp.EvalAwaitPromise))
}

// checkOnce checks a kind of page the first time the run sees it.
func (tb *tab) checkOnce(name string) {
	tb.t.Helper()
	tb.c.mu.Lock()
	seen := tb.c.shotted[name]
	tb.c.shotted[name] = true
	tb.c.mu.Unlock()
	if !seen {
		tb.check(name)
	}
}

// focusedVisibly reports whether the focused element shows a focus indicator.
func (tb *tab) focusedVisibly() bool {
	return eval[bool](tb, `(() => { const s = getComputedStyle(document.activeElement);
		return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== "none"; })()`)
}

// tabTo presses Tab until the element matching sel has the focus, checking on the way that
// every focused element shows it; it returns the focus order as "tag#id" / link text.
func (tb *tab) tabTo(sel string) []string {
	tb.t.Helper()
	var order []string
	for range 40 {
		tb.do(chromedp.KeyEvent(kb.Tab))
		desc := eval[string](tb, `(() => { const e = document.activeElement;
			return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.value ? "=" + e.value : "") + (e.tagName === "A" ? ":" + e.textContent.trim() : ""); })()`)
		match := eval[bool](tb, fmt.Sprintf(`document.activeElement.matches(%q)`, sel))
		order = append(order, desc)
		if !tb.focusedVisibly() {
			tb.t.Errorf("focus on %s is not visible", desc)
		}
		if match {
			return order
		}
	}
	tb.t.Fatalf("Tab never reached %s; order: %v", sel, order)
	return nil
}

// recordPages notes, from the call on, the URL of every page the tab requests, each hop of a
// redirect included: what a test of where a link leads must see but the location bar hides.
func (tb *tab) recordPages() func() []string {
	tb.t.Helper()
	var mu sync.Mutex
	var urls []string
	// Listen, not Events: it sees a request before the command that follows it returns.
	err := chromedp.Listen(tb.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		return err
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(urls)
	}
}

// paste puts text into the field sel as a paste does: one insertion, not a key per character.
func (tb *tab) paste(sel, text string) {
	tb.t.Helper()
	tb.call(func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(sel))); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// methods lists the login methods the IdP page offers.
func (tb *tab) methods() []string {
	return eval[[]string](tb, `[...document.querySelectorAll("button[name=method]")].map(b => b.value)`)
}

// Selectors of the pages a login passes.
const (
	atChooser   = "#login-heading"
	atIdP       = "input[name=token]"
	atLoggedIn  = "#whoami-level"
	atError     = "#error"
	atLoggedOut = "#logged-out"
)

// idpLogin picks person at the IdP page on screen and logs in with method, typing PasswordID's
// password and the one-time code the page shows.
func (tb *tab) idpLogin(person int, method, next string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(fmt.Sprintf("#person-%d", person))))
	if method == identity.InstrumentPasswordOTP {
		code := tb.text("#otp-code")
		tb.do(chromedp.SendKeys(chromedp.CSS("#password"), "secret"), chromedp.SendKeys(chromedp.CSS("#otp"), code))
	}
	tb.click(fmt.Sprintf("button[name=method][value=%q]", method), next)
}

// requireLoggedIn asserts the SP's page shows person at level with instrument.
func (tb *tab) requireLoggedIn(person, level int, instrument string) {
	tb.t.Helper()
	if got := tb.attr(atLoggedIn, "data-level"); got != fmt.Sprint(level) {
		tb.t.Errorf("logged in at level %s, want %d", got, level)
	}
	if got := tb.text("#whoami-nid"); got != identity.Mask(persons[person].NationalID) {
		tb.t.Errorf("logged in as %s, want %s", got, identity.Mask(persons[person].NationalID))
	}
	if instrument != "" {
		if got := tb.attr("#whoami-instrument", "data-instrument"); got != instrument {
			tb.t.Errorf("instrument %s, want %s", got, instrument)
		}
	}
}

// requireErrorPage asserts the error page on screen is key's, in lang, with a retry link to
// retry (a prefix) and, when the SP logged the failure, the reference of its one log line.
func (tb *tab) requireErrorPage(name, key, lang, retry string, logOff int) {
	tb.t.Helper()
	if got := tb.attr(atError, "data-key"); got != key {
		tb.t.Fatalf("error page %q, want %q", got, key)
	}
	if got := tb.lang(); got != lang {
		tb.t.Errorf("error page in %q, want %q", got, lang)
	}
	if got := tb.attr("#retry", "href"); !strings.HasPrefix(got, retry) {
		tb.t.Errorf("retry link %q, want %s…", got, retry)
	}
	body := get(tb, chromedp.OuterHTML(chromedp.CSS("html")))
	for _, leak := range []string{"<saml", "goroutine ", ".go:", "SAMLart=", "ds:Signature"} {
		if strings.Contains(body, leak) {
			tb.t.Errorf("error page shows %q", leak)
		}
	}
	if logOff >= 0 {
		ref := tb.text("#reference")
		fails := tb.h.failures(logOff)
		if len(fails) != 1 || fails[0]["ref"] != ref || fails[0]["error_key"] != key {
			tb.t.Errorf("page reference %q; logged failures %v", ref, fails)
		}
	}
	tb.check(name)
}

func TestBrowser(t *testing.T) {
	start := time.Now()
	c := newChrome(t)
	h := newHarness(t)
	const kari, ola, fatima = 0, 1, 4

	t.Run("ok/axe finds a planted violation", func(t *testing.T) {
		h.t = t
		tb := c.tab(t, h)
		tb.open("/", atChooser)
		// Through the CSSOM: the CSP refuses inline style attributes.
		eval[bool](tb, `(() => { const m = document.querySelector("main");
			m.insertAdjacentHTML("beforeend", '<img src="/static/style.css"><p id="faint">faint</p>');
			document.getElementById("faint").style.color = "#bbb"; return true; })()`)
		found := map[string]string{}
		for _, v := range tb.axe().Violations {
			found[v.ID] = v.Impact
		}
		if found["image-alt"] != "critical" || found["color-contrast"] != "serious" {
			t.Fatalf("axe did not report the planted image without alt text and faint text: %v", found)
		}
	})

	t.Run("ok/login by clicking", func(t *testing.T) {
		for _, tt := range []struct {
			name, profile, method string
			person, level         int
			offered               []string
		}{
			{"buypass shared, smart card", "buypass", identity.InstrumentSmartCard, kari, 4,
				[]string{identity.InstrumentSmartCard, identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}},
			{"buypass smart card", "buypass-smartcard", identity.InstrumentSmartCard, ola, 4, []string{identity.InstrumentSmartCard}},
			{"buypass mobile, PasswordID", "buypass-mobile", identity.InstrumentPasswordOTP, fatima, 4,
				[]string{identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}},
			{"buypass mobile, app", "buypass-mobile", identity.InstrumentMobileApp, kari, 4,
				[]string{identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}},
			{"idporten level 3, MinID", "idporten", "minid", ola, 3, nil},
			{"idporten level 4, BankID", "idporten-high", "bankid", kari, 4, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h.t = t
				tb := c.tab(t, h)
				tb.open("/", atChooser)
				tb.checkOnce("chooser-nb")
				if got := tb.text("#login-" + tt.profile + " .level"); !strings.Contains(got, fmt.Sprint(tt.level)) {
					t.Errorf("the %s button says %q, not level %d", tt.profile, got, tt.level)
				}
				tb.click("#login-"+tt.profile, atIdP)
				if got := tb.lang(); got != "nb" {
					t.Errorf("IdP page in %q, want nb", got)
				}
				if tt.offered != nil && strings.Join(tb.methods(), ",") != strings.Join(tt.offered, ",") {
					t.Errorf("IdP offers %v, want %v", tb.methods(), tt.offered)
				}
				tb.check("idp-" + tt.profile + "-" + strings.ReplaceAll(tt.method, ":", ""))
				tb.idpLogin(tt.person, tt.method, atLoggedIn)
				inst := ""
				if strings.HasPrefix(tt.method, "ips:") {
					inst = tt.method
				}
				tb.requireLoggedIn(tt.person, tt.level, inst)
				tb.check("logged-in-" + tt.profile)
			})
		}
	})

	t.Run("ok/keyboard only, buypass mobile with PasswordID", func(t *testing.T) {
		h.t = t
		tb := c.tab(t, h)
		tb.open("/", atChooser)
		order := tb.tabTo("#login-buypass-mobile")
		if len(order) < 5 || !strings.HasPrefix(order[0], "a:") || !strings.Contains(order[0], "hovedinnholdet") ||
			!strings.Contains(order[1], "Bokmål") || !strings.Contains(order[4], "#login-") {
			t.Errorf("focus order %v: want skip link, the languages, then the login choices", order)
		}
		tb.navigateBy(chromedp.KeyEvent(kb.Enter), atIdP)
		tb.tabTo("input[name=person]")
		tb.do(chromedp.KeyEvent(kb.ArrowDown)) // the second test person
		code := tb.text("#otp-code")
		tb.tabTo("#password")
		tb.do(chromedp.KeyEvent("secret"))
		tb.tabTo("#otp")
		tb.do(chromedp.KeyEvent(code))
		tb.tabTo(`button[value="ips:OTP1PKI"]`)
		tb.navigateBy(chromedp.KeyEvent(kb.Enter), atLoggedIn)
		tb.requireLoggedIn(ola, 4, identity.InstrumentPasswordOTP)
		order = tb.tabTo("#logout")
		tb.navigateBy(chromedp.KeyEvent(kb.Enter), atLoggedOut)
		if len(order) > 8 {
			t.Errorf("logout is %d Tab presses away: %v", len(order), order)
		}
	})

	t.Run("ok/language", func(t *testing.T) {
		t.Run("switcher to nynorsk, carried to the IdP and back", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/", atChooser)
			tb.click(`nav.lang a[hreflang="nn"]`, `html[lang="nn"] `+atChooser)
			if got := tb.text(atChooser); !strings.HasPrefix(got, "Logg inn på") {
				t.Errorf("nynorsk heading %q", got)
			}
			tb.check("chooser-nn")
			tb.click("#login-idporten", atIdP)
			if got := tb.lang(); got != "nn" {
				t.Fatalf("IdP page in %q, want nn", got)
			}
			if got := tb.text("legend"); got != "Vel testperson" {
				t.Errorf("IdP legend %q, want nynorsk", got)
			}
			tb.check("idp-nn")
			tb.idpLogin(kari, "minid", atLoggedIn)
			if got := tb.lang(); got != "nn" {
				t.Errorf("back at the SP in %q, want nn (cookie)", got)
			}
			if got := tb.text("#whoami-heading"); got != "Du er logga inn" {
				t.Errorf("heading %q", got)
			}
			tb.check("logged-in-nn")
		})
		t.Run("English from Accept-Language, at the IdP too", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.call(func(ctx context.Context) error {
				if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
					return err
				}
				_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "en-GB,en;q=0.9"}})
				return err
			})
			tb.open("/", atChooser)
			if got := tb.lang(); got != "en" {
				t.Fatalf("chooser in %q, want en", got)
			}
			tb.check("chooser-en")
			tb.click("#login-buypass-mobile", atIdP)
			if got := tb.lang(); got != "en" {
				t.Errorf("IdP page in %q, want en", got)
			}
			tb.check("idp-en-otp")
		})
		t.Run("Northern Sami: sent to the IdP, Bokmål on the pages", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/?locale=se", atChooser)
			if got := tb.lang(); got != "nb" {
				t.Errorf("chooser with locale=se in %q, want nb", got)
			}
			tb.click("#login-idporten", atIdP)
			loc := tb.location()
			if queryOf(t, loc, "locale") != "se" || tb.lang() != "nb" {
				t.Errorf("IdP URL %s, page lang %s: want locale=se sent, Bokmål shown", loc, tb.lang())
			}
		})
	})

	t.Run("ok/logout", func(t *testing.T) {
		h.t = t
		tb := c.tab(t, h)
		tb.open("/", atChooser)
		tb.click("#login-idporten", atIdP)
		tb.idpLogin(kari, "bankid", atLoggedIn)
		tb.click("#logout", atLoggedOut)
		tb.check("logged-out")
		tb.click("a.button.primary", atChooser)
		tb.open("/session", "body")
		if got := tb.text("body"); !strings.Contains(got, "no_session") {
			t.Errorf("after logout /session says %s", got)
		}
	})

	t.Run("ok/admin pages", func(t *testing.T) {
		// A harness of its own: the upload changes the IdP in use, which the other subtests share.
		adminStart := time.Now()
		ha := newHarness(t)
		const ingrid = 2
		admin := DevAdmin()
		if persons[ingrid].NationalID != admin.NationalID {
			t.Fatal("test assumes the third test person is the development admin")
		}
		masked := admin.NationalID[:6] + "*****"

		tb := c.tab(t, ha)
		pages := tb.recordPages()
		tb.open("/admin/", atIdP)
		if !slices.ContainsFunc(pages(), func(u string) bool {
			return strings.HasPrefix(u, ha.sp+"/login?") && queryOf(t, u, "profile") == "idporten-high" && queryOf(t, u, "return_to") == "/admin/"
		}) {
			t.Errorf("/admin/ without a session did not pass /login?profile=idporten-high&return_to=/admin/: %v", pages())
		}
		tb.idpLogin(ingrid, "bankid", "#idp-idporten")
		if loc := tb.location(); loc != ha.sp+"/admin/" {
			t.Errorf("after the admin login at %s, want /admin/", loc)
		}
		// The audit trail is written in the background: reload, as a person would, until the
		// login is listed.
		for i := 0; !strings.Contains(tb.text("#audit"), masked); i++ {
			if i == 40 {
				t.Fatalf("the audit table never showed the login of %s: %s", masked, tb.text("#audit"))
			}
			time.Sleep(50 * time.Millisecond)
			tb.open("/admin/", "#audit")
		}
		login := eval[[]string](tb, `[...document.querySelectorAll("#audit tbody tr")].map(r => r.cells[1].textContent.trim() + "|" + r.cells[2].textContent.trim())`)
		if !slices.Contains(login, "login|"+masked) {
			t.Errorf("audit rows %q: no login by %s", login, masked)
		}
		for _, sel := range []string{"#idp-idporten", "#idp-ips"} {
			if !eval[bool](tb, fmt.Sprintf(`document.querySelector(%q) !== null`, sel)) {
				t.Errorf("the overview has no %s", sel)
			}
		}
		noNationalID := func(page string) {
			t.Helper()
			html := get(tb, chromedp.OuterHTML(chromedp.CSS("html")))
			for _, p := range persons {
				if strings.Contains(html, p.NationalID) {
					t.Errorf("%s shows the national identity number of %s in clear", page, p.Name)
				}
			}
		}
		noNationalID("the overview")
		tb.check("admin-overview")

		// A broken document, then the metadata of the IdP after a key rollover.
		tb.click("#upload-idporten", "#metadata")
		tb.check("admin-upload")
		tb.paste("#metadata", `<!DOCTYPE x><x/>`)
		tb.click("#preview", "#problems")
		if got := tb.text("#problems li"); !strings.Contains(got, "DOCTYPE") || strings.ContainsAny(got, "<>") || strings.Contains(got, ".go:") {
			t.Errorf("the problem is not in plain words: %q", got)
		}
		// The problems are in English only; a screen reader must read them as English.
		if got := tb.attr("#problems ul", "lang"); got != "en" {
			t.Errorf("the problem list on a Bokmål page has lang %q, want en", got)
		}
		tb.check("admin-upload-problems")
		rotated, rotatedBase := newRotatedIdP(t, ha)
		meta, err := rotated.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		tb.paste("#metadata", string(meta))
		tb.click("#preview", "#changes")
		if got := tb.text("#changes"); !strings.Contains(got, rotatedBase+"/idp/sso") || !strings.Contains(got, "signing certificate") {
			t.Errorf("the changes do not list the new SSO URL and certificate: %s", got)
		}
		tb.check("admin-preview")
		tb.click("#save", "#admin-message")
		if loc := tb.location(); loc != ha.sp+"/admin/?done=saved" {
			t.Errorf("after saving at %s, want /admin/?done=saved", loc)
		}
		if got := tb.attr("#idp-idporten .origin", "data-origin"); got != "upload" {
			t.Errorf("the idporten card says its metadata came from %q, want upload", got)
		}
		noNationalID("the overview after saving")
		other := c.tab(t, ha)
		other.open("/", atChooser)
		other.click("#login-idporten", atIdP)
		if loc := other.location(); !strings.HasPrefix(loc, rotatedBase+"/idp/") {
			t.Fatalf("after the upload, login goes to %s, not the rotated IdP at %s", loc, rotatedBase)
		}
		// The answer is signed with the new key: it verifies only with the uploaded certificate.
		other.idpLogin(kari, "minid", atLoggedIn)
		other.requireLoggedIn(kari, 3, "")

		tb.click(`nav.lang a[hreflang="nn"]`, `html[lang="nn"] #idps-heading`)
		if got := tb.text("#idps-heading"); got != "Innloggingstenester" {
			t.Errorf("nynorsk heading %q", got)
		}
		tb.check("admin-overview-nn")

		// Someone not on the list, at level 4, is refused with a way to log in as someone else.
		notAdmin := c.tab(t, ha)
		notAdmin.open("/admin/", atIdP)
		off := ha.logs.Len()
		notAdmin.idpLogin(kari, "bankid", atError)
		notAdmin.requireErrorPage("admin-forbidden", "admin_forbidden", "nb", "/login?force=1&profile=idporten-high", off)
		notAdmin.open("/", atLoggedIn)
		notAdmin.requireLoggedIn(kari, 4, "")

		ha.requireNoNationalIDInLog()
		t.Logf("admin pages took %s", time.Since(adminStart).Round(time.Millisecond))
	})

	t.Run("fail/error pages", func(t *testing.T) {
		t.Run("cancelled at the IdP, then try again", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/", atChooser)
			tb.click("#login-buypass-smartcard", atIdP)
			off := h.logs.Len()
			tb.click(`button[value="cancel"]`, atError)
			tb.requireErrorPage("error-cancelled", "cancelled", "nb", "/login?profile=buypass-smartcard", off)
			tb.click("#retry", atIdP)
			tb.idpLogin(kari, identity.InstrumentSmartCard, atLoggedIn)
		})
		t.Run("cancelled, in English", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/?locale=en", atChooser)
			tb.click("#login-idporten-high", atIdP)
			tb.click(`button[value="cancel"]`, atError)
			tb.requireErrorPage("error-cancelled-en", "cancelled", "en", "/login?profile=idporten-high", -1)
		})
		t.Run("unknown profile", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			off := h.logs.Len()
			tb.open("/login?profile=nope&locale=nn", atError)
			tb.requireErrorPage("error-unknown-profile-nn", "unknown_profile", "nn", "/", off)
		})
		t.Run("reused ACS URL (reload), bookmarked IdP page", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/", atChooser)
			tb.click("#login-buypass-mobile", atIdP)
			idpPage := tb.location()
			tb.idpLogin(kari, identity.InstrumentMobileApp, atLoggedIn)
			acs := tb.lastACS()
			off := h.logs.Len()
			tb.open(acs, atError)
			tb.requireErrorPage("error-expired-reused", "expired", "nb", "/", off)
			// The IdP page as a bookmark: the IdP answers from its session, for a login that is spent.
			off = h.logs.Len()
			tb.open(idpPage, atError)
			tb.requireErrorPage("error-expired-bookmark", "expired", "nb", "/", off)
			// Still logged in from the first login.
			tb.open("/", atLoggedIn)
		})
		t.Run("cookies blocked", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/", atChooser)
			tb.click("#login-buypass", atIdP)
			// What reaches the ACS is what a browser that keeps no cookies sends: none.
			tb.call(func(ctx context.Context) error {
				_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
				return err
			})
			off := h.logs.Len()
			tb.idpLogin(kari, identity.InstrumentSmartCard, atError)
			tb.requireErrorPage("error-cookies", "browser", "nb", "/login?profile=buypass", off)
		})
		t.Run("ACS URL opened in another browser", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/", atChooser)
			tb.click("#login-buypass", atIdP)
			stolen := make(chan string, 1)
			tb.atACS = func(u string) string { stolen <- u; return h.sp + "/healthz" } // the first browser never arrives
			tb.idpLogin(kari, identity.InstrumentSmartCard, "body")
			other := c.tab(t, h)
			off := h.logs.Len()
			other.open(<-stolen, atError)
			other.requireErrorPage("error-other-browser", "browser", "nb", "/login?profile=buypass", off)
		})
		t.Run("verification failure: tampered artifact", func(t *testing.T) {
			h.t = t
			tb := c.tab(t, h)
			tb.open("/", atChooser)
			tb.click("#login-idporten", atIdP)
			tb.atACS = func(u string) string { return withQuery(t, u, "SAMLart", "AAAA") }
			off := h.logs.Len()
			tb.idpLogin(kari, "minid", atError)
			tb.requireErrorPage("error-verification", "verification", "nb", "/login?profile=idporten", off)
		})
		t.Run("IdP unreachable", func(t *testing.T) {
			h2 := newHarness(t)
			tb := c.tab(t, h2)
			tb.open("/", atChooser)
			tb.click("#login-idporten", atIdP)
			// The IdP goes away after it sent the browser back with an artifact.
			tb.atACS = func(string) string { h2.idpSrv.Close(); return "" }
			off := h2.logs.Len()
			tb.idpLogin(kari, "minid", atError)
			tb.requireErrorPage("error-idp-unreachable", "idp_unreachable", "nb", "/login?profile=idporten", off)
		})
	})

	t.Run("fail/error pages the development IdP cannot cause", func(t *testing.T) {
		// Level too low and the IdP statuses other than AuthnFailed never come from the development
		// IdP, so these pages are rendered by the real templates behind a test-only route
		// (previewServer); which status gives which page is tested in handlers (loginFailure).
		preview := previewServer(t)
		for _, tt := range []struct{ key, lang, retry string }{
			{"level_too_low", "nb", "/login?profile=idporten-high"},
			{"no_authn_context", "nb", "/login?profile=idporten-high"},
			{"unknown_principal", "nb", "/login?profile=buypass-mobile"},
			{"unknown_principal", "nn", "/login?profile=buypass-mobile"},
			{"unknown_principal", "en", "/login?profile=buypass-mobile"},
			{"request_denied", "nb", "/login?profile=idporten"},
			{"attributes", "nb", "/login?profile=idporten"},
			{"instrument", "nn", "/login?profile=buypass-smartcard"},
			{"internal", "en", "/"},
		} {
			t.Run(tt.key+"/"+tt.lang, func(t *testing.T) {
				h.t = t
				tb := c.tab(t, h)
				tb.open(preview+"/error?"+url.Values{"key": {tt.key}, "locale": {tt.lang}, "retry": {tt.retry}}.Encode(), atError)
				tb.requireErrorPage("preview-"+strings.ReplaceAll(tt.key, "_", "-")+"-"+tt.lang, tt.key, tt.lang, tt.retry, -1)
				if tt.key == "level_too_low" {
					if got := tb.text("#retry"); !strings.Contains(got, "høyere sikkerhetsnivå") {
						t.Errorf("level too low offers %q, not the higher-level login", got)
					}
				}
			})
		}
	})

	t.Run("ok/themed chooser, narrow screen", func(t *testing.T) {
		preview := previewServer(t)
		h.t = t
		tb := c.tab(t, h)
		tb.do(chromedp.EmulateViewport(390, 844))
		tb.open(preview+"/themed", atChooser)
		bg := eval[string](tb, `getComputedStyle(document.querySelector("header.site")).backgroundColor`)
		if bg != "rgb(0, 48, 69)" {
			t.Errorf("header background %q: the theme's inline style did not apply under the CSP", bg)
		}
		if !eval[bool](tb, `document.querySelector("img.logo").naturalWidth > 0`) {
			t.Error("the logo did not load under the CSP")
		}
		tb.check("themed-chooser-mobile")
	})

	t.Logf("browser suite took %s", time.Since(start).Round(time.Millisecond))
}
