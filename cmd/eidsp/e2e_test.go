package main

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/handlers"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
)

// wantSession is what GET /session must say after a login.
type wantSession struct {
	nationalID, kind, instrument string
	level                        int
	authMethod, idp, culture     string
	onBehalfOf                   string
}

func (b *browser) requireSession(w wantSession) map[string]any {
	t := b.h.t
	t.Helper()
	st, m := b.session()
	if st != http.StatusOK {
		t.Fatalf("GET /session: status %d (%v), want 200", st, m)
	}
	for _, k := range []string{"national_id", "national_id_kind", "instrument", "security_level", "loa",
		"auth_method", "idp", "session_index", "culture", "authenticated_at", "expires_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("GET /session: no %q in %v", k, m)
		}
	}
	wantLoA := identity.LoAForLevel(w.level)
	for k, want := range map[string]any{
		"national_id": w.nationalID, "national_id_kind": w.kind, "instrument": w.instrument,
		"security_level": float64(w.level), "loa": wantLoA, "auth_method": w.authMethod, "idp": w.idp,
		"culture": w.culture,
	} {
		if m[k] != want {
			t.Errorf("GET /session: %s = %v, want %v", k, m[k], want)
		}
	}
	if got, _ := m["on_behalf_of"].(string); got != w.onBehalfOf {
		t.Errorf("GET /session: on_behalf_of = %q, want %q", got, w.onBehalfOf)
	}
	if s, _ := m["session_index"].(string); s == "" {
		t.Errorf("GET /session: empty session_index")
	}
	now := time.Now()
	at, err := time.Parse(time.RFC3339Nano, asString(m["authenticated_at"]))
	if err != nil || at.After(now.Add(time.Second)) || at.Before(now.Add(-time.Minute)) {
		t.Errorf("GET /session: authenticated_at %v is not just now", m["authenticated_at"])
	}
	exp, err := time.Parse(time.RFC3339Nano, asString(m["expires_at"]))
	if err != nil || !exp.After(now) || exp.After(now.Add(b.h.env.cfg.Session.MaxLifetime+time.Minute)) {
		t.Errorf("GET /session: expires_at %v is not within the session lifetime", m["expires_at"])
	}
	return m
}

func asString(v any) string { s, _ := v.(string); return s }

// finish visits the ACS URL and requires the 303 to returnTo with a fresh session cookie.
func (b *browser) finish(acs, returnTo string) *page {
	t := b.h.t
	t.Helper()
	p := b.get(acs)
	if p.status != http.StatusSeeOther {
		t.Fatalf("ACS: status %d, want 303; body:\n%s", p.status, p.body)
	}
	if p.location() != returnTo {
		t.Errorf("ACS: Location %q, want %q", p.location(), returnTo)
	}
	return p
}

