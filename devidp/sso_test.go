package devidp

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
)

var idportenIDs = []string{"minid", "bankid", "buypass", "commfides", "testid-3", "testid-4"}

func TestLoginPage(t *testing.T) {
	e := newEnv(t, nil)
	ks := testKeys()
	otherSigner := saml.Signer{Key: ks[keyOther], Cert: testCert(t, ks[keyOther], "other")}
	sha1Signer := e.sp.signer
	sha1Signer.Alg = saml.AlgRSASHA1
	tests := []struct {
		name    string
		req     req
		query   string // replaces the signed query when set
		header  []string
		status  int
		methods []string
		lang    string
		problem string // on the 400 page
	}{
		{name: "ok/instrument-smartcard", req: req{instruments: []string{identity.InstrumentSmartCard}},
			status: 200, methods: []string{"ips:BPSC"}},
		{name: "ok/instruments-mobile", req: req{instruments: []string{identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}},
			status: 200, methods: []string{"ips:OTP1PKI", "ips:CC2PKI"}},
		{name: "ok/idporten-chooser", req: req{}, status: 200, methods: idportenIDs},
		{name: "ok/idporten-level4", req: req{minLevel: 4}, status: 200,
			methods: []string{"bankid", "buypass", "commfides", "testid-4"}},
		{name: "ok/instruments-level4", req: req{minLevel: 4, instruments: []string{identity.InstrumentMobileApp}},
			status: 200, methods: []string{"ips:CC2PKI"}},
		{name: "ok/post-binding-request", req: req{binding: saml.BindingHTTPPost}, status: 200, methods: idportenIDs},
		{name: "ok/rsa-sha1", req: req{signer: &sha1Signer}, status: 200, methods: idportenIDs},
		{name: "ok/locale-default-nb", req: req{}, status: 200, lang: "nb"},
		{name: "ok/locale-en", req: req{locale: "en"}, status: 200, lang: "en"},
		{name: "ok/locale-nn", req: req{locale: "nn"}, status: 200, lang: "nn"},
		{name: "ok/locale-se-falls-back", req: req{locale: "se"}, status: 200, lang: "nb"},
		{name: "ok/accept-language", req: req{}, header: []string{"Accept-Language", "de-DE, en-GB;q=0.8, nn;q=0.9"}, status: 200, lang: "nn"},
		{name: "ok/locale-beats-accept-language", req: req{locale: "en"}, header: []string{"Accept-Language", "nn"}, status: 200, lang: "en"},
		{name: "fail/bad-signature", req: req{signer: &otherSigner}, status: 400, problem: "signature"},
		{name: "fail/unsigned", query: "unsigned", status: 400, problem: "signature"},
		{name: "fail/unknown-sp", req: req{issuer: "https://unknown.example"}, status: 400, problem: "not a registered service provider"},
		{name: "fail/wrong-destination", req: req{destination: "https://elsewhere.example/idp/sso"}, status: 400, problem: "Destination"},
		{name: "fail/wrong-acs", req: req{acs: "https://sp.test.example/evil"}, status: 400, problem: "AssertionConsumerServiceURL"},
		{name: "fail/acs-binding-mismatch", req: req{acs: "https://sp.test.example/saml/acs", binding: saml.BindingHTTPPost}, status: 400, problem: "AssertionConsumerServiceURL"},
		{name: "fail/instrument-namespace", req: req{instruments: []string{"ips:BPSC"}, namespace: "urn:other"}, status: 400, problem: "namespace"},
		{name: "fail/unknown-instrument", req: req{instruments: []string{"ips:NOPE"}}, status: 400, problem: "Unknown instrument"},
		{name: "fail/no-message", query: "RelayState=x", status: 400, problem: "Redirect-binding"},
		{name: "fail/not-base64", query: "SAMLRequest=%%%", status: 400, problem: "Redirect-binding"},
		{name: "fail/response-not-request", query: "SAMLResponse=AAAA", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := e.redirectURL(e.fill(tt.req))
			switch tt.query {
			case "":
			case "unsigned":
				pu, _ := url.Parse(u)
				q := pu.Query()
				q.Del("Signature")
				q.Del("SigAlg")
				u = e.base + "/idp/sso?" + q.Encode()
			default:
				u = e.base + "/idp/sso?" + tt.query
			}
			p := e.get(u, tt.header...)
			if p.status != tt.status {
				t.Fatalf("HTTP %d, want %d: %s", p.status, tt.status, p.body)
			}
			if tt.methods != nil && !slices.Equal(p.methods(), tt.methods) {
				t.Errorf("methods %v, want %v", p.methods(), tt.methods)
			}
			if tt.lang != "" && p.lang() != tt.lang {
				t.Errorf("lang %q, want %q", p.lang(), tt.lang)
			}
			if !strings.Contains(p.body, tt.problem) {
				t.Errorf("page does not say %q: %s", tt.problem, p.body)
			}
			if strings.Contains(p.body, "<samlp:") || strings.Contains(p.body, "goroutine") {
				t.Errorf("page shows raw XML or a stack trace")
			}
			if got := p.header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
				t.Errorf("Cache-Control %q", got)
			}
			if p.status == 200 {
				otpShown := p.otp() != ""
				if want := slices.Contains(tt.methods, "ips:OTP1PKI"); tt.methods != nil && otpShown != want {
					t.Errorf("one-time code shown: %v, want %v", otpShown, want)
				}
				for _, person := range DefaultPersons() {
					if !strings.Contains(p.body, person.NationalID) {
						t.Errorf("person %s not listed", person.Name)
					}
				}
			}
		})
	}
}

