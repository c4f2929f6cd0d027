package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
)

// withQuery returns acs with parameter k replaced by v, or removed when v is "".
func withQuery(t *testing.T, acs, k, v string) string {
	t.Helper()
	u, err := url.Parse(acs)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func queryOf(t *testing.T, u, k string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get(k)
}

func randomKey(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// requireSpent asserts that the pending login behind acs is gone: the same URL now says expired.
func (b *browser) requireSpent(acs string) {
	t := b.h.t
	t.Helper()
	off := b.h.logs.Len()
	p := b.get(acs)
	b.h.requireErrorPage(p, off, http.StatusBadRequest, "expired", "pending_login")
	b.requireNoSession()
}

func TestE2ELoginFail(t *testing.T) {
	kari := persons[0].NationalID
	start := url.Values{"profile": {"buypass-mobile"}, "return_to": {"/cases"}}
	retryLink := "/login?profile=buypass-mobile&amp;return_to=%2Fcases"

	tests := []struct {
		name string
		// run performs the failing request with browser b and returns the page and the ACS URL
		// whose pending login must be spent afterwards ("" when none was created).
		run    func(t *testing.T, h *harness, b *browser) (p *page, spent string)
		status int
		key    string
		reason string
		retry  string // the retry link, when it must lead back into the same login
	}{
		{
			name: "fail/unknown profile",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				return b.get("/login?profile=nope&return_to=/cases"), ""
			},
			status: http.StatusNotFound, key: "unknown_profile", reason: "unknown_profile",
		},
		{
			name: "fail/no profile",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				return b.get("/login"), ""
			},
			status: http.StatusNotFound, key: "unknown_profile", reason: "unknown_profile",
		},
		{
			name: "fail/return_to protocol-relative",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				return b.get("/login?" + url.Values{"profile": {"idporten"}, "return_to": {"//evil.example"}}.Encode()), ""
			},
			status: http.StatusBadRequest, key: "bad_request", reason: "return_to",
		},
		{
			name: "fail/return_to absolute URL",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				return b.get("/login?" + url.Values{"profile": {"idporten"}, "return_to": {"https://evil.example"}}.Encode()), ""
			},
			status: http.StatusBadRequest, key: "bad_request", reason: "return_to",
		},
		{
			name: "fail/return_to backslash",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				return b.get("/login?" + url.Values{"profile": {"idporten"}, "return_to": {`/\evil.example`}}.Encode()), ""
			},
			status: http.StatusBadRequest, key: "bad_request", reason: "return_to",
		},
		{
			name: "fail/return_to javascript",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				return b.get("/login?" + url.Values{"profile": {"idporten"}, "return_to": {"javascript:alert(1)"}}.Encode()), ""
			},
			status: http.StatusBadRequest, key: "bad_request", reason: "return_to",
		},
		{
			name: "fail/ACS without RelayState",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				return b.get(withQuery(t, acs, "RelayState", "")), ""
			},
			status: http.StatusBadRequest, key: "bad_request", reason: "relay_state",
		},
		{
			name: "fail/ACS with an unknown RelayState",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				return b.get(withQuery(t, acs, "RelayState", randomKey(t))), ""
			},
			status: http.StatusBadRequest, key: "expired", reason: "pending_login",
		},
		{
			name: "fail/ACS with a short RelayState",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				return b.get(withQuery(t, acs, "RelayState", "abc")), ""
			},
			status: http.StatusBadRequest, key: "bad_request", reason: "relay_state",
		},
		{
			name: "fail/garbage SAMLart",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				return b.get(withQuery(t, acs, "SAMLart", "AAAA")), acs
			},
			status: http.StatusForbidden, key: "verification", reason: "artifact", retry: retryLink,
		},
		{
			name: "fail/no SAMLart",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				return b.get(withQuery(t, acs, "SAMLart", "")), acs
			},
			status: http.StatusForbidden, key: "verification", reason: "artifact", retry: retryLink,
		},
		{
			name: "fail/artifact from another IdP (wrong SourceID)",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				a, err := saml.ParseArtifact(queryOf(t, acs, "SAMLart"))
				if err != nil {
					t.Fatal(err)
				}
				a.SourceID = saml.SourceID("https://evil.example/idp")
				return b.get(withQuery(t, acs, "SAMLart", a.String())), acs
			},
			status: http.StatusForbidden, key: "verification", reason: "artifact", retry: retryLink,
		},
		{
			name: "fail/unknown message handle",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				a, err := saml.ParseArtifact(queryOf(t, acs, "SAMLart"))
				if err != nil {
					t.Fatal(err)
				}
				a.MessageHandle[0] ^= 0xff
				return b.get(withQuery(t, acs, "SAMLart", a.String())), acs
			},
			// The IdP answers Success with no Response (SAML core §3.5).
			status: http.StatusForbidden, key: "verification", reason: "malformed", retry: retryLink,
		},
		{
			name: "fail/same ACS URL twice",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				victim := h.browser()
				acs := victim.idpLogin(start, kari, "ips:CC2PKI")
				victim.finish(acs, "/cases")
				// The same URL again, from a browser without the first one's cookies.
				return b.get(acs), ""
			},
			status: http.StatusBadRequest, key: "expired", reason: "pending_login",
		},
		{
			name: "fail/cancel at the IdP",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				f := b.atIdP(b.startLogin(start))
				acs := b.submit(f, url.Values{"action": {"cancel"}})
				return b.get(acs), acs
			},
			status: http.StatusForbidden, key: "cancelled", reason: "status", retry: retryLink,
		},
		{
			name: "fail/artifact used once, replayed with a new pending login",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				victim := h.browser()
				old := victim.idpLogin(start, kari, "ips:CC2PKI")
				victim.finish(old, "/cases")
				loc := b.startLogin(start)
				relay := queryOf(t, loc, "RelayState")
				replay := withQuery(t, old, "RelayState", relay)
				return b.get(replay), replay
			},
			status: http.StatusBadRequest, key: "expired", reason: "replay", retry: retryLink,
		},
		{
			name: "fail/artifact resolved by someone else first",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := b.idpLogin(start, kari, "ips:CC2PKI")
				h.resolveArtifact(t, queryOf(t, acs, "SAMLart"))
				return b.get(acs), acs
			},
			// The IdP answers Success with no Response: the artifact resolves once.
			status: http.StatusForbidden, key: "verification", reason: "malformed", retry: retryLink,
		},
		{
			name: "fail/binding cookie missing (another browser)",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := h.browser().idpLogin(start, kari, "ips:CC2PKI")
				return b.get(acs), acs
			},
			status: http.StatusBadRequest, key: "browser", reason: "browser_binding", retry: retryLink,
		},
		{
			name: "fail/binding cookie of another login",
			run: func(t *testing.T, h *harness, b *browser) (*page, string) {
				acs := h.browser().idpLogin(start, kari, "ips:CC2PKI")
				b.startLogin(start) // b holds a binding cookie, for its own login
				return b.get(acs), acs
			},
			status: http.StatusBadRequest, key: "browser", reason: "browser_binding", retry: retryLink,
		},
	}
	h := newHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			b := h.browser()
			p, spent := tt.run(t, h, b)
			// The failing request is the last one: its log line is the last "request failed".
			off := h.lastRequestOffset(p)
			h.requireErrorPage(p, off, tt.status, tt.key, tt.reason)
			if tt.retry != "" && !strings.Contains(p.body, `href="`+tt.retry+`"`) {
				t.Errorf("retry link %q, want %q", first(reRetry, p.body), tt.retry)
			}
			if strings.HasPrefix(p.url, h.sp+"/login") {
				for _, c := range p.cookies {
					if strings.HasPrefix(c.Name, "eidsp_login_") {
						t.Errorf("a refused /login set the binding cookie %s", c.Name)
					}
				}
			}
			b.requireNoSession()
			if spent != "" {
				b.requireSpent(spent)
			}
			h.requireNoNationalIDInLog()
		})
	}
}