func TestE2ELoginOK(t *testing.T) {
	kari, dnr := persons[0], persons[4]
	allInstruments := []string{"ips:BPSC", "ips:OTP1PKI", "ips:CC2PKI"}
	level3 := []string{"minid", "bankid", "buypass", "commfides", "testid-3", "testid-4"}
	level4 := []string{"bankid", "buypass", "commfides", "testid-4"}
	tests := []struct {
		name        string
		query       url.Values
		person      string
		method      string
		wantMethods []string
		wantLang    string
		returnTo    string
		want        wantSession
	}{
		{
			name: "ok/buypass shared, smart card", query: url.Values{"profile": {"buypass"}},
			person: kari.NationalID, method: "ips:BPSC", wantMethods: allInstruments,
			want: wantSession{kind: "synthetic-fnr", instrument: "ips:BPSC", level: 4, authMethod: "Buypass", idp: "ips", culture: "nb"},
		},
		{
			name: "ok/buypass-smartcard", query: url.Values{"profile": {"buypass-smartcard"}},
			person: kari.NationalID, method: "ips:BPSC", wantMethods: []string{"ips:BPSC"},
			want: wantSession{kind: "synthetic-fnr", instrument: "ips:BPSC", level: 4, authMethod: "Buypass", idp: "ips", culture: "nb"},
		},
		{
			name: "ok/buypass-mobile, PasswordID", query: url.Values{"profile": {"buypass-mobile"}},
			person: kari.NationalID, method: "ips:OTP1PKI", wantMethods: []string{"ips:OTP1PKI", "ips:CC2PKI"},
			want: wantSession{kind: "synthetic-fnr", instrument: "ips:OTP1PKI", level: 4, authMethod: "Buypass", idp: "ips", culture: "nb"},
		},
		{
			name: "ok/buypass-mobile, app", query: url.Values{"profile": {"buypass-mobile"}},
			person: persons[1].NationalID, method: "ips:CC2PKI", wantMethods: []string{"ips:OTP1PKI", "ips:CC2PKI"},
			want: wantSession{kind: "synthetic-fnr", instrument: "ips:CC2PKI", level: 4, authMethod: "Buypass", idp: "ips", culture: "nb"},
		},
		{
			name: "ok/idporten level 3, MinID", query: url.Values{"profile": {"idporten"}},
			person: kari.NationalID, method: "minid", wantMethods: level3,
			want: wantSession{kind: "synthetic-fnr", instrument: identity.InstrumentUnknown, level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "nb"},
		},
		{
			name: "ok/idporten-high level 4, BankID", query: url.Values{"profile": {"idporten-high"}},
			person: kari.NationalID, method: "bankid", wantMethods: level4,
			want: wantSession{kind: "synthetic-fnr", instrument: identity.InstrumentUnknown, level: 4, authMethod: "BankID", idp: "idporten", culture: "nb"},
		},
		{
			name: "ok/synthetic D-number", query: url.Values{"profile": {"idporten"}},
			person: dnr.NationalID, method: "testid-3", wantMethods: level3,
			want: wantSession{kind: "synthetic-dnr", instrument: identity.InstrumentUnknown, level: 3, authMethod: "TestID", idp: "idporten", culture: "nb"},
		},
		{
			name: "ok/locale en reaches the IdP", query: url.Values{"profile": {"idporten"}, "locale": {"en"}},
			person: kari.NationalID, method: "minid", wantMethods: level3, wantLang: "en",
			want: wantSession{kind: "synthetic-fnr", instrument: identity.InstrumentUnknown, level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "en"},
		},
		{
			name: "ok/locale nn", query: url.Values{"profile": {"buypass"}, "locale": {"nn"}},
			person: kari.NationalID, method: "ips:CC2PKI", wantMethods: allInstruments, wantLang: "nn",
			want: wantSession{kind: "synthetic-fnr", instrument: "ips:CC2PKI", level: 4, authMethod: "Buypass", idp: "ips", culture: "nn"},
		},
		{
			name: "ok/force=1", query: url.Values{"profile": {"idporten"}, "force": {"1"}},
			person: kari.NationalID, method: "bankid", wantMethods: level3,
			want: wantSession{kind: "synthetic-fnr", instrument: identity.InstrumentUnknown, level: 4, authMethod: "BankID", idp: "idporten", culture: "nb"},
		},
		{
			name: "ok/return_to honoured", query: url.Values{"profile": {"idporten"}, "return_to": {"/cases?id=7&tab=docs"}},
			person: kari.NationalID, method: "minid", wantMethods: level3, returnTo: "/cases?id=7&tab=docs",
			want: wantSession{kind: "synthetic-fnr", instrument: identity.InstrumentUnknown, level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "nb"},
		},
		{
			name: "ok/on behalf of", query: url.Values{"profile": {"idporten-obo"}},
			person: kari.NationalID, method: "minid", wantMethods: level3,
			want: wantSession{kind: "synthetic-fnr", instrument: identity.InstrumentUnknown, level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "nb", onBehalfOf: "etat-7"},
		},
	}
	h := newHarness(t, func(env *devEnv) {
		env.app.server.Profiles = append(env.app.server.Profiles, handlers.Profile{
			Name: "idporten-obo", Label: "profile.idporten", IdP: "idporten", MinLevel: 3, OnBehalfOf: "etat-7"})
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			b := h.browser()
			f := b.atIdP(b.startLogin(tt.query))
			wantLang := tt.wantLang
			if wantLang == "" {
				wantLang = "nb"
			}
			if f.lang != wantLang {
				t.Errorf("IdP page lang %q, want %q", f.lang, wantLang)
			}
			if !slices.Equal(f.methods, tt.wantMethods) {
				t.Errorf("IdP offers %v, want %v", f.methods, tt.wantMethods)
			}
			if !slices.Contains(f.persons, tt.person) {
				t.Fatalf("IdP does not offer person %s", tt.person)
			}
			acs := b.choose(f, tt.person, tt.method)
			returnTo := tt.returnTo
			if returnTo == "" {
				returnTo = "/"
			}
			p := b.finish(acs, returnTo)

			name := h.env.cfg.Session.CookieName
			c := p.cookie(name)
			switch {
			case c == nil:
				t.Fatalf("ACS set no %s cookie", name)
			case !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/":
				t.Errorf("session cookie HttpOnly=%v Secure=%v SameSite=%v Path=%q, want HttpOnly, not Secure on http, Lax, /",
					c.HttpOnly, c.Secure, c.SameSite, c.Path)
			case len(c.Value) < 40 || strings.Contains(c.Value, tt.person) || strings.Contains(c.Value, "."):
				t.Errorf("session cookie %q is not a bare random ID", c.Value)
			}
			want := tt.want
			want.nationalID = tt.person
			b.requireSession(want)

			// The binding cookie is gone once the login is over.
			for _, ck := range p.cookies {
				if strings.HasPrefix(ck.Name, "eidsp_login_") && ck.MaxAge >= 0 {
					t.Errorf("ACS kept the binding cookie %s", ck.Name)
				}
			}
			h.requireNoNationalIDInLog()
		})
	}
}

