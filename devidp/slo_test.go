package devidp

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/saml"
)

// sloWorld is the IdP with SP A (e.sp, whose SingleLogoutService answers at a ResponseLocation
// apart from its Location) and further SPs, each with its own signing key, and one person who
// may be logged in at all of them.
type sloWorld struct {
	*env
	a            *testSP
	sps          []*testSP
	nameIDs      map[string]string // entityID → the NameID the SP got
	sessionIndex string
	sent         [][]byte // every logout message the IdP sent, for the schema check
}

func newSLOWorld(t testing.TB, mutate func(*Config), others ...*testSP) *sloWorld {
	t.Helper()
	e := newEnv(t, mutate)
	e.sp.sloResponse = e.sp.entityID + "/saml/slo-return"
	w := &sloWorld{env: e, a: e.sp, nameIDs: map[string]string{}}
	for _, sp := range append([]*testSP{e.sp}, others...) {
		if err := e.idp.RegisterSP(sp.metadata()); err != nil {
			t.Fatal(err)
		}
		w.sps = append(w.sps, sp)
	}
	return w
}

// spWithKey is a test SP that signs with its own key.
func spWithKey(t testing.TB, entityID string, key int) *testSP {
	sp := newTestSP(t, entityID)
	k := testKeys()[key]
	sp.signer = saml.Signer{Key: k, Cert: testCert(t, k, entityID)}
	return sp
}

// as runs f with sp as the env's SP.
func (w *sloWorld) as(sp *testSP, f func()) {
	saved := w.sp
	w.sp = sp
	defer func() { w.sp = saved }()
	f()
}

// loginAll logs the person in at every SP: the first login shows the page, the rest are SSO.
func (w *sloWorld) loginAll() {
	w.t.Helper()
	for _, sp := range w.sps {
		w.as(sp, func() {
			r := w.fill(req{})
			p := w.get(w.redirectURL(r))
			if p.status == http.StatusOK {
				p = w.login(p, DefaultPersons()[0].NationalID, "minid")
			}
			art, _ := w.artifactFrom(p, sp.acsArtifact)
			res, err := w.resolve(art, r.id, saml.InResponseToAuthnRequest)
			if err != nil {
				w.t.Fatalf("login at %s: %v", sp.entityID, err)
			}
			w.nameIDs[sp.entityID] = res.Identity.NameID
			if w.sessionIndex != "" && res.Identity.SessionIndex != w.sessionIndex {
				w.t.Fatalf("%s got session index %s, want %s", sp.entityID, res.Identity.SessionIndex, w.sessionIndex)
			}
			w.sessionIndex = res.Identity.SessionIndex
		})
	}
}

// ssoAlive reports whether a new AuthnRequest from A is answered from the IdP session.
func (w *sloWorld) ssoAlive() bool {
	w.t.Helper()
	var p page
	w.as(w.a, func() { p = w.get(w.redirectURL(w.fill(req{}))) })
	switch p.status {
	case http.StatusFound:
		return true
	case http.StatusOK:
		return false
	}
	w.t.Fatalf("AuthnRequest: HTTP %d", p.status)
	return false
}

func (w *sloWorld) sloURL() string { return w.base + "/idp/slo" }