// TestArtifactLogin runs the whole artifact flow and lets the SP side (saml.Verifier) judge it.
func TestArtifactLogin(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*Config)
		spRule   saml.InResponseToRule
		req      req
		person   int
		method   string
		want     identity.Identity
		wantFail saml.Reason
	}{
		{
			name:   "ok/passwordid-authnrequest-id",
			spRule: saml.InResponseToAuthnRequest,
			req:    req{instruments: []string{identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}, locale: "en", relayState: "state-1", onBehalfOf: "ACME01"},
			person: 0, method: identity.InstrumentPasswordOTP,
			want: identity.Identity{Instrument: identity.InstrumentPasswordOTP, Level: 4, AuthMethod: "Buypass", Culture: "en", OnBehalfOf: "ACME01", Kind: identity.KindSyntheticFNR},
		},
		{
			name:   "ok/idporten-preset-artifactresolve-id-sha1",
			cfg:    func(c *Config) { c.InResponseTo = saml.InResponseToArtifactResolve; c.Signer.Alg = saml.AlgRSASHA1 },
			spRule: saml.InResponseToArtifactResolve,
			req:    req{instruments: []string{identity.InstrumentPasswordOTP}},
			person: 4, method: identity.InstrumentPasswordOTP,
			want: identity.Identity{Instrument: identity.InstrumentPasswordOTP, Level: 4, AuthMethod: "Buypass", Culture: "nb", Kind: identity.KindSyntheticDNR},
		},
		{
			name:   "ok/sp-accepts-either",
			cfg:    func(c *Config) { c.InResponseTo = saml.InResponseToArtifactResolve },
			spRule: saml.InResponseToEither,
			req:    req{instruments: []string{identity.InstrumentSmartCard}},
			person: 1, method: identity.InstrumentSmartCard,
			want: identity.Identity{Instrument: identity.InstrumentSmartCard, Level: 4, AuthMethod: "Buypass", Culture: "nb", Kind: identity.KindSyntheticFNR},
		},
		{
			name: "ok/minid-aes256gcm-rsa-oaep11",
			cfg: func(c *Config) {
				c.BlockAlg = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
				c.KeyTransportAlg = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
			},
			spRule: saml.InResponseToAuthnRequest,
			req:    req{locale: "nn"},
			person: 2, method: "minid",
			want: identity.Identity{Instrument: identity.InstrumentUnknown, Level: 3, AuthMethod: "Minid-PIN", Culture: "nn", Kind: identity.KindSyntheticFNR},
		},
		{
			name:   "fail/sp-expects-artifactresolve-id",
			spRule: saml.InResponseToArtifactResolve,
			req:    req{}, person: 0, method: "bankid",
			wantFail: saml.ReasonInResponseTo,
		},
		{
			name:   "fail/sp-expects-authnrequest-id",
			cfg:    func(c *Config) { c.InResponseTo = saml.InResponseToArtifactResolve },
			spRule: saml.InResponseToAuthnRequest,
			req:    req{}, person: 0, method: "bankid",
			wantFail: saml.ReasonInResponseTo,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			r := e.fill(tt.req)
			p := e.get(e.redirectURL(r))
			if p.status != 200 {
				t.Fatalf("login page: HTTP %d: %s", p.status, p.body)
			}
			person := DefaultPersons()[tt.person]
			art, relay := e.artifactFrom(e.login(p, person.NationalID, tt.method), e.sp.acsArtifact)
			if relay != r.relayState {
				t.Errorf("RelayState %q, want %q", relay, r.relayState)
			}
			res, err := e.resolve(art, r.id, tt.spRule)
			if tt.wantFail != "" {
				if saml.ReasonOf(err) != tt.wantFail {
					t.Fatalf("err %v, want reason %s", err, tt.wantFail)
				}
				return
			}
			if err != nil {
				t.Fatalf("SP refused the answer: %v", err)
			}
			got := res.Identity
			if got.NationalID != person.NationalID || got.Kind != tt.want.Kind || got.Level != tt.want.Level ||
				got.Instrument != tt.want.Instrument || got.AuthMethod != tt.want.AuthMethod ||
				got.Culture != tt.want.Culture || got.OnBehalfOf != tt.want.OnBehalfOf {
				t.Errorf("identity %+v, want %+v", got, tt.want)
			}
			if got.IdP != "devidp" || got.SessionIndex == "" || got.NameID == "" || got.NameIDFormat != saml.NameIDFormatTransient {
				t.Errorf("identity %+v lacks IdP, session index or transient NameID", got)
			}
			if !got.AuthenticatedAt.Equal(testStart) {
				t.Errorf("AuthenticatedAt %s", got.AuthenticatedAt)
			}
			// One-time: the same artifact a second time gives the SP an empty answer.
			if _, err := e.resolve(art, r.id, tt.spRule); err == nil {
				t.Fatal("second resolution of the same artifact succeeded")
			}
		})
	}
}