// TestE2EAuthnRequest decodes what /login sends to the IdP.
func TestE2EAuthnRequest(t *testing.T) {
	h := newHarness(t, func(env *devEnv) {
		env.app.server.Profiles = append(env.app.server.Profiles, handlers.Profile{
			Name: "idporten-obo", Label: "profile.idporten", IdP: "idporten", MinLevel: 3, OnBehalfOf: "etat-7"})
	})
	tests := []struct {
		name        string
		query       url.Values
		force       bool
		minLevel    int
		instruments []string
		onBehalfOf  string
		sigAlg      string
		locale      string
	}{
		{name: "ok/buypass-mobile force=1", query: url.Values{"profile": {"buypass-mobile"}, "force": {"1"}},
			force: true, minLevel: 4, instruments: []string{"ips:OTP1PKI", "ips:CC2PKI"}, sigAlg: saml.AlgRSASHA256, locale: "nb"},
		{name: "ok/buypass", query: url.Values{"profile": {"buypass"}, "locale": {"en"}},
			minLevel: 4, instruments: []string{"ips:BPSC", "ips:OTP1PKI", "ips:CC2PKI"}, sigAlg: saml.AlgRSASHA256, locale: "en"},
		{name: "ok/idporten rsa-sha1", query: url.Values{"profile": {"idporten"}, "locale": {"se"}},
			minLevel: 3, sigAlg: saml.AlgRSASHA1, locale: "se"},
		{name: "ok/idporten-high force=0", query: url.Values{"profile": {"idporten-high"}, "force": {"0"}},
			minLevel: 4, sigAlg: saml.AlgRSASHA1, locale: "nb"},
		{name: "ok/on behalf of", query: url.Values{"profile": {"idporten-obo"}, "force": {"1"}},
			force: true, minLevel: 3, onBehalfOf: "etat-7", sigAlg: saml.AlgRSASHA1, locale: "nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			b := h.browser()
			p := b.get("/login?" + tt.query.Encode())
			if p.status != http.StatusFound {
				t.Fatalf("status %d, want 302:\n%s", p.status, p.body)
			}
			loc, err := url.Parse(p.location())
			if err != nil {
				t.Fatal(err)
			}
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != h.idp+"/idp/sso" {
				t.Errorf("redirect to %s, want the IdP's SSO", got)
			}
			var keys []string
			for _, part := range strings.Split(loc.RawQuery, "&") {
				k, _, _ := strings.Cut(part, "=")
				keys = append(keys, k)
			}
			if want := []string{"SAMLRequest", "RelayState", "SigAlg", "Signature", "locale"}; !slices.Equal(keys, want) {
				t.Errorf("query parameters %v, want %v (locale after Signature)", keys, want)
			}
			if got := loc.Query().Get("locale"); got != tt.locale {
				t.Errorf("locale %q, want %q", got, tt.locale)
			}
			m, err := saml.ParseRedirect(loc.RawQuery, saml.DefaultLimits().MaxBytes)
			if err != nil {
				t.Fatalf("ParseRedirect: %v", err)
			}
			if m.SigAlg != tt.sigAlg {
				t.Errorf("SigAlg %s, want %s", m.SigAlg, tt.sigAlg)
			}
			if err := m.Verify([]*x509.Certificate{h.env.app.spKey.Cert}, saml.DefaultAlgorithms().WithSHA1()); err != nil {
				t.Errorf("query signature: %v", err)
			}
			if len(m.RelayState) < 40 {
				t.Errorf("RelayState %q is not a random key", m.RelayState)
			}
			r, err := saml.ParseAuthnRequest(m.XML, saml.DefaultLimits())
			if err != nil {
				t.Fatalf("ParseAuthnRequest: %v", err)
			}
			if r.ForceAuthn != tt.force {
				t.Errorf("ForceAuthn %v, want %v", r.ForceAuthn, tt.force)
			}
			if r.MinLevel != tt.minLevel {
				t.Errorf("MinLevel %d, want %d", r.MinLevel, tt.minLevel)
			}
			if !slices.Equal(r.Instruments, tt.instruments) {
				t.Errorf("Instruments %v, want %v", r.Instruments, tt.instruments)
			}
			if len(r.Instruments) > 0 && r.InstrumentNamespace != h.env.cfg.IdPs[1].InstrumentNamespace {
				t.Errorf("InstrumentNamespace %q", r.InstrumentNamespace)
			}
			if r.OnBehalfOf != tt.onBehalfOf {
				t.Errorf("OnBehalfOf %q, want %q", r.OnBehalfOf, tt.onBehalfOf)
			}
			if r.ProtocolBinding != saml.BindingHTTPArtifact {
				t.Errorf("ProtocolBinding %q, want HTTP-Artifact", r.ProtocolBinding)
			}
			if r.ACSURL != h.sp+"/saml/acs" {
				t.Errorf("ACS URL %q, want %s/saml/acs", r.ACSURL, h.sp)
			}
			if r.Destination != h.idp+"/idp/sso" || r.Issuer != h.env.cfg.SP.EntityID {
				t.Errorf("Destination %q Issuer %q", r.Destination, r.Issuer)
			}
			if d := time.Since(r.IssueInstant); d < -time.Second || d > time.Minute {
				t.Errorf("IssueInstant %v is not now", r.IssueInstant)
			}
			bc := p.cookie("eidsp_login_" + m.RelayState[:16])
			if bc == nil {
				t.Fatalf("no binding cookie for the pending login; cookies %v", p.cookies)
			}
			if !bc.HttpOnly || bc.Secure || bc.SameSite != http.SameSiteLaxMode || bc.Path != "/saml/acs" {
				t.Errorf("binding cookie HttpOnly=%v Secure=%v SameSite=%v Path=%q", bc.HttpOnly, bc.Secure, bc.SameSite, bc.Path)
			}
			if bc.Value == m.RelayState {
				t.Error("binding cookie value equals the RelayState")
			}
		})
	}
}

