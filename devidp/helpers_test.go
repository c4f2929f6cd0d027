package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
)

// Keys are generated at test time, once per test binary, and never committed.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	ks := make([]*rsa.PrivateKey, 6)
	for n := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[n] = k
	}
	return ks
})

const (
	keyIdP = iota
	keySPSign
	keySPEnc
	keyOther
	keySPB // signing keys of further SPs in the single-logout tests
	keySPC
)

var testStart = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func testCert(t testing.TB, key *rsa.PrivateKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn + " (TEST ONLY)"},
		NotBefore:    testStart.AddDate(-1, 0, 0),
		NotAfter:     testStart.AddDate(10, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clock is the shared fake time of IdP and SP.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testSP is a little service provider built from the saml package.
type testSP struct {
	entityID                  string
	acsArtifact, acsPost      string
	sloLocation, sloResponse  string // Redirect SingleLogoutService; no Location leaves it out
	signer                    saml.Signer
	encKey                    *rsa.PrivateKey
	encCert                   *x509.Certificate
	withoutSigning, noPOSTACS bool
}

func newTestSP(t testing.TB, entityID string) *testSP {
	ks := testKeys()
	return &testSP{
		entityID:    entityID,
		acsArtifact: entityID + "/saml/acs",
		acsPost:     entityID + "/saml/acs-post",
		sloLocation: entityID + "/saml/slo",
		sloResponse: entityID + "/saml/slo",
		signer:      saml.Signer{Key: ks[keySPSign], Cert: testCert(t, ks[keySPSign], "sp-signing")},
		encKey:      ks[keySPEnc],
		encCert:     testCert(t, ks[keySPEnc], "sp-encryption"),
	}
}

// metadata is the SP's metadata in ID-porten's shape, plus a POST ACS.
func (sp *testSP) metadata() []byte {
	doc := etree.NewDocument()
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", saml.NSMetadata)
	ed.CreateAttr("xmlns:ds", saml.NSDSig)
	ed.CreateAttr("entityID", sp.entityID)
	d := ed.CreateElement("md:SPSSODescriptor")
	d.CreateAttr("AuthnRequestsSigned", "true")
	d.CreateAttr("protocolSupportEnumeration", saml.NSProtocol)
	key := func(use string, c *x509.Certificate) {
		kd := d.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", use)
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	if !sp.withoutSigning {
		key("signing", sp.signer.Cert)
	}
	key("encryption", sp.encCert)
	if sp.sloLocation != "" {
		slo := d.CreateElement("md:SingleLogoutService")
		slo.CreateAttr("Binding", saml.BindingHTTPRedirect)
		slo.CreateAttr("Location", sp.sloLocation)
		if sp.sloResponse != "" {
			slo.CreateAttr("ResponseLocation", sp.sloResponse)
		}
	}
	d.CreateElement("md:NameIDFormat").SetText(saml.NameIDFormatTransient)
	acs := func(b, loc string, idx int) {
		a := d.CreateElement("md:AssertionConsumerService")
		a.CreateAttr("Binding", b)
		a.CreateAttr("Location", loc)
		a.CreateAttr("index", strconv.Itoa(idx))
		if idx == 1 {
			a.CreateAttr("isDefault", "true")
		}
	}
	acs(saml.BindingHTTPArtifact, sp.acsArtifact, 1)
	if !sp.noPOSTACS {
		acs(saml.BindingHTTPPost, sp.acsPost, 2)
	}
	b, _ := doc.WriteToBytes()
	return b
}

// env is one development IdP on a real loopback HTTP server, one registered SP and a browser.
type env struct {
	t       testing.TB
	idp     *IdP
	srv     *httptest.Server
	base    string
	clock   *clock
	sp      *testSP
	browser *http.Client
	desc    *saml.IdPDescriptor
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newEnv(t testing.TB, mutate func(*Config)) *env {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, base: "http://" + l.Addr().String(), clock: &clock{now: testStart}}
	ks := testKeys()
	cfg := Config{
		BaseURL: e.base,
		Signer:  saml.Signer{Key: ks[keyIdP], Cert: testCert(t, ks[keyIdP], "devidp")},
		Now:     e.clock.Now,
		Logger:  quietLogger(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if e.idp, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(e.idp.Handler())
	e.srv.Listener.Close()
	e.srv.Listener = l
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.sp = newTestSP(t, "https://sp.test.example")
	if err := e.idp.RegisterSP(e.sp.metadata()); err != nil {
		t.Fatal(err)
	}
	md, err := e.idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	e.desc = idpDescriptor(t, md)
	jar, _ := cookiejar.New(nil)
	e.browser = &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// idpDescriptor reads what the SP side needs from the IdP's metadata.
func idpDescriptor(t testing.TB, md []byte) *saml.IdPDescriptor {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(md); err != nil {
		t.Fatal(err)
	}
	ed := doc.Root()
	d := &saml.IdPDescriptor{EntityID: ed.SelectAttrValue("entityID", "")}
	sso := ed.SelectElement("IDPSSODescriptor")
	d.WantAuthnRequestsSigned = sso.SelectAttrValue("WantAuthnRequestsSigned", "") == "true"
	for _, kd := range sso.SelectElements("KeyDescriptor") {
		der, err := base64.StdEncoding.DecodeString(kd.FindElement("./KeyInfo/X509Data/X509Certificate").Text())
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if kd.SelectAttrValue("use", "") == "signing" {
			d.SigningCerts = append(d.SigningCerts, c)
		} else {
			d.EncryptionCerts = append(d.EncryptionCerts, c)
		}
	}
	ep := func(el *etree.Element) saml.Endpoint {
		idx, _ := strconv.Atoi(el.SelectAttrValue("index", "0"))
		return saml.Endpoint{
			Binding:          el.SelectAttrValue("Binding", ""),
			Location:         el.SelectAttrValue("Location", ""),
			ResponseLocation: el.SelectAttrValue("ResponseLocation", ""),
			Index:            idx,
			IsDefault:        el.SelectAttrValue("isDefault", "") == "true",
		}
	}
	for _, el := range sso.SelectElements("SingleSignOnService") {
		d.SingleSignOn = append(d.SingleSignOn, ep(el))
	}
	for _, el := range sso.SelectElements("SingleLogoutService") {
		d.SingleLogout = append(d.SingleLogout, ep(el))
	}
	for _, el := range sso.SelectElements("ArtifactResolutionService") {
		d.ArtifactResolution = append(d.ArtifactResolution, ep(el))
	}
	return d
}

// req describes one AuthnRequest of the test SP.
type req struct {
	id          string
	binding     string // default Artifact
	acs         string // default the SP's ACS for the binding
	destination string // default the IdP's SSO URL
	issuer      string // default the SP
	minLevel    int
	force       bool
	onBehalfOf  string
	instruments []string
	namespace   string // default DefaultInstrumentNamespace
	relayState  string
	locale      string
	signer      *saml.Signer // default the SP's
}

func (e *env) fill(r req) req {
	if r.id == "" {
		r.id, _ = saml.NewID(nil)
	}
	if r.binding == "" {
		r.binding = saml.BindingHTTPArtifact
	}
	if r.acs == "" {
		r.acs = e.sp.acsArtifact
		if r.binding == saml.BindingHTTPPost {
			r.acs = e.sp.acsPost
		}
	}
	if r.destination == "" {
		r.destination = e.base + "/idp/sso"
	}
	if r.issuer == "" {
		r.issuer = e.sp.entityID
	}
	if r.namespace == "" && len(r.instruments) > 0 {
		r.namespace = DefaultInstrumentNamespace
	}
	if r.signer == nil {
		r.signer = &e.sp.signer
	}
	return r
}

func (e *env) authnRequestXML(r req) []byte {
	e.t.Helper()
	xml, err := saml.AuthnRequest{
		ID: r.id, IssueInstant: e.clock.Now(), Issuer: r.issuer, Destination: r.destination,
		ACSURL: r.acs, ProtocolBinding: r.binding, ForceAuthn: r.force, MinLevel: r.minLevel,
		OnBehalfOf: r.onBehalfOf, Instruments: r.instruments, InstrumentNamespace: r.namespace,
	}.Build()
	if err != nil {
		e.t.Fatal(err)
	}
	return xml
}

// redirectURL is the signed Redirect-binding URL of r.
func (e *env) redirectURL(r req) string {
	e.t.Helper()
	var extra [][2]string
	if r.locale != "" {
		extra = append(extra, [2]string{"locale", r.locale})
	}
	u, err := r.signer.RedirectURL(r.destination, saml.ParamSAMLRequest, e.authnRequestXML(r), r.relayState, extra)
	if err != nil {
		e.t.Fatal(err)
	}
	// The Destination may be a foreign URL in negative tests; the browser still goes to us.
	parsed, _ := url.Parse(u)
	return e.base + "/idp/sso?" + parsed.RawQuery
}

// page is one answer the browser got.
type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (e *env) do(hreq *http.Request) page {
	e.t.Helper()
	resp, err := e.browser.Do(hreq)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (e *env) get(u string, header ...string) page {
	e.t.Helper()
	hreq, _ := http.NewRequest(http.MethodGet, u, nil)
	for n := 0; n+1 < len(header); n += 2 {
		hreq.Header.Set(header[n], header[n+1])
	}
	return e.do(hreq)
}

func (e *env) post(u string, form url.Values) page {
	e.t.Helper()
	hreq, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(hreq)
}

var (
	tokenRe  = regexp.MustCompile(`name="token" value="([^"]+)"`)
	otpRe    = regexp.MustCompile(`id="otp-code">([0-9]{6})<`)
	methodRe = regexp.MustCompile(`name="method" value="([^"]+)"`)
	langRe   = regexp.MustCompile(`<html lang="([a-z]+)">`)
	inputRe  = regexp.MustCompile(`name="(SAMLResponse|RelayState)" value="([^"]*)"`)
)

func (p page) token(t testing.TB) string {
	t.Helper()
	m := tokenRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form token on the page (HTTP %d)", p.status)
	}
	return m[1]
}

func (p page) otp() string {
	if m := otpRe.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

func (p page) methods() []string {
	var out []string
	for _, m := range methodRe.FindAllStringSubmatch(p.body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

func (p page) lang() string {
	if m := langRe.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

// postForm reads the auto-submit form of the POST binding.
func (p page) postForm(t testing.TB) (samlResponse []byte, relayState string) {
	t.Helper()
	for _, m := range inputRe.FindAllStringSubmatch(p.body, -1) {
		v := html.UnescapeString(m[2])
		if m[1] == "RelayState" {
			relayState = v
			continue
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		samlResponse = b
	}
	if samlResponse == nil {
		t.Fatalf("no SAMLResponse in the page (HTTP %d)", p.status)
	}
	return samlResponse, relayState
}

// login submits the login form of p for person and method (with the right one-time code).
func (e *env) login(p page, person, method string) page {
	e.t.Helper()
	return e.post(e.base+"/idp/sso/login", url.Values{
		"token": {p.token(e.t)}, "person": {person}, "method": {method},
		"password": {"secret"}, "otp": {p.otp()},
	})
}

// artifactFrom takes SAMLart and RelayState from the redirect to the ACS.
func (e *env) artifactFrom(p page, acs string) (art, relayState string) {
	e.t.Helper()
	if p.status != http.StatusFound {
		e.t.Fatalf("HTTP %d, want 302 to the ACS", p.status)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		e.t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != acs {
		e.t.Fatalf("redirected to %s, want the ACS %s", got, acs)
	}
	return u.Query().Get("SAMLart"), u.Query().Get("RelayState")
}

// spIdP is what the SP knows of the development IdP.
func (e *env) spIdP(rule saml.InResponseToRule) *saml.IdP {
	return &saml.IdP{
		Name:                      "devidp",
		Descriptor:                e.desc,
		Algorithms:                saml.DefaultAlgorithms().WithSHA1(),
		InResponseTo:              rule,
		RequireEncryptedAssertion: true,
		AttributeMap:              identity.PresetIPS(),
		AllowSynthetic:            true,
	}
}

func (e *env) verifier() saml.Verifier {
	return saml.Verifier{
		EntityID:       e.sp.entityID,
		DecryptionKeys: []*rsa.PrivateKey{e.sp.encKey},
		Skew:           3 * time.Minute,
		MaxAge:         5 * time.Minute,
		Limits:         saml.DefaultLimits(),
	}
}

// resolve resolves art over real HTTP with a signed ArtifactResolve and verifies the answer as the
// SP does.
func (e *env) resolve(art, authnRequestID string, rule saml.InResponseToRule) (*saml.Result, error) {
	e.t.Helper()
	a, err := saml.ParseArtifact(art)
	if err != nil {
		return nil, err
	}
	ep, err := e.desc.ResolutionEndpoint(a)
	if err != nil {
		return nil, err
	}
	id, _ := saml.NewID(nil)
	soap, err := e.sp.signer.ArtifactResolve(id, e.sp.entityID, ep.Location, art, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	client := saml.SOAPClient{HTTP: &http.Client{Timeout: 10 * time.Second}, MaxBytes: 1 << 20}
	body, err := client.Call(e.t.Context(), ep.Location, soap)
	if err != nil {
		return nil, err
	}
	return e.verifier().VerifyArtifactResponse(body, saml.Expected{
		IdP:               e.spIdP(rule),
		AuthnRequestID:    authnRequestID,
		ArtifactResolveID: id,
		ACSURL:            e.sp.acsArtifact,
		Now:               e.clock.Now(),
	})
}