func TestWrongOneTimeCode(t *testing.T) {
	e := newEnv(t, nil)
	r := e.fill(req{instruments: []string{identity.InstrumentPasswordOTP}, locale: "en"})
	p := e.get(e.redirectURL(r))
	person := DefaultPersons()[0].NationalID
	form := url.Values{"token": {p.token(t)}, "person": {person}, "method": {identity.InstrumentPasswordOTP}, "password": {"pw"}}

	for _, tt := range []struct {
		name     string
		otp, pw  string
		wantCode int
	}{
		{"fail/wrong-code", "000000x", "pw", 200},
		{"fail/no-code", "", "pw", 200},
		{"fail/no-password", p.otp(), "", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form.Set("otp", tt.otp)
			form.Set("password", tt.pw)
			again := e.post(e.base+"/idp/sso/login", form)
			if again.status != tt.wantCode || !strings.Contains(again.body, catalogue["en"]["err_otp"]) {
				t.Fatalf("HTTP %d without the error message: %s", again.status, again.body)
			}
			if again.token(t) != p.token(t) || again.otp() != p.otp() {
				t.Error("the retry page changed the pending login")
			}
			if !strings.Contains(again.body, `value="`+person+`" checked`) {
				t.Error("the chosen person is not kept")
			}
		})
	}
	form.Set("otp", p.otp())
	form.Set("password", "pw")
	art, _ := e.artifactFrom(e.post(e.base+"/idp/sso/login", form), e.sp.acsArtifact)
	if _, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest); err != nil {
		t.Fatal(err)
	}
	// The form token is spent.
	if again := e.post(e.base+"/idp/sso/login", form); again.status != http.StatusBadRequest {
		t.Fatalf("reused token: HTTP %d", again.status)
	}
}

func TestTooManyWrongCodes(t *testing.T) {
	e := newEnv(t, nil)
	p := e.get(e.redirectURL(e.fill(req{instruments: []string{identity.InstrumentPasswordOTP}})))
	form := url.Values{"token": {p.token(t)}, "person": {DefaultPersons()[0].NationalID}, "method": {identity.InstrumentPasswordOTP}, "password": {"pw"}, "otp": {"nope"}}
	var last page
	for range maxOTPTries {
		last = e.post(e.base+"/idp/sso/login", form)
	}
	if last.status != http.StatusBadRequest {
		t.Fatalf("after %d wrong codes: HTTP %d", maxOTPTries, last.status)
	}
	form.Set("otp", p.otp())
	if again := e.post(e.base+"/idp/sso/login", form); again.status != http.StatusBadRequest {
		t.Fatalf("the right code after lockout: HTTP %d", again.status)
	}
}