// TestE2ESingleSignOn: a second login reuses what it can, force=1 and a higher level do not.
func TestE2ESingleSignOn(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	kari := persons[0].NationalID
	b.finish(b.idpLogin(url.Values{"profile": {"idporten"}}, kari, "minid"), "/")
	first := b.requireSession(wantSession{nationalID: kari, kind: "synthetic-fnr", instrument: identity.InstrumentUnknown,
		level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "nb"})

	t.Run("ok/live session satisfies the profile: straight back", func(t *testing.T) {
		h.t = t
		p := b.get("/login?" + url.Values{"profile": {"idporten"}, "return_to": {"/x"}}.Encode())
		if p.status != http.StatusSeeOther || p.location() != "/x" {
			t.Errorf("status %d Location %q, want 303 to /x", p.status, p.location())
		}
	})
	t.Run("ok/IdP SSO session answers without a page", func(t *testing.T) {
		h.t = t
		loc := b.startLogin(url.Values{"profile": {"idporten"}, "force": {"1"}})
		// force=1 shows the page again.
		f := b.atIdP(loc)
		acs := b.choose(f, kari, "minid")
		b.finish(acs, "/")
		second := b.requireSession(wantSession{nationalID: kari, kind: "synthetic-fnr", instrument: identity.InstrumentUnknown,
			level: 3, authMethod: "Minid-PIN", idp: "idporten", culture: "nb"})
		if second["session_index"] != first["session_index"] {
			t.Errorf("same IdP session, new session_index %v → %v", first["session_index"], second["session_index"])
		}
	})
	t.Run("ok/level upgrade goes to the IdP", func(t *testing.T) {
		h.t = t
		f := b.atIdP(b.startLogin(url.Values{"profile": {"idporten-high"}}))
		if slices.Contains(f.methods, "minid") {
			t.Errorf("level 4 login offers MinID: %v", f.methods)
		}
		b.finish(b.choose(f, kari, "bankid"), "/")
		b.requireSession(wantSession{nationalID: kari, kind: "synthetic-fnr", instrument: identity.InstrumentUnknown,
			level: 4, authMethod: "BankID", idp: "idporten", culture: "nb"})
	})
}