// lastRequestOffset returns the log offset just before the line of the request that made p,
// found by its reference.
func (h *harness) lastRequestOffset(p *page) int {
	h.t.Helper()
	ref := p.header.Get("X-Request-Id")
	logs := h.logs.String()
	i := strings.LastIndex(logs, `"ref":"`+ref+`"`)
	if ref == "" || i < 0 {
		h.t.Fatalf("%s: no log line with reference %q", p.url, ref)
	}
	return strings.LastIndex(logs[:i], "\n") + 1
}

// resolveArtifact resolves an artifact at the IdP as the SP would, so that the SP's own
// resolution finds it spent.
func (h *harness) resolveArtifact(t *testing.T, art string) {
	t.Helper()
	idp := h.env.app.server.IdPs["ips"]
	a, err := saml.ParseArtifact(art)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := idp.Policy.Descriptor.ResolutionEndpoint(a)
	if err != nil {
		t.Fatal(err)
	}
	id, err := saml.NewID(nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := idp.Signer.ArtifactResolve(id, h.env.cfg.SP.EntityID, ep.Location, art, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, err := (saml.SOAPClient{HTTP: http.DefaultClient, MaxBytes: 1 << 20}).Call(t.Context(), ep.Location, env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "EncryptedAssertion") {
		t.Fatal("the first resolution did not return the assertion")
	}
}

// TestE2EIdPUnreachable: the IdP goes away between its redirect and the artifact resolution.
func TestE2EIdPUnreachable(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	acs := b.idpLogin(url.Values{"profile": {"idporten"}}, persons[0].NationalID, "minid")
	if err := h.idpSrv.Close(); err != nil {
		t.Fatal(err)
	}
	off := h.logs.Len()
	p := b.get(acs)
	h.requireErrorPage(p, off, http.StatusBadGateway, "idp_unreachable", "transport")
	if !strings.Contains(p.body, `href="/login?profile=idporten&amp;return_to=%2F"`) {
		t.Errorf("retry link %q does not restart the login", first(reRetry, p.body))
	}
	b.requireNoSession()
	b.requireSpent(acs)
	h.requireNoNationalIDInLog()
}

// TestE2ESOAPFault: the IdP refuses our ArtifactResolve with a SOAP fault, because between the
// login and the resolution it learnt another signing key for us (a botched key rollover).
func TestE2ESOAPFault(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	acs := b.idpLogin(url.Values{"profile": {"buypass"}}, persons[0].NationalID, "ips:BPSC")

	other, err := certs.Generate("someone else", time.Hour, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp := metadata.SP{EntityID: h.env.cfg.SP.EntityID, SigningCert: other.Cert,
		EncryptionCerts: []*x509.Certificate{h.env.app.spKey.Cert},
		ACSArtifact:     h.sp + "/saml/acs", SLO: h.sp + "/saml/slo"}
	md, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.env.idp.RegisterSP(md); err != nil {
		t.Fatal(err)
	}
	off := h.logs.Len()
	p := b.get(acs)
	h.requireErrorPage(p, off, http.StatusBadGateway, "idp_unreachable", "transport")
	b.requireNoSession()
	b.requireSpent(acs)
	h.requireNoNationalIDInLog()
	if strings.Contains(h.logs.String(), "<soapenv:") || strings.Contains(h.logs.String(), "<samlp:") {
		t.Error("raw XML in the log")
	}
}

// TestE2EStolenArtifactOtherBrowser: an artifact captured from the victim's browser before it
// reached the ACS (browser history, a proxy log) must not log in another browser that started
// a login of its own. The binding cookie is meant to stop exactly this; it does so only while
// the Response answers the AuthnRequest ID, which the pending login pins. When the IdP answers
// the ArtifactResolve ID (ID-porten's documented rule, accepted by in_response_to: either),
// nothing in the answer ties it to the browser's pending login.
func TestE2EStolenArtifactOtherBrowser(t *testing.T) {
	h := newHarness(t)
	victim, attacker := h.browser(), h.browser()
	start := url.Values{"profile": {"buypass-mobile"}}
	stolen := victim.idpLogin(start, persons[0].NationalID, "ips:CC2PKI")
	relay := queryOf(t, attacker.startLogin(start), "RelayState")
	p := attacker.get(withQuery(t, stolen, "RelayState", relay))
	if p.status < 400 {
		st, m := attacker.session()
		t.Errorf("the victim's unused artifact with the attacker's RelayState: status %d; attacker's /session %d as %v",
			p.status, st, m["national_id_kind"])
	}
	attacker.requireNoSession()
}