func TestLoginFormFailures(t *testing.T) {
	e := newEnv(t, nil)
	p := e.get(e.redirectURL(e.fill(req{minLevel: 4, locale: "en"})))
	person := DefaultPersons()[0].NationalID
	tests := []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"fail/unknown-token", url.Values{"token": {"nope"}, "person": {person}, "method": {"bankid"}}, 400, "expired"},
		{"fail/no-token", url.Values{"person": {person}, "method": {"bankid"}}, 400, "expired"},
		{"fail/unknown-person", url.Values{"token": {p.token(t)}, "person": {"01010112345"}, "method": {"bankid"}}, 200, catalogue["en"]["err_person"]},
		{"fail/method-below-level", url.Values{"token": {p.token(t)}, "person": {person}, "method": {"minid"}}, 200, catalogue["en"]["err_method"]},
		{"fail/instrument-not-requested", url.Values{"token": {p.token(t)}, "person": {person}, "method": {"ips:BPSC"}}, 200, catalogue["en"]["err_method"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.post(e.base+"/idp/sso/login", tt.form)
			if got.status != tt.status || !strings.Contains(got.body, tt.says) {
				t.Fatalf("HTTP %d, want %d saying %q: %s", got.status, tt.status, tt.says, got.body)
			}
		})
	}
	t.Run("fail/expired", func(t *testing.T) {
		p := e.get(e.redirectURL(e.fill(req{})))
		e.clock.Advance(DefaultLoginTTL)
		got := e.login(p, person, "bankid")
		if got.status != http.StatusBadRequest {
			t.Fatalf("HTTP %d after the login TTL", got.status)
		}
	})
}

func TestCancel(t *testing.T) {
	e := newEnv(t, nil)
	r := e.fill(req{relayState: "back-here"})
	p := e.get(e.redirectURL(r))
	got := e.post(e.base+"/idp/sso/login", url.Values{"token": {p.token(t)}, "action": {"cancel"}})
	art, relay := e.artifactFrom(got, e.sp.acsArtifact)
	if relay != "back-here" {
		t.Errorf("RelayState %q", relay)
	}
	_, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest)
	var se *saml.Error
	if !errors.As(err, &se) || se.Reason != saml.ReasonStatus {
		t.Fatalf("err %v, want a status error", err)
	}
	if !slices.Equal(se.Status, []string{statusResponder, statusAuthnFailed}) || !saml.IsStatus(err, "AuthnFailed") {
		t.Errorf("status %v", se.Status)
	}
	if got := e.get(e.redirectURL(e.fill(req{}))); got.status != 200 {
		t.Errorf("after cancel the next request is answered without a login: HTTP %d", got.status)
	}
}

func TestPOSTBinding(t *testing.T) {
	e := newEnv(t, nil)
	r := e.fill(req{binding: saml.BindingHTTPPost, relayState: "rs&<x>", locale: "en"})
	p := e.get(e.redirectURL(r))
	person := DefaultPersons()[3]
	got := e.login(p, person.NationalID, "testid-4")
	if got.status != 200 || !strings.Contains(got.body, `action="`+e.sp.acsPost+`"`) || !strings.Contains(got.body, "<noscript>") {
		t.Fatalf("HTTP %d, not an auto-submit form to the ACS: %s", got.status, got.body)
	}
	if csp := got.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("CSP %q", csp)
	}
	xml, relay := got.postForm(t)
	if relay != r.relayState {
		t.Errorf("RelayState %q, want %q", relay, r.relayState)
	}
	exp := saml.Expected{IdP: e.spIdP(saml.InResponseToAuthnRequest), AuthnRequestID: r.id, ACSURL: e.sp.acsPost, Now: e.clock.Now()}
	res, err := e.verifier().VerifyPOSTResponse(xml, exp)
	if err != nil {
		t.Fatalf("SP refused the POST response: %v", err)
	}
	if id := res.Identity; id.NationalID != person.NationalID || id.Level != 4 || id.AuthMethod != "TestID" || id.Instrument != identity.InstrumentUnknown {
		t.Errorf("identity %+v", id)
	}
	// The Response itself is signed: the SP's check of a signed Response passes (Destination set)
	// and a tampered one fails.
	if !strings.Contains(string(xml), "<ds:Signature") || strings.Index(string(xml), "<ds:Signature") > strings.Index(string(xml), "<saml:EncryptedAssertion") {
		t.Error("Response is not signed")
	}
	tampered := strings.Replace(string(xml), `Destination="`+e.sp.acsPost, `Destination="`+e.sp.acsPost+"x", 1)
	exp.ACSURL = e.sp.acsPost + "x"
	if _, err := e.verifier().VerifyPOSTResponse([]byte(tampered), exp); saml.ReasonOf(err) != saml.ReasonSignature {
		t.Errorf("tampered Response: %v", err)
	}
}