// logoutRequestURL is a signed LogoutRequest of sp for its login; mutate changes it first.
func (w *sloWorld) logoutRequestURL(sp *testSP, relayState string, mutate func(*saml.LogoutRequest), signer *saml.Signer) (string, string) {
	w.t.Helper()
	id, _ := saml.NewID(nil)
	lr := saml.LogoutRequest{ID: id, IssueInstant: w.clock.Now(), Issuer: sp.entityID, Destination: w.sloURL(),
		NameID: w.nameIDs[sp.entityID], NameIDFormat: saml.NameIDFormatTransient, SessionIndexes: []string{w.sessionIndex}}
	if lr.NameID == "" {
		lr.NameID = "_not-logged-in"
	}
	if mutate != nil {
		mutate(&lr)
	}
	xml, err := lr.Build()
	if err != nil {
		w.t.Fatal(err)
	}
	if signer == nil {
		signer = &sp.signer
	}
	u, err := signer.RedirectURL(w.sloURL(), saml.ParamSAMLRequest, xml, relayState, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return u, id
}

// logoutResponseURL is sp's signed LogoutResponse to the IdP; status nil means Success.
func (w *sloWorld) logoutResponseURL(sp *testSP, inResponseTo, relayState string, status []string, signer *saml.Signer) string {
	w.t.Helper()
	id, _ := saml.NewID(nil)
	xml, err := saml.LogoutResponse{ID: id, IssueInstant: w.clock.Now(), Issuer: sp.entityID, Destination: w.sloURL(),
		InResponseTo: inResponseTo, Status: status}.Build()
	if err != nil {
		w.t.Fatal(err)
	}
	if signer == nil {
		signer = &sp.signer
	}
	u, err := signer.RedirectURL(w.sloURL(), saml.ParamSAMLResponse, xml, relayState, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// check is what an SP with its logout endpoint at dest checks on the IdP's messages.
func (w *sloWorld) check(dest string) saml.LogoutCheck {
	return saml.LogoutCheck{Issuer: w.idp.EntityID(), Destination: dest, Now: w.clock.Now(), Skew: 3 * time.Minute,
		MaxAge: 5 * time.Minute, Limits: saml.DefaultLimits()}
}

// fromIdP reads the IdP's redirect to endpoint as the SP there would: the query signature must
// verify with the key in the IdP's metadata.
func (w *sloWorld) fromIdP(p page, endpoint, param string) *saml.RedirectMessage {
	w.t.Helper()
	if p.status != http.StatusFound {
		w.t.Fatalf("HTTP %d, want a redirect to %s: %s", p.status, endpoint, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		w.t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != endpoint {
		w.t.Fatalf("redirected to %s, want %s", got, endpoint)
	}
	m, err := saml.ParseRedirect(u.RawQuery, saml.DefaultLimits().MaxBytes)
	if err != nil {
		w.t.Fatal(err)
	}
	if m.Param != param {
		w.t.Fatalf("%s, want %s", m.Param, param)
	}
	if err := m.Verify(w.desc.SigningCerts, saml.DefaultAlgorithms().WithSHA1()); err != nil {
		w.t.Fatalf("query signature of the IdP: %v", err)
	}
	w.sent = append(w.sent, m.XML)
	return m
}

// target is the SP whose SingleLogoutService Location p sends a LogoutRequest to, or nil.
func (w *sloWorld) target(p page) *testSP {
	u, err := url.Parse(p.location)
	if p.status != http.StatusFound || err != nil || !u.Query().Has(saml.ParamSAMLRequest) {
		return nil
	}
	for _, sp := range w.sps {
		if u.Scheme+"://"+u.Host+u.Path == sp.sloLocation {
			return sp
		}
	}
	return nil
}

// walkStep checks the LogoutRequest p carries to sp as sp would: its NameID in the session, the
// SessionIndex, sp's SLO Location.
func (w *sloWorld) walkStep(p page, sp *testSP) (*saml.LogoutRequest, string) {
	w.t.Helper()
	m := w.fromIdP(p, sp.sloLocation, saml.ParamSAMLRequest)
	lr, err := saml.ParseLogoutRequest(m.XML, w.check(sp.sloLocation))
	if err != nil {
		w.t.Fatalf("%s refuses the IdP's LogoutRequest: %v", sp.entityID, err)
	}
	if lr.NameID != w.nameIDs[sp.entityID] || lr.NameIDFormat != saml.NameIDFormatTransient ||
		!slices.Equal(lr.SessionIndexes, []string{w.sessionIndex}) || !lr.MatchesSession(w.nameIDs[sp.entityID], w.sessionIndex) {
		w.t.Fatalf("LogoutRequest to %s names %q (%s) %v, want %q %s", sp.entityID, lr.NameID, lr.NameIDFormat,
			lr.SessionIndexes, w.nameIDs[sp.entityID], w.sessionIndex)
	}
	if m.RelayState == "" || len(m.RelayState) < 32 {
		w.t.Fatalf("walk token %q is not an unguessable RelayState", m.RelayState)
	}
	return lr, m.RelayState
}

// answerWalk plays every SP the IdP sends the browser to, answering with its status in statuses
// (Success by default), until the IdP sends the browser elsewhere. It returns that last page
// and the SPs told, in order.
func (w *sloWorld) answerWalk(p page, statuses map[*testSP][]string) (page, []string) {
	w.t.Helper()
	var told []string
	for sp := w.target(p); sp != nil; sp = w.target(p) {
		lr, relay := w.walkStep(p, sp)
		told = append(told, sp.entityID)
		p = w.get(w.logoutResponseURL(sp, lr.ID, relay, statuses[sp], nil))
	}
	return p, told
}

// sessionCookieExpired reports whether p expires the IdP session cookie and the browser holds none.
func (w *sloWorld) sessionCookieExpired(p page) bool {
	expired := false
	for _, c := range p.header.Values("Set-Cookie") {
		expired = expired || (strings.HasPrefix(c, sessionCookie+"=;") && strings.Contains(c, "Max-Age=0"))
	}
	u, _ := url.Parse(w.base + "/idp/sso")
	return expired && len(w.browser.Jar.Cookies(u)) == 0
}

// syncBuffer collects log output written from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSingleLogoutFromSP is SP-initiated logout: A asks, the IdP walks B, then answers A.
func TestSingleLogoutFromSP(t *testing.T) {
	responder := []string{saml.StatusPrefix + "Responder"}
	tests := []struct {
		name   string
		bSays  []string
		status []string
	}{
		{"ok/success", nil, []string{saml.StatusSuccess}},
		{"ok/partial-when-b-fails", responder, []string{saml.StatusSuccess, statusPartialLogout}},
		{"ok/partial-when-b-partial", []string{saml.StatusSuccess, statusPartialLogout}, []string{saml.StatusSuccess, statusPartialLogout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			w := newSLOWorld(t, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) },
				spWithKey(t, "https://sp-b.test.example", keySPB))
			b := w.sps[1]
			w.loginAll()

			u, reqID := w.logoutRequestURL(w.a, "relay-of-A", nil, nil)
			p := w.get(u)
			if sp := w.target(p); sp != b {
				t.Fatalf("HTTP %d to %s, want a LogoutRequest to B", p.status, p.location)
			}
			if !w.ssoAlive() {
				t.Fatal("the IdP session ended before the walk did")
			}
			p, told := w.answerWalk(p, map[*testSP][]string{b: tt.bSays})
			if !slices.Equal(told, []string{b.entityID}) {
				t.Errorf("told %v, want only B", told)
			}
			if !w.sessionCookieExpired(p) {
				t.Errorf("the IdP session cookie is not expired: %v", p.header.Values("Set-Cookie"))
			}
			m := w.fromIdP(p, w.a.sloResponse, saml.ParamSAMLResponse)
			resp, err := saml.ParseLogoutResponse(m.XML, w.check(w.a.sloResponse))
			if err != nil {
				t.Fatalf("A refuses the IdP's LogoutResponse: %v", err)
			}
			if resp.InResponseTo != reqID || m.RelayState != "relay-of-A" || !slices.Equal(resp.Status, tt.status) {
				t.Errorf("LogoutResponse InResponseTo %q RelayState %q status %v, want %q %q %v",
					resp.InResponseTo, m.RelayState, resp.Status, reqID, "relay-of-A", tt.status)
			}
			if w.ssoAlive() {
				t.Error("the IdP session survived the logout: A's AuthnRequest was answered without a login")
			}
			var other page
			w.as(b, func() { other = w.get(w.redirectURL(w.fill(req{}))) })
			if other.status != http.StatusOK {
				t.Errorf("B's AuthnRequest after logout: HTTP %d, want the login page", other.status)
			}

			out := logs.String()
			for _, want := range []string{`"step":"request"`, `"step":"request_sent"`, `"step":"response"`, `"step":"done"`,
				`"session_index":"` + w.sessionIndex + `"`, `"sp":"` + b.entityID + `"`} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %s:\n%s", want, out)
				}
			}
			if strings.Contains(out, DefaultPersons()[0].NationalID) || strings.Contains(out, "<samlp:") || strings.Contains(out, "LogoutRequest xmlns") {
				t.Errorf("log carries a national identity number or raw XML:\n%s", out)
			}
		})
	}
}

// TestSingleLogoutNothingToEnd: the SP is answered Success at once when the IdP has no session
// for the NameID it names; another session is left alone.
func TestSingleLogoutNothingToEnd(t *testing.T) {
	t.Run("ok/no-idp-session", func(t *testing.T) {
		w := newSLOWorld(t, nil, spWithKey(t, "https://sp-b.test.example", keySPB))
		u, id := w.logoutRequestURL(w.a, "rs", nil, nil)
		m := w.fromIdP(w.get(u), w.a.sloResponse, saml.ParamSAMLResponse)
		resp, err := saml.ParseLogoutResponse(m.XML, w.check(w.a.sloResponse))
		if err != nil || resp.InResponseTo != id || !resp.Success() || len(resp.Status) != 1 || m.RelayState != "rs" {
			t.Fatalf("response %+v RelayState %q: %v", resp, m.RelayState, err)
		}
	})
	t.Run("ok/other-nameid-leaves-session", func(t *testing.T) {
		w := newSLOWorld(t, nil, spWithKey(t, "https://sp-b.test.example", keySPB))
		w.loginAll()
		u, _ := w.logoutRequestURL(w.a, "", func(r *saml.LogoutRequest) { r.NameID = "_someone-else" }, nil)
		m := w.fromIdP(w.get(u), w.a.sloResponse, saml.ParamSAMLResponse)
		if resp, err := saml.ParseLogoutResponse(m.XML, w.check(w.a.sloResponse)); err != nil || !resp.Success() || m.RelayState != "" {
			t.Fatalf("response %+v: %v", resp, err)
		}
		if !w.ssoAlive() {
			t.Error("a LogoutRequest for another NameID ended the session")
		}
	})
	t.Run("ok/other-session-index-leaves-session", func(t *testing.T) {
		w := newSLOWorld(t, nil)
		w.loginAll()
		u, _ := w.logoutRequestURL(w.a, "", func(r *saml.LogoutRequest) { r.SessionIndexes = []string{"_old"} }, nil)
		w.fromIdP(w.get(u), w.a.sloResponse, saml.ParamSAMLResponse)
		if !w.ssoAlive() {
			t.Error("a LogoutRequest for another SessionIndex ended the session")
		}
	})
	t.Run("ok/only-sp-no-walk", func(t *testing.T) {
		w := newSLOWorld(t, nil)
		w.loginAll()
		u, _ := w.logoutRequestURL(w.a, "", func(r *saml.LogoutRequest) { r.SessionIndexes = nil }, nil)
		w.fromIdP(w.get(u), w.a.sloResponse, saml.ParamSAMLResponse)
		if w.ssoAlive() {
			t.Error("the session survived")
		}
	})
	t.Run("ok/rsa-sha1", func(t *testing.T) {
		w := newSLOWorld(t, nil)
		sha1 := w.a.signer
		sha1.Alg = saml.AlgRSASHA1
		u, _ := w.logoutRequestURL(w.a, "", nil, &sha1)
		w.fromIdP(w.get(u), w.a.sloResponse, saml.ParamSAMLResponse)
	})
	t.Run("ok/response-location-falls-back-to-location", func(t *testing.T) {
		b := spWithKey(t, "https://sp-b.test.example", keySPB)
		b.sloResponse = ""
		w := newSLOWorld(t, nil, b)
		u, _ := w.logoutRequestURL(b, "", nil, nil)
		w.fromIdP(w.get(u), b.sloLocation, saml.ParamSAMLResponse)
	})
	t.Run("ok/session-found-without-cookie", func(t *testing.T) {
		w := newSLOWorld(t, nil, spWithKey(t, "https://sp-b.test.example", keySPB))
		w.loginAll()
		u, _ := w.logoutRequestURL(w.a, "", nil, nil)
		hreq, _ := http.NewRequest(http.MethodGet, u, nil)
		resp, err := http.DefaultTransport.RoundTrip(hreq) // another browser: no IdP cookie
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if sp := w.target(page{status: resp.StatusCode, location: resp.Header.Get("Location")}); sp != w.sps[1] {
			t.Fatalf("HTTP %d to %s, want the walk to B", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestSingleLogoutAtIdP is IdP-initiated logout: every SP is told, then the IdP's own page.
func TestSingleLogoutAtIdP(t *testing.T) {
	t.Run("ok/walks-a-and-b", func(t *testing.T) {
		w := newSLOWorld(t, nil, spWithKey(t, "https://sp-b.test.example", keySPB))
		w.loginAll()
		p, told := w.answerWalk(w.get(w.base+"/idp/logout?locale=en"), nil)
		slices.Sort(told)
		if !slices.Equal(told, []string{w.sps[1].entityID, w.a.entityID}) {
			t.Errorf("told %v, want A and B", told)
		}
		if p.status != http.StatusOK || p.lang() != "en" || !strings.Contains(p.body, catalogue["en"]["logged_out"]) ||
			strings.Contains(p.body, `id="partial"`) {
			t.Fatalf("HTTP %d, want the English logged-out page: %s", p.status, p.body)
		}
		if !w.sessionCookieExpired(p) || w.ssoAlive() {
			t.Error("the IdP session survived")
		}
	})
	t.Run("ok/sp-without-slo-partial", func(t *testing.T) {
		c := spWithKey(t, "https://sp-c.test.example", keySPC)
		c.sloLocation = ""
		w := newSLOWorld(t, nil, spWithKey(t, "https://sp-b.test.example", keySPB), c)
		w.loginAll()
		p, told := w.answerWalk(w.get(w.base+"/idp/logout", "Accept-Language", "nn"), nil)
		if len(told) != 2 || slices.Contains(told, c.entityID) {
			t.Errorf("told %v, want A and B", told)
		}
		if p.status != http.StatusOK || p.lang() != "nn" || !strings.Contains(p.body, `id="partial"`) {
			t.Fatalf("HTTP %d, want the Nynorsk page saying the logout was partial: %s", p.status, p.body)
		}
	})
	t.Run("ok/no-session", func(t *testing.T) {
		w := newSLOWorld(t, nil)
		p := w.get(w.base + "/idp/logout")
		if p.status != http.StatusOK || p.lang() != "nb" || !strings.Contains(p.body, catalogue["nb"]["logged_out"]) {
			t.Fatalf("HTTP %d: %s", p.status, p.body)
		}
	})
}

// TestSingleLogoutRefused: a message that fails a check gets the 400 page and ends nothing.
func TestSingleLogoutRefused(t *testing.T) {
	b := spWithKey(t, "https://sp-b.test.example", keySPB)
	w := newSLOWorld(t, nil, b)
	w.loginAll()
	ks := testKeys()
	other := saml.Signer{Key: ks[keyOther], Cert: testCert(t, ks[keyOther], "other")}
	unsigned := func(u string) string {
		pu, _ := url.Parse(u)
		q := pu.Query()
		q.Del(saml.ParamSignature)
		q.Del(saml.ParamSigAlg)
		return w.sloURL() + "?" + q.Encode()
	}
	tests := []struct {
		name string
		url  func() string
		says string
	}{
		{"fail/unsigned-request", func() string { u, _ := w.logoutRequestURL(w.a, "", nil, nil); return unsigned(u) }, "signature"},
		{"fail/wrong-signature", func() string { u, _ := w.logoutRequestURL(w.a, "", nil, &other); return u }, "signature"},
		{"fail/other-sps-key", func() string { u, _ := w.logoutRequestURL(w.a, "", nil, &b.signer); return u }, "signature"},
		{"fail/unknown-issuer", func() string {
			u, _ := w.logoutRequestURL(w.a, "", func(r *saml.LogoutRequest) { r.Issuer = "https://unknown.example" }, nil)
			return u
		}, "not a registered service provider"},
		{"fail/wrong-destination", func() string {
			u, _ := w.logoutRequestURL(w.a, "", func(r *saml.LogoutRequest) { r.Destination = "https://elsewhere.example/idp/slo" }, nil)
			return u
		}, "Destination"},
		{"fail/too-old", func() string {
			u, _ := w.logoutRequestURL(w.a, "", func(r *saml.LogoutRequest) { r.IssueInstant = r.IssueInstant.Add(-time.Hour) }, nil)
			return u
		}, "time"},
		{"fail/unsigned-response", func() string {
			return unsigned(w.logoutResponseURL(b, "_x", "0123456789abcdef0123456789abcdef", nil, nil))
		}, "signature"},
		{"fail/response-never-asked-for", func() string {
			return w.logoutResponseURL(b, "_never-sent", "0123456789abcdef0123456789abcdef0123456789abcdef", nil, nil)
		}, "no logout in progress"},
		{"fail/response-without-relaystate", func() string { return w.logoutResponseURL(b, "_never-sent", "", nil, nil) }, "no logout in progress"},
		{"fail/no-message", func() string { return w.sloURL() + "?RelayState=x" }, "Redirect-binding"},
		{"fail/not-deflated", func() string { return w.sloURL() + "?SAMLRequest=AAAA" }, "Redirect-binding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := w.get(tt.url(), "Accept-Language", "en")
			if p.status != http.StatusBadRequest || p.location != "" {
				t.Fatalf("HTTP %d (to %q), want 400: %s", p.status, p.location, p.body)
			}
			if !strings.Contains(p.body, tt.says) || !strings.Contains(p.body, catalogue["en"]["logout_error"]) {
				t.Errorf("page does not say %q under the logout heading: %s", tt.says, p.body)
			}
			if strings.Contains(p.body, "<samlp:") || strings.Contains(p.body, "<saml:") {
				t.Error("page shows raw XML")
			}
			if !w.ssoAlive() {
				t.Fatal("a refused message ended the IdP session")
			}
		})
	}
	t.Run("fail/norwegian-heading", func(t *testing.T) {
		if p := w.get(w.sloURL()); p.status != http.StatusBadRequest || !strings.Contains(p.body, catalogue["nb"]["logout_error"]) {
			t.Errorf("HTTP %d: %s", p.status, p.body)
		}
	})
}

// TestSingleLogoutWalkChecks: during a walk only the answer to the request sent, from the SP it
// went to, within the TTL, moves it on, and only once.
func TestSingleLogoutWalkChecks(t *testing.T) {
	b := spWithKey(t, "https://sp-b.test.example", keySPB)
	c := spWithKey(t, "https://sp-c.test.example", keySPC)
	w := newSLOWorld(t, nil, b, c)
	w.loginAll()
	u, reqID := w.logoutRequestURL(w.a, "rs", nil, nil)
	p := w.get(u)
	if w.target(p) != b {
		t.Fatalf("first step to %s, want B", p.location)
	}
	lrB, relayB := w.walkStep(p, b)
	refused := func(t *testing.T, u string) {
		t.Helper()
		if p := w.get(u); p.status != http.StatusBadRequest {
			t.Fatalf("HTTP %d to %q, want 400", p.status, p.location)
		}
	}
	t.Run("fail/wrong-inresponseto", func(t *testing.T) {
		refused(t, w.logoutResponseURL(b, "_not-"+lrB.ID, relayB, nil, nil))
	})
	t.Run("fail/answer-from-another-sp", func(t *testing.T) {
		refused(t, w.logoutResponseURL(c, lrB.ID, relayB, nil, nil))
	})
	t.Run("fail/b-signed-with-a-key", func(t *testing.T) {
		refused(t, w.logoutResponseURL(b, lrB.ID, relayB, nil, &w.a.signer))
	})
	answerB := w.logoutResponseURL(b, lrB.ID, relayB, nil, nil)
	p = w.get(answerB)
	if w.target(p) != c {
		t.Fatalf("after B's answer: HTTP %d to %s, want C", p.status, p.location)
	}
	lrC, relayC := w.walkStep(p, c)
	if relayC == relayB {
		t.Error("the walk token was not renewed for the next step")
	}
	t.Run("fail/replayed-walk-token", func(t *testing.T) {
		refused(t, answerB)
		w.idp.mu.Lock()
		_, alive := w.idp.sessions[cookieOf(t, w)]
		w.idp.mu.Unlock()
		if !alive {
			t.Fatal("the replay ended the IdP session")
		}
	})
	p = w.get(w.logoutResponseURL(c, lrC.ID, relayC, nil, nil))
	m := w.fromIdP(p, w.a.sloResponse, saml.ParamSAMLResponse)
	resp, err := saml.ParseLogoutResponse(m.XML, w.check(w.a.sloResponse))
	if err != nil || resp.InResponseTo != reqID || !slices.Equal(resp.Status, []string{saml.StatusSuccess}) {
		t.Fatalf("A got %+v: %v", resp, err)
	}
	t.Run("fail/replay-after-the-end", func(t *testing.T) {
		refused(t, w.logoutResponseURL(c, lrC.ID, relayC, nil, nil))
	})
}

func TestSingleLogoutWalkExpires(t *testing.T) {
	b := spWithKey(t, "https://sp-b.test.example", keySPB)
	w := newSLOWorld(t, nil, b)
	w.loginAll()
	u, _ := w.logoutRequestURL(w.a, "", nil, nil)
	lr, relay := w.walkStep(w.get(u), b)
	w.clock.Advance(DefaultLogoutTTL)
	for range 2 { // expired, then gone
		if p := w.get(w.logoutResponseURL(b, lr.ID, relay, nil, nil)); p.status != http.StatusBadRequest {
			t.Fatalf("HTTP %d after the logout TTL", p.status)
		}
	}
}

// cookieOf is the browser's IdP session cookie.
func cookieOf(t *testing.T, w *sloWorld) string {
	t.Helper()
	u, _ := url.Parse(w.base + "/idp/sso")
	for _, c := range w.browser.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	t.Fatal("no IdP session cookie")
	return ""
}

// TestLogoutMessagesSchema validates every LogoutRequest and LogoutResponse the IdP sends
// against the OASIS protocol schema, independently of the Go code.
func TestLogoutMessagesSchema(t *testing.T) {
	xmllint := tool(t, "xmllint")
	b := spWithKey(t, "https://sp-b.test.example", keySPB)
	w := newSLOWorld(t, func(c *Config) { c.Signer.Alg = saml.AlgRSASHA1 }, b)
	w.loginAll()
	u, _ := w.logoutRequestURL(w.a, "rs", nil, nil)
	p, _ := w.answerWalk(w.get(u), map[*testSP][]string{b: {saml.StatusPrefix + "Responder"}})
	w.fromIdP(p, w.a.sloResponse, saml.ParamSAMLResponse) // Success + PartialLogout
	u, _ = w.logoutRequestURL(w.a, "", nil, nil)
	w.fromIdP(w.get(u), w.a.sloResponse, saml.ParamSAMLResponse) // no session: Success
	w.sessionIndex = ""
	w.loginAll()
	w.answerWalk(w.get(w.base+"/idp/logout"), nil)
	if len(w.sent) < 5 {
		t.Fatalf("%d messages, want at least 5", len(w.sent))
	}
	for n, xml := range w.sent {
		run(t, xmllint, "--nonet", "--noout", "--schema", schemaDir+"saml-schema-protocol-2.0.xsd",
			writeFile(t, "logout-"+string(rune('a'+n))+".xml", xml))
	}
}