// TestE2EBuypassInstrumentNotReused: a session from one Buypass instrument must not satisfy a
// profile that asks for another one.
func TestE2EBuypassInstrumentNotReused(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	kari := persons[0].NationalID
	b.finish(b.idpLogin(url.Values{"profile": {"buypass-mobile"}}, kari, "ips:CC2PKI"), "/")
	p := b.get("/login?" + url.Values{"profile": {"buypass-smartcard"}, "return_to": {"/x"}}.Encode())
	if p.status != http.StatusFound || !strings.HasPrefix(p.location(), h.idp+"/idp/sso?") {
		t.Errorf("/login?profile=buypass-smartcard with a Buypass app (ips:CC2PKI) session: status %d Location %q; "+
			"want 302 to the IdP, because the profile allows only ips:BPSC", p.status, p.location())
	}
}

// TestE2EPostBinding runs a login over the HTTP-POST binding.
func TestE2EPostBinding(t *testing.T) {
	h := newHarness(t, func(env *devEnv) {
		s := env.app.server
		ips := *s.IdPs["ips"]
		ips.Name, ips.Binding = "ips-post", saml.BindingHTTPPost
		ips.Live = nil // not a configured IdP: its metadata is the copy taken here
		pol := *ips.Policy
		pol.Name = "ips-post"
		ips.Policy = &pol
		s.IdPs["ips-post"] = &ips
		s.Profiles = append(s.Profiles, handlers.Profile{Name: "buypass-post", Label: "profile.buypass", IdP: "ips-post",
			MinLevel: 4, Instruments: []string{"ips:BPSC"}})
		sp := metadata.SP{EntityID: env.cfg.SP.EntityID, SigningCert: env.app.spKey.Cert,
			EncryptionCerts: []*x509.Certificate{env.app.spKey.Cert},
			ACSArtifact:     env.spBase + "/saml/acs", ACSPost: env.spBase + "/saml/acs", SLO: env.spBase + "/saml/slo"}
		md, err := sp.Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := env.idp.RegisterSP(md); err != nil {
			t.Fatal(err)
		}
	})
	kari := persons[0].NationalID
	reSAMLResponse := regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	reRelay := regexp.MustCompile(`name="RelayState" value="([^"]*)"`)

	b := h.browser()
	loc := b.startLogin(url.Values{"profile": {"buypass-post"}, "return_to": {"/post"}})
	f := b.atIdP(loc)
	p := b.post(f.action, url.Values{"token": {f.token}, "person": {kari}, "method": {"ips:BPSC"}})
	if p.status != http.StatusOK {
		t.Fatalf("IdP form: status %d:\n%s", p.status, p.body)
	}
	form := url.Values{
		"SAMLResponse": {first(reSAMLResponse, p.body)},
		"RelayState":   {first(reRelay, p.body)},
	}
	if form.Get("SAMLResponse") == "" || form.Get("RelayState") == "" {
		t.Fatalf("IdP POST page has no SAMLResponse/RelayState:\n%s", p.body)
	}
	t.Run("ok/POST binding", func(t *testing.T) {
		h.t = t
		acs := b.post("/saml/acs", form)
		if acs.status != http.StatusSeeOther || acs.location() != "/post" {
			t.Fatalf("POST /saml/acs: status %d Location %q:\n%s", acs.status, acs.location(), acs.body)
		}
		b.requireSession(wantSession{nationalID: kari, kind: "synthetic-fnr", instrument: "ips:BPSC", level: 4,
			authMethod: "Buypass", idp: "ips-post", culture: "nb"})
	})
	t.Run("fail/POST replayed", func(t *testing.T) {
		h.t = t
		off := h.logs.Len()
		other := h.browser()
		acs := other.post("/saml/acs", form)
		h.requireErrorPage(acs, off, http.StatusBadRequest, "expired", "pending_login")
		other.requireNoSession()
	})
	t.Run("fail/POST assertion with a new pending login", func(t *testing.T) {
		h.t = t
		other := h.browser()
		loc := other.startLogin(url.Values{"profile": {"buypass-post"}})
		u, _ := url.Parse(loc)
		m, err := saml.ParseRedirect(u.RawQuery, saml.DefaultLimits().MaxBytes)
		if err != nil {
			t.Fatal(err)
		}
		replay := url.Values{"SAMLResponse": form["SAMLResponse"], "RelayState": {m.RelayState}}
		off := h.logs.Len()
		acs := other.post("/saml/acs", replay)
		h.requireErrorPage(acs, off, http.StatusForbidden, "verification", "in_response_to")
		other.requireNoSession()
	})
	t.Run("fail/POST not base64", func(t *testing.T) {
		h.t = t
		other := h.browser()
		loc := other.startLogin(url.Values{"profile": {"buypass-post"}})
		u, _ := url.Parse(loc)
		m, err := saml.ParseRedirect(u.RawQuery, saml.DefaultLimits().MaxBytes)
		if err != nil {
			t.Fatal(err)
		}
		off := h.logs.Len()
		acs := other.post("/saml/acs", url.Values{"SAMLResponse": {"%%%not base64"}, "RelayState": {m.RelayState}})
		h.requireErrorPage(acs, off, http.StatusForbidden, "verification", "malformed")
		other.requireNoSession()
	})
	t.Run("fail/POST to an artifact IdP's login", func(t *testing.T) {
		h.t = t
		other := h.browser()
		loc := other.startLogin(url.Values{"profile": {"buypass"}})
		u, _ := url.Parse(loc)
		m, err := saml.ParseRedirect(u.RawQuery, saml.DefaultLimits().MaxBytes)
		if err != nil {
			t.Fatal(err)
		}
		off := h.logs.Len()
		acs := other.post("/saml/acs", url.Values{"SAMLResponse": form["SAMLResponse"], "RelayState": {m.RelayState}})
		h.requireErrorPage(acs, off, http.StatusBadRequest, "bad_request", "binding")
		other.requireNoSession()
	})
	h.t = t
	h.requireNoNationalIDInLog()
}