func TestSingleSignOn(t *testing.T) {
	e := newEnv(t, nil)
	person := DefaultPersons()[1]
	first := e.fill(req{})
	art, _ := e.artifactFrom(e.login(e.get(e.redirectURL(first)), person.NationalID, "testid-3"), e.sp.acsArtifact)
	res1, err := e.resolve(art, first.id, saml.InResponseToAuthnRequest)
	if err != nil {
		t.Fatal(err)
	}

	other := newTestSP(t, "https://other-sp.test.example")
	if err := e.idp.RegisterSP(other.metadata()); err != nil {
		t.Fatal(err)
	}

	t.Run("ok/same-sp-no-page", func(t *testing.T) {
		r := e.fill(req{})
		art, _ := e.artifactFrom(e.get(e.redirectURL(r)), e.sp.acsArtifact)
		res, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.NationalID != person.NationalID || res.Identity.SessionIndex != res1.Identity.SessionIndex ||
			res.Identity.NameID != res1.Identity.NameID || res.Identity.Level != 3 || !res.Identity.AuthenticatedAt.Equal(res1.Identity.AuthenticatedAt) {
			t.Errorf("SSO identity %+v, first %+v", res.Identity, res1.Identity)
		}
	})
	t.Run("ok/other-sp-no-page", func(t *testing.T) {
		saved := e.sp
		e.sp = other
		defer func() { e.sp = saved }()
		r := e.fill(req{})
		art, _ := e.artifactFrom(e.get(e.redirectURL(r)), other.acsArtifact)
		res, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.SessionIndex != res1.Identity.SessionIndex || res.Identity.NameID == res1.Identity.NameID {
			t.Errorf("other SP: same session index wanted, own NameID wanted: %+v", res.Identity)
		}
	})
	for _, tt := range []struct {
		name string
		req  req
	}{
		{"ok/force-authn-shows-page", req{force: true}},
		{"ok/higher-level-shows-page", req{minLevel: 4}},
		{"ok/instrument-shows-page", req{instruments: []string{identity.InstrumentSmartCard}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if p := e.get(e.redirectURL(e.fill(tt.req))); p.status != 200 || p.token(t) == "" {
				t.Fatalf("HTTP %d, want the login page", p.status)
			}
		})
	}
	t.Run("ok/level-upgrade-keeps-session", func(t *testing.T) {
		r := e.fill(req{minLevel: 4})
		art, _ := e.artifactFrom(e.login(e.get(e.redirectURL(r)), person.NationalID, "bankid"), e.sp.acsArtifact)
		res, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.Level != 4 || res.Identity.SessionIndex != res1.Identity.SessionIndex {
			t.Errorf("upgrade: %+v", res.Identity)
		}
		// Now level 4 is answered without a page.
		if p := e.get(e.redirectURL(e.fill(req{minLevel: 4}))); p.status != http.StatusFound {
			t.Errorf("level 4 after upgrade: HTTP %d", p.status)
		}
	})
	t.Run("ok/other-person-new-session", func(t *testing.T) {
		r := e.fill(req{force: true})
		art, _ := e.artifactFrom(e.login(e.get(e.redirectURL(r)), DefaultPersons()[2].NationalID, "minid"), e.sp.acsArtifact)
		res, err := e.resolve(art, r.id, saml.InResponseToAuthnRequest)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.SessionIndex == res1.Identity.SessionIndex {
			t.Error("another person kept the session index")
		}
	})
	t.Run("ok/session-expires", func(t *testing.T) {
		e.clock.Advance(DefaultSessionTTL)
		if p := e.get(e.redirectURL(e.fill(req{}))); p.status != 200 {
			t.Fatalf("after the session TTL: HTTP %d, want the login page", p.status)
		}
	})
}
