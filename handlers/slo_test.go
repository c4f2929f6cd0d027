package handlers

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
)

// The single-logout tests play the IdP with openssl: the IdP's messages are deflated, encoded
// and signed here, over the exact string SAML bindings §3.4.4.1 names, without our Signer; and
// what the SP sends back is checked with openssl against the SP's certificate.

const (
	sloIdPLocation         = "https://idp.example/idp/slo"
	sloIdPResponseLocation = "https://idp.example/idp/slo/return"
	sloOtherEntityID       = "https://other-idp.example/idp"
	sloNationalID          = "15819010290"
	// Texts of the Norwegian (default) pages.
	sloLoggedOutText = "Du er logget ut av denne tjenesten og av innloggingstjenesten"
	sloPartialText   = "kunne ikke bekrefte at du er logget ut av alle andre tjenester"
)

var (
	sloKeyOnce                 sync.Once
	sloIdPKeyPair, sloOtherKey *certs.KeyPair
	sloKeyErr                  error
)

// sloKeys returns the test IdP's signing key and an unrelated key (the other IdP's).
func sloKeys(t testing.TB) (idp, other *certs.KeyPair) {
	t.Helper()
	sloKeyOnce.Do(func() {
		now := time.Now()
		if sloIdPKeyPair, sloKeyErr = certs.Generate("slo test idp", 24*time.Hour, now, rand.Reader); sloKeyErr != nil {
			return
		}
		sloOtherKey, sloKeyErr = certs.Generate("slo test other", 24*time.Hour, now, rand.Reader)
	})
	if sloKeyErr != nil {
		t.Fatal(sloKeyErr)
	}
	return sloIdPKeyPair, sloOtherKey
}

// sloTool finds an external tool; missing, the test skips, except under CI=true where the test
// command installs every tool and a missing one fails.
func sloTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("external tool missing: %s: %v", name, err)
		}
		t.Skipf("external tool missing: %s: %v (install it: apt-get install openssl)", name, err)
	}
	return p
}

func sloWrite(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sloKeyPEM(kp *certs.KeyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(kp.Key)})
}

func sloPubPEM(t testing.TB, kp *certs.KeyPair) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&kp.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sloOpenSSLSign signs data with `openssl dgst -<digest> -sign key`.
func sloOpenSSLSign(t testing.TB, kp *certs.KeyPair, digest, data string) []byte {
	t.Helper()
	openssl := sloTool(t, "openssl")
	key := sloWrite(t, "idp.key", sloKeyPEM(kp))
	in := sloWrite(t, "data.txt", []byte(data))
	out, err := exec.Command(openssl, "dgst", "-"+digest, "-sign", key, in).Output()
	if err != nil {
		t.Fatalf("openssl dgst -sign: %v", err)
	}
	return out
}

// sloOpenSSLVerify reports whether openssl accepts sig over data with kp's public key.
func sloOpenSSLVerify(t testing.TB, kp *certs.KeyPair, digest, data string, sig []byte) bool {
	t.Helper()
	openssl := sloTool(t, "openssl")
	pub := sloWrite(t, "pub.pem", sloPubPEM(t, kp))
	sigFile := sloWrite(t, "sig.bin", sig)
	in := sloWrite(t, "data.txt", []byte(data))
	out, err := exec.Command(openssl, "dgst", "-"+digest, "-verify", pub, "-signature", sigFile, in).CombinedOutput()
	if err != nil {
		return false
	}
	if !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl exited 0 without Verified OK: %s", out)
	}
	return true
}

func sloDigest(alg string) string {
	switch alg {
	case saml.AlgRSASHA1:
		return "sha1"
	case saml.AlgRSASHA512:
		return "sha512"
	}
	return "sha256"
}

// sloDeflate is raw DEFLATE, then standard base64, then URL encoding.
func sloDeflate(t testing.TB, msg []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

func sloInflate(t testing.TB, b64 string) []byte {
	t.Helper()
	deflated, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	r := flate.NewReader(bytes.NewReader(deflated))
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sloQuery is a Redirect-binding message as an independent IdP sends it. Key nil: unsigned.
type sloQuery struct {
	Param      string // saml.ParamSAMLRequest or saml.ParamSAMLResponse
	XML        string
	RelayState string
	SigAlg     string // default RSA-SHA256
	Key        *certs.KeyPair
}

func (q sloQuery) alg() string {
	if q.SigAlg == "" {
		return saml.AlgRSASHA256
	}
	return q.SigAlg
}

// parts returns the URL-encoded parameters in the order the signature covers them.
func (q sloQuery) parts(t testing.TB) []string {
	p := []string{q.Param + "=" + sloDeflate(t, []byte(q.XML))}
	if q.RelayState != "" {
		p = append(p, "RelayState="+url.QueryEscape(q.RelayState))
	}
	return append(p, "SigAlg="+url.QueryEscape(q.alg()))
}

func (q sloQuery) sign(t testing.TB, signed string) string {
	sig := sloOpenSSLSign(t, q.Key, sloDigest(q.alg()), signed)
	return "Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// encode is the raw query: `SAMLRequest=…[&RelayState=…]&SigAlg=…&Signature=…`.
func (q sloQuery) encode(t testing.TB) string {
	t.Helper()
	p := q.parts(t)
	if q.Key == nil {
		return strings.Join(p[:len(p)-1], "&")
	}
	signed := strings.Join(p, "&")
	return signed + "&" + q.sign(t, signed)
}

// sloRequestXML is an IdP's LogoutRequest, written by hand.
type sloRequestXML struct {
	ID, Issuer, Destination, NameID string
	SessionIndexes                  []string
	IssueInstant                    time.Time
	Extra                           string // inserted after Issuer
}

func (r sloRequestXML) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s">`,
		r.ID, r.IssueInstant.UTC().Format(time.RFC3339), html.EscapeString(r.Destination))
	fmt.Fprintf(&b, `<saml:Issuer>%s</saml:Issuer>%s`, html.EscapeString(r.Issuer), r.Extra)
	fmt.Fprintf(&b, `<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">%s</saml:NameID>`, html.EscapeString(r.NameID))
	for _, si := range r.SessionIndexes {
		fmt.Fprintf(&b, `<samlp:SessionIndex>%s</samlp:SessionIndex>`, html.EscapeString(si))
	}
	b.WriteString(`</samlp:LogoutRequest>`)
	return b.String()
}

// sloResponseXML is an IdP's LogoutResponse, written by hand.
type sloResponseXML struct {
	ID, Issuer, Destination, InResponseTo string
	Status                                []string // empty: Success
	IssueInstant                          time.Time
}

func (r sloResponseXML) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s" InResponseTo="%s">`,
		r.ID, r.IssueInstant.UTC().Format(time.RFC3339), html.EscapeString(r.Destination), html.EscapeString(r.InResponseTo))
	fmt.Fprintf(&b, `<saml:Issuer>%s</saml:Issuer><samlp:Status>`, html.EscapeString(r.Issuer))
	codes := r.Status
	if len(codes) == 0 {
		codes = []string{saml.StatusSuccess}
	}
	for _, c := range codes {
		fmt.Fprintf(&b, `<samlp:StatusCode Value="%s">`, c)
	}
	for range codes {
		b.WriteString(`</samlp:StatusCode>`)
	}
	b.WriteString(`</samlp:Status></samlp:LogoutResponse>`)
	return b.String()
}

// Parsed forms of what the SP sends, read with encoding/xml rather than our saml package.
type sloStatusCode struct {
	Value string         `xml:"Value,attr"`
	Sub   *sloStatusCode `xml:"urn:oasis:names:tc:SAML:2.0:protocol StatusCode"`
}

type sloSentResponse struct {
	XMLName      xml.Name
	ID           string        `xml:"ID,attr"`
	Version      string        `xml:"Version,attr"`
	IssueInstant string        `xml:"IssueInstant,attr"`
	Destination  string        `xml:"Destination,attr"`
	InResponseTo string        `xml:"InResponseTo,attr"`
	Issuer       string        `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	StatusCode   sloStatusCode `xml:"urn:oasis:names:tc:SAML:2.0:protocol Status>StatusCode"`
}

type sloSentRequest struct {
	XMLName        xml.Name
	ID             string   `xml:"ID,attr"`
	Version        string   `xml:"Version,attr"`
	Destination    string   `xml:"Destination,attr"`
	NotOnOrAfter   string   `xml:"NotOnOrAfter,attr"`
	Issuer         string   `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	NameID         string   `xml:"urn:oasis:names:tc:SAML:2.0:assertion NameID"`
	SessionIndexes []string `xml:"urn:oasis:names:tc:SAML:2.0:protocol SessionIndex"`
}

type sloFixture struct {
	*fixture
	idpKey, otherKey *certs.KeyPair
	n                int // message counter for unique IDs
}

// newSLOFixture is the handlers fixture whose IdP (entity testIdPEntityID, entries "idp" and
// "post") has a Redirect SingleLogoutService with Location and ResponseLocation and signs with
// its own key, plus a second IdP "other" with another entity and key.
func newSLOFixture(t testing.TB, opts ...fixtureOption) *sloFixture {
	t.Helper()
	f := newFixture(t, opts...)
	idpKey, otherKey := sloKeys(t)
	desc := f.srv.IdPs["idp"].Policy.Descriptor
	desc.SingleLogout = []saml.Endpoint{
		{Binding: saml.BindingHTTPPost, Location: "https://idp.example/idp/slo-post"},
		{Binding: saml.BindingHTTPRedirect, Location: sloIdPLocation, ResponseLocation: sloIdPResponseLocation},
	}
	desc.SigningCerts = []*x509.Certificate{idpKey.Cert}
	otherDesc := &saml.IdPDescriptor{
		EntityID:     sloOtherEntityID,
		SingleSignOn: []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: "https://other-idp.example/sso"}},
		SingleLogout: []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: "https://other-idp.example/slo"}},
		SigningCerts: []*x509.Certificate{otherKey.Cert},
	}
	f.srv.IdPs["other"] = &IdP{Name: "other",
		Policy: &saml.IdP{Name: "other", Descriptor: otherDesc, Algorithms: saml.DefaultAlgorithms(),
			InResponseTo: saml.InResponseToAuthnRequest, AttributeMap: identity.PresetIPS(), AllowSynthetic: true},
		SSOURL: "https://other-idp.example/sso", Binding: saml.BindingHTTPArtifact, Signer: f.srv.IdPs["idp"].Signer}
	return &sloFixture{fixture: f, idpKey: idpKey, otherKey: otherKey}
}

func (f *sloFixture) sloURL() string { return f.srv.Opt.BaseURL + "/saml/slo" }

func (f *sloFixture) nextID(prefix string) string {
	f.n++
	return fmt.Sprintf("_%s%d", prefix, f.n)
}

// idpRequest is a LogoutRequest from the IdP to us for nameID and the given session indexes.
func (f *sloFixture) idpRequest(nameID string, indexes ...string) sloRequestXML {
	return sloRequestXML{ID: f.nextID("idpreq"), Issuer: testIdPEntityID, Destination: f.sloURL(), NameID: nameID,
		SessionIndexes: indexes, IssueInstant: f.clock.Now()}
}

// idpResponse answers our LogoutRequest inResponseTo.
func (f *sloFixture) idpResponse(inResponseTo string, status ...string) sloResponseXML {
	return sloResponseXML{ID: f.nextID("idpresp"), Issuer: testIdPEntityID, Destination: f.sloURL(),
		InResponseTo: inResponseTo, Status: status, IssueInstant: f.clock.Now()}
}

// signedRequest is the raw query of req signed by the IdP's key.
func (f *sloFixture) signedRequest(t testing.TB, req sloRequestXML, relay string) string {
	return sloQuery{Param: saml.ParamSAMLRequest, XML: req.String(), RelayState: relay, Key: f.idpKey}.encode(t)
}

func (f *sloFixture) signedResponse(t testing.TB, resp sloResponseXML, relay string) string {
	return sloQuery{Param: saml.ParamSAMLResponse, XML: resp.String(), RelayState: relay, Key: f.idpKey}.encode(t)
}

// slo sends GET /saml/slo with the raw query.
func (f *sloFixture) slo(rawQuery string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	return f.get("/saml/slo", rawQuery, cookies...)
}

func (f *sloFixture) get(path, rawQuery string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.URL.RawQuery = rawQuery
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.srv.Echo().ServeHTTP(rec, req)
	return rec
}

// session stores a live session at IdP entry idp for nameID / sessionIndex.
func (f *sloFixture) session(t testing.TB, idp, nameID, sessionIndex string) *http.Cookie {
	t.Helper()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	sess := &session.Session{
		ID: id, Profile: "p3", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour),
		Identity: identity.Identity{
			NationalID: sloNationalID, Kind: identity.KindSyntheticFNR, Instrument: identity.InstrumentUnknown,
			Level: 4, LoA: identity.LoAForLevel(4), AuthMethod: "Minid-PIN", IdP: idp, SessionIndex: sessionIndex,
			NameID: nameID, NameIDFormat: saml.NameIDFormatTransient, Culture: "nb", AuthenticatedAt: now,
		},
	}
	if err := f.store.Store.CreateSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: f.srv.Opt.CookieName, Value: id}
}

func (f *sloFixture) alive(t testing.TB, ck *http.Cookie) bool {
	t.Helper()
	_, err := f.store.Store.GetSession(context.Background(), ck.Value)
	if err != nil && !errors.Is(err, session.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// checkNoNationalID: the national identity number never reaches the log in clear.
func (f *sloFixture) checkNoNationalID(t testing.TB) {
	t.Helper()
	if strings.Contains(f.logs.String(), sloNationalID) {
		t.Errorf("national identity number in the log:\n%s", f.logs)
	}
}

// sentRedirect checks a 302 to endpoint carrying param signed by the SP (RSA-SHA256, openssl
// against the SP's key) and returns the inflated message and the RelayState.
func (f *sloFixture) sentRedirect(t testing.TB, rec *httptest.ResponseRecorder, endpoint, param string) ([]byte, string) {
	t.Helper()
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d, want 302\n%s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != endpoint {
		t.Fatalf("redirect to %s, want %s", got, endpoint)
	}
	raw := loc.RawQuery
	start, end := strings.Index(raw, param+"="), strings.Index(raw, "&Signature=")
	if start != 0 || end < 0 {
		t.Fatalf("query %q is not %s=…&Signature=…", raw, param)
	}
	signed := raw[:end]
	sigEnc := raw[end+len("&Signature="):]
	if i := strings.IndexByte(sigEnc, '&'); i >= 0 {
		sigEnc = sigEnc[:i]
	}
	sigB64, err := url.QueryUnescape(sigEnc)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(signed, "&SigAlg="+url.QueryEscape(saml.AlgRSASHA256)) {
		t.Errorf("signed string %q does not end in SigAlg=rsa-sha256", signed)
	}
	if !sloOpenSSLVerify(t, keyPair(t), "sha256", signed, sig) {
		t.Fatalf("openssl rejects the SP's signature over %q", signed)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return sloInflate(t, q.Get(param)), q.Get("RelayState")
}

// checkLogoutResponse checks the SP's answer to an IdP's LogoutRequest: a signed Success
// LogoutResponse to the ResponseLocation, answering reqID, with the RelayState echoed.
func (f *sloFixture) checkLogoutResponse(t testing.TB, rec *httptest.ResponseRecorder, reqID, relay string) {
	t.Helper()
	msg, gotRelay := f.sentRedirect(t, rec, sloIdPResponseLocation, saml.ParamSAMLResponse)
	if gotRelay != relay {
		t.Errorf("RelayState %q, want %q echoed", gotRelay, relay)
	}
	var r sloSentResponse
	if err := xml.Unmarshal(msg, &r); err != nil {
		t.Fatalf("LogoutResponse does not parse: %v\n%s", err, msg)
	}
	if r.XMLName.Space != saml.NSProtocol || r.XMLName.Local != "LogoutResponse" {
		t.Errorf("root %v, want samlp:LogoutResponse", r.XMLName)
	}
	if r.InResponseTo != reqID || r.Destination != sloIdPResponseLocation || r.Issuer != f.srv.Opt.EntityID ||
		r.Version != "2.0" || r.ID == "" || r.ID == reqID {
		t.Errorf("LogoutResponse %+v", r)
	}
	if issued, err := time.Parse(time.RFC3339, r.IssueInstant); err != nil || !issued.Equal(f.clock.Now()) {
		t.Errorf("IssueInstant %q, want %s", r.IssueInstant, f.clock.Now())
	}
	if r.StatusCode.Value != saml.StatusSuccess || r.StatusCode.Sub != nil {
		t.Errorf("status %+v, want plain Success", r.StatusCode)
	}
}

// spLogout runs GET /logout with ck and checks the signed LogoutRequest sent to the IdP;
// it returns the request's ID and RelayState.
func (f *sloFixture) spLogout(t testing.TB, ck *http.Cookie, nameID, sessionIndex string) (string, string) {
	t.Helper()
	rec := f.get("/logout", "", ck)
	msg, relay := f.sentRedirect(t, rec, sloIdPLocation, saml.ParamSAMLRequest)
	var r sloSentRequest
	if err := xml.Unmarshal(msg, &r); err != nil {
		t.Fatalf("LogoutRequest does not parse: %v\n%s", err, msg)
	}
	if r.XMLName.Space != saml.NSProtocol || r.XMLName.Local != "LogoutRequest" || r.Version != "2.0" || r.ID == "" {
		t.Errorf("LogoutRequest %+v", r)
	}
	if r.Destination != sloIdPLocation || r.Issuer != f.srv.Opt.EntityID || r.NameID != nameID ||
		!slices.Equal(r.SessionIndexes, []string{sessionIndex}) || r.NotOnOrAfter == "" {
		t.Errorf("LogoutRequest %+v, want NameID %q SessionIndex %q", r, nameID, sessionIndex)
	}
	if len(relay) < 16 || len(relay) > saml.MaxRelayState {
		t.Errorf("RelayState %q", relay)
	}
	// And our own receiver reads it the same way (the IdP of the dev setup is ours).
	lr, err := saml.ParseLogoutRequest(msg, saml.LogoutCheck{Issuer: f.srv.Opt.EntityID, Destination: sloIdPLocation,
		Now: f.clock.Now(), Skew: time.Minute, MaxAge: time.Minute, Limits: saml.DefaultLimits()})
	if err != nil || lr.ID != r.ID || lr.NameID != nameID {
		t.Errorf("ParseLogoutRequest: %v %+v", err, lr)
	}
	if f.alive(t, ck) {
		t.Error("session alive after GET /logout")
	}
	if c := cookieNamed(rec, f.srv.Opt.CookieName); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("session cookie not cleared: %v", c)
	}
	return r.ID, relay
}

func TestSLOIdPInitiated(t *testing.T) {
	t.Run("ok/ends-the-named-sessions-and-answers", func(t *testing.T) {
		f := newSLOFixture(t)
		target := f.session(t, "idp", "_name", "_idx1")
		twin := f.session(t, "post", "_name", "_idx1") // the same IdP entity under another entry
		keep := map[string]*http.Cookie{
			"other session index":    f.session(t, "idp", "_name", "_idx2"),
			"other NameID":           f.session(t, "idp", "_other", "_idx1"),
			"same names, other IdP":  f.session(t, "other", "_name", "_idx1"),
			"NameID prefix":          f.session(t, "idp", "_nam", "_idx1"),
			"session index of other": f.session(t, "idp", "_other", "_idx2"),
		}
		req := f.idpRequest("_name", "_idx1")
		rec := f.slo(f.signedRequest(t, req, "idp-relay-1"))
		f.checkLogoutResponse(t, rec, req.ID, "idp-relay-1")
		if f.alive(t, target) || f.alive(t, twin) {
			t.Error("a named session survived")
		}
		for name, ck := range keep {
			if !f.alive(t, ck) {
				t.Errorf("unrelated session ended: %s", name)
			}
		}
		if c := cookieNamed(rec, f.srv.Opt.CookieName); c != nil {
			t.Errorf("cookie touched though the browser sent none: %v", c)
		}
		logs := f.logs.records(t, "logout")
		if len(logs) != 1 || logs[0]["initiator"] != "idp" || logs[0]["result"] != "success" || logs[0]["request_id"] != req.ID ||
			logs[0]["sessions_ended"] != float64(2) || logs[0]["session_index"] == nil {
			t.Errorf("logout log %v", logs)
		}
		if n := len(f.logs.records(t, "request failed")); n != 0 {
			t.Errorf("%d failures logged", n)
		}
		f.checkNoNationalID(t)
	})
	t.Run("ok/browser-cookie-of-the-named-session-is-cleared", func(t *testing.T) {
		f := newSLOFixture(t)
		target := f.session(t, "idp", "_name", "_idx1")
		req := f.idpRequest("_name", "_idx1")
		rec := f.slo(f.signedRequest(t, req, "r"), target)
		f.checkLogoutResponse(t, rec, req.ID, "r")
		if c := cookieNamed(rec, f.srv.Opt.CookieName); c == nil || c.MaxAge >= 0 {
			t.Errorf("session cookie not cleared: %v", c)
		}
		if f.alive(t, target) {
			t.Error("session alive")
		}
	})
	t.Run("ok/browser-cookie-of-another-session-is-kept", func(t *testing.T) {
		f := newSLOFixture(t)
		mine := f.session(t, "idp", "_mine", "_idx9")
		req := f.idpRequest("_name", "_idx1")
		rec := f.slo(f.signedRequest(t, req, "r"), mine)
		f.checkLogoutResponse(t, rec, req.ID, "r")
		if c := cookieNamed(rec, f.srv.Opt.CookieName); c != nil {
			t.Errorf("cookie of an unnamed session cleared: %v", c)
		}
		if !f.alive(t, mine) {
			t.Error("unnamed session ended")
		}
	})
	t.Run("ok/no-session-left-still-answers-success", func(t *testing.T) {
		f := newSLOFixture(t)
		req := f.idpRequest("_gone", "_idx1")
		rec := f.slo(f.signedRequest(t, req, "chain-on"))
		f.checkLogoutResponse(t, rec, req.ID, "chain-on")
		logs := f.logs.records(t, "logout")
		if len(logs) != 1 || logs[0]["sessions_ended"] != float64(0) {
			t.Errorf("logout log %v", logs)
		}
	})
	t.Run("ok/no-relaystate", func(t *testing.T) {
		f := newSLOFixture(t)
		req := f.idpRequest("_name", "_idx1")
		rec := f.slo(f.signedRequest(t, req, ""))
		f.checkLogoutResponse(t, rec, req.ID, "")
		if loc := rec.Header().Get("Location"); strings.Contains(loc, "RelayState") {
			t.Errorf("empty RelayState sent: %s", loc)
		}
	})
	t.Run("ok/without-sessionindex-ends-every-session-of-the-nameid", func(t *testing.T) {
		f := newSLOFixture(t)
		ended := []*http.Cookie{
			f.session(t, "idp", "_name", "_idx1"), f.session(t, "idp", "_name", "_idx2"), f.session(t, "post", "_name", "_idx3"),
		}
		kept := []*http.Cookie{f.session(t, "idp", "_other", "_idx1"), f.session(t, "other", "_name", "_idx1")}
		req := f.idpRequest("_name")
		rec := f.slo(f.signedRequest(t, req, "all"))
		f.checkLogoutResponse(t, rec, req.ID, "all")
		for i, ck := range ended {
			if f.alive(t, ck) {
				t.Errorf("session %d of the NameID survived", i)
			}
		}
		for i, ck := range kept {
			if !f.alive(t, ck) {
				t.Errorf("unrelated session %d ended", i)
			}
		}
	})
	t.Run("ok/two-sessionindexes", func(t *testing.T) {
		f := newSLOFixture(t)
		a, b, c := f.session(t, "idp", "_name", "_a"), f.session(t, "idp", "_name", "_b"), f.session(t, "idp", "_name", "_c")
		req := f.idpRequest("_name", "_a", "_b")
		f.checkLogoutResponse(t, f.slo(f.signedRequest(t, req, "r")), req.ID, "r")
		if f.alive(t, a) || f.alive(t, b) || !f.alive(t, c) {
			t.Errorf("alive: a %v b %v c %v; want only c", f.alive(t, a), f.alive(t, b), f.alive(t, c))
		}
	})
	t.Run("ok/relaystate-with-special-characters", func(t *testing.T) {
		f := newSLOFixture(t)
		req := f.idpRequest("_name", "_idx1")
		relay := "a&b=c d+/%41"
		f.checkLogoutResponse(t, f.slo(f.signedRequest(t, req, relay)), req.ID, relay)
	})
	t.Run("ok/url-order-is-not-signed", func(t *testing.T) {
		// The signature covers the parameters in the binding's order, rebuilt by the receiver;
		// a browser or proxy that sends them in another order changes nothing signed.
		f := newSLOFixture(t)
		target := f.session(t, "idp", "_name", "_idx1")
		req := f.idpRequest("_name", "_idx1")
		q := sloQuery{Param: saml.ParamSAMLRequest, XML: req.String(), RelayState: "r", Key: f.idpKey}
		p := q.parts(t)
		sig := q.sign(t, strings.Join(p, "&"))
		rec := f.slo("locale=nb&" + strings.Join([]string{sig, p[2], p[1], p[0]}, "&"))
		f.checkLogoutResponse(t, rec, req.ID, "r")
		if f.alive(t, target) {
			t.Error("session alive")
		}
	})
	t.Run("ok/sha1-where-the-idp-allows-it", func(t *testing.T) {
		f := newSLOFixture(t)
		for _, idp := range []string{"idp", "post"} {
			f.srv.IdPs[idp].Policy.Algorithms = saml.DefaultAlgorithms().WithSHA1()
		}
		target := f.session(t, "idp", "_name", "_idx1")
		req := f.idpRequest("_name", "_idx1")
		rec := f.slo(sloQuery{Param: saml.ParamSAMLRequest, XML: req.String(), RelayState: "r", SigAlg: saml.AlgRSASHA1, Key: f.idpKey}.encode(t))
		f.checkLogoutResponse(t, rec, req.ID, "r")
		if f.alive(t, target) {
			t.Error("session alive")
		}
	})
	t.Run("ok/other-idp-ends-only-its-own-sessions", func(t *testing.T) {
		f := newSLOFixture(t)
		mine := f.session(t, "idp", "_name", "_idx1")
		theirs := f.session(t, "other", "_name", "_idx1")
		req := f.idpRequest("_name", "_idx1")
		req.Issuer = sloOtherEntityID
		rec := f.slo(sloQuery{Param: saml.ParamSAMLRequest, XML: req.String(), RelayState: "r", Key: f.otherKey}.encode(t))
		if _, relay := f.sentRedirect(t, rec, "https://other-idp.example/slo", saml.ParamSAMLResponse); relay != "r" {
			t.Errorf("RelayState %q", relay)
		}
		if !f.alive(t, mine) || f.alive(t, theirs) {
			t.Errorf("alive: idp's %v (want true), other's %v (want false)", f.alive(t, mine), f.alive(t, theirs))
		}
	})
}

// csrfFromIndex reads the logout form's token from the index page.
func csrfFromIndex(t testing.TB, f *sloFixture, ck *http.Cookie) string {
	t.Helper()
	rec := f.get("/", "", ck)
	m := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil || m[1] == "" {
		t.Fatalf("index page has no logout form with a CSRF token (status %d):\n%s", rec.Code, rec.Body)
	}
	return m[1]
}

func TestSLOSPInitiated(t *testing.T) {
	t.Run("ok/get-logout-then-idp-success", func(t *testing.T) {
		f := newSLOFixture(t)
		ck := f.session(t, "idp", "_name", "_idx1")
		other := f.session(t, "idp", "_name", "_idx2")
		reqID, relay := f.spLogout(t, ck, "_name", "_idx1")
		if !f.alive(t, other) {
			t.Error("GET /logout ended another session of the same NameID")
		}
		rec := f.slo(f.signedResponse(t, f.idpResponse(reqID), relay))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), sloLoggedOutText) || strings.Contains(rec.Body.String(), sloPartialText) {
			t.Fatalf("status %d, want the logged-out page:\n%s", rec.Code, rec.Body)
		}
		logs := f.logs.records(t, "logout")
		if len(logs) != 2 || logs[0]["result"] != "sent" || logs[0]["session_index"] != "_idx1" ||
			logs[1]["result"] != "success" || logs[1]["request_id"] != reqID {
			t.Errorf("logout logs %v", logs)
		}
		if n := len(f.logs.records(t, "request failed")); n != 0 {
			t.Errorf("%d failures logged", n)
		}
		// The pending logout is used up.
		rec = f.slo(f.signedResponse(t, f.idpResponse(reqID), relay))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("second LogoutResponse: status %d", rec.Code)
		}
		f.checkNoNationalID(t)
	})
	t.Run("ok/logged-out-url", func(t *testing.T) {
		f := newSLOFixture(t)
		f.srv.Opt.LoggedOutURL = "https://portal.example.no/bye"
		ck := f.session(t, "idp", "_name", "_idx1")
		reqID, relay := f.spLogout(t, ck, "_name", "_idx1")
		rec := f.slo(f.signedResponse(t, f.idpResponse(reqID), relay))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "https://portal.example.no/bye" {
			t.Fatalf("status %d Location %q, want 303 to LoggedOutURL", rec.Code, rec.Header().Get("Location"))
		}
	})
	for _, tc := range []struct {
		name   string
		status []string
	}{
		{"ok/responder-is-partial", []string{saml.StatusPrefix + "Responder"}},
		{"ok/responder-partiallogout-is-partial", []string{saml.StatusPrefix + "Responder", saml.StatusPrefix + "PartialLogout"}},
		{"ok/success-partiallogout-is-partial", []string{saml.StatusSuccess, saml.StatusPrefix + "PartialLogout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSLOFixture(t)
			f.srv.Opt.LoggedOutURL = "https://portal.example.no/bye" // not for a partial logout
			ck := f.session(t, "idp", "_name", "_idx1")
			reqID, relay := f.spLogout(t, ck, "_name", "_idx1")
			rec := f.slo(f.signedResponse(t, f.idpResponse(reqID, tc.status...), relay))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), sloPartialText) {
				t.Fatalf("status %d, want the partial page:\n%s", rec.Code, rec.Body)
			}
			if logs := f.logs.records(t, "logout"); len(logs) != 2 || logs[1]["result"] != "partial" {
				t.Errorf("logout logs %v", logs)
			}
		})
	}
	t.Run("ok/get-logout-without-session", func(t *testing.T) {
		f := newSLOFixture(t)
		for _, cks := range [][]*http.Cookie{nil, {{Name: f.srv.Opt.CookieName, Value: "no-such-session"}}} {
			rec := f.get("/logout", "", cks...)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), sloLoggedOutText) {
				t.Errorf("status %d, want the logged-out page:\n%s", rec.Code, rec.Body)
			}
		}
	})
	t.Run("ok/idp-without-slo-ends-locally", func(t *testing.T) {
		f := newSLOFixture(t)
		ck := f.session(t, "idp", "_name", "_idx1")
		f.srv.IdPs["idp"].Policy.Descriptor.SingleLogout = nil
		rec := f.get("/logout", "", ck)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), sloLoggedOutText) || f.alive(t, ck) {
			t.Errorf("status %d alive %v:\n%s", rec.Code, f.alive(t, ck), rec.Body)
		}
	})
	t.Run("csrf", func(t *testing.T) {
		f := newSLOFixture(t)
		ck := f.session(t, "idp", "_name", "_idx1")
		otherCk := f.session(t, "idp", "_other", "_idx2")
		otherToken := csrfFromIndex(t, f, otherCk)
		for _, tc := range []struct{ name, body string }{
			{"fail/no-token", ""},
			{"fail/empty-token", "csrf="},
			{"fail/wrong-token", "csrf=" + strings.Repeat("0", 64)},
			{"fail/token-of-another-session", "csrf=" + otherToken},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.logs.records(t, "request failed"))
				req := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(ck)
				rec := httptest.NewRecorder()
				f.srv.Echo().ServeHTTP(rec, req)
				if rec.Code != http.StatusForbidden {
					t.Errorf("status %d, want 403", rec.Code)
				}
				if !f.alive(t, ck) {
					t.Fatal("session ended by a logout without a valid CSRF token")
				}
				if c := cookieNamed(rec, f.srv.Opt.CookieName); c != nil {
					t.Errorf("cookie touched: %v", c)
				}
				fails := f.logs.records(t, "request failed")
				if len(fails) != before+1 || fails[len(fails)-1]["reason"] != "csrf" {
					t.Errorf("failure logs %v", fails)
				}
			})
		}
		t.Run("ok/token-from-the-index-page", func(t *testing.T) {
			token := csrfFromIndex(t, f, ck)
			page := f.request(http.MethodPost, "/logout", "csrf="+url.QueryEscape(token), ck)
			m := regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)">`).FindStringSubmatch(page.Body.String())
			if page.Code != http.StatusOK || m == nil {
				t.Fatalf("POST /logout: %d, no meta refresh to the IdP:\n%s", page.Code, page.Body)
			}
			rec := httptest.NewRecorder()
			rec.Header().Set("Location", html.UnescapeString(m[1]))
			rec.WriteHeader(http.StatusFound)
			msg, relay := f.sentRedirect(t, rec, sloIdPLocation, saml.ParamSAMLRequest)
			if !strings.Contains(string(msg), ">_idx1<") || relay == "" {
				t.Errorf("LogoutRequest %s relay %q", msg, relay)
			}
			if f.alive(t, ck) {
				t.Error("session alive after POST /logout")
			}
			if !f.alive(t, otherCk) {
				t.Error("another session ended")
			}
		})
	})
}

// sloBomb is a LogoutRequest of a few KB that inflates far past the cap.
func sloBomb(t testing.TB, f *sloFixture) string {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write([]byte(f.idpRequest("_name", "_idx1").String()))
	w.Write(make([]byte, 20<<20))
	w.Close()
	if buf.Len() > 64<<10 {
		t.Fatalf("bomb is %d bytes", buf.Len())
	}
	signed := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&RelayState=r&SigAlg=" + url.QueryEscape(saml.AlgRSASHA256)
	sig := sloOpenSSLSign(t, f.idpKey, "sha256", signed)
	return signed + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// TestSLORejects: each hostile or wrong message ends in an error page, one log line with the
// reason, and no session ended.
func TestSLORejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		path   string // default /saml/slo
		status int    // default 403
		reason string
		key    string // error page key; default "logout"
		// query builds the raw query; it may run requests first (a logout to answer) and
		// return sessions that must survive.
		query func(t *testing.T, f *sloFixture) (string, []*http.Cookie)
	}{
		{name: "fail/unsigned-request", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r"}.encode(t), nil
		}},
		{name: "fail/unsigned-with-sigalg", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			q := sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r"}
			return strings.Join(q.parts(t), "&"), nil
		}},
		{name: "fail/signed-by-another-key", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r", Key: f.otherKey}.encode(t), nil
		}},
		{name: "fail/signed-by-the-sp-key", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r", Key: keyPair(t)}.encode(t), nil
		}},
		{name: "fail/sha1-not-allowed", reason: "algorithm", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r", SigAlg: saml.AlgRSASHA1, Key: f.idpKey}.encode(t), nil
		}},
		{name: "fail/sigalg-changed-after-signing", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			q := f.signedRequest(t, f.idpRequest("_name", "_idx1"), "r")
			return strings.Replace(q, url.QueryEscape(saml.AlgRSASHA256), url.QueryEscape(saml.AlgRSASHA512), 1), nil
		}},
		{name: "fail/another-sp", reason: "destination", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			req := f.idpRequest("_name", "_idx1")
			req.Destination = "https://other-sp.example/saml/slo"
			return f.signedRequest(t, req, "r"), nil
		}},
		{name: "fail/no-destination", reason: "destination", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			xml := strings.Replace(f.idpRequest("_name", "_idx1").String(), ` Destination="`+f.sloURL()+`"`, "", 1)
			return sloQuery{Param: saml.ParamSAMLRequest, XML: xml, RelayState: "r", Key: f.idpKey}.encode(t), nil
		}},
		{name: "fail/unknown-issuer", reason: "issuer", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			req := f.idpRequest("_name", "_idx1")
			req.Issuer = "https://evil.example/idp"
			return f.signedRequest(t, req, "r"), nil
		}},
		{name: "fail/issuer-of-another-idp-signed-by-this-idp", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			req := f.idpRequest("_name", "_idx1")
			req.Issuer = sloOtherEntityID
			return f.signedRequest(t, req, "r"), []*http.Cookie{f.session(t, "other", "_name", "_idx1")}
		}},
		{name: "fail/signed-in-another-parameter-order", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			q := sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r", Key: f.idpKey}
			p := q.parts(t)
			reordered := p[1] + "&" + p[0] + "&" + p[2]
			return reordered + "&" + q.sign(t, reordered), nil
		}},
		{name: "fail/sigalg-signed-first", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			q := sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r", Key: f.idpKey}
			p := q.parts(t)
			reordered := p[2] + "&" + p[0] + "&" + p[1]
			return reordered + "&" + q.sign(t, reordered), nil
		}},
		{name: "fail/relaystate-changed-after-signing", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return strings.Replace(f.signedRequest(t, f.idpRequest("_name", "_idx1"), "relay-a"), "RelayState=relay-a", "RelayState=relay-b", 1), nil
		}},
		{name: "fail/relaystate-added-after-signing", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return f.signedRequest(t, f.idpRequest("_name", "_idx1"), "") + "&RelayState=added", nil
		}},
		{name: "fail/relaystate-removed-after-signing", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return strings.Replace(f.signedRequest(t, f.idpRequest("_name", "_idx1"), "gone"), "&RelayState=gone", "", 1), nil
		}},
		{name: "fail/message-swapped-after-signing", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			good := f.signedRequest(t, f.idpRequest("_name", "_idx1"), "r")
			evil := sloQuery{Param: saml.ParamSAMLRequest, XML: f.idpRequest("_name").String()}.parts(t)[0]
			return evil + good[strings.Index(good, "&RelayState="):], nil
		}},
		{name: "fail/deflate-bomb", reason: "too_large", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return sloBomb(t, f), nil
		}},
		{name: "fail/doctype", reason: "doctype", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			xml := `<!DOCTYPE x [<!ENTITY n "_name">]>` + f.idpRequest("_name", "_idx1").String()
			return sloQuery{Param: saml.ParamSAMLRequest, XML: xml, RelayState: "r", Key: f.idpKey}.encode(t), nil
		}},
		{name: "fail/captured-assertion-wrapped", reason: "malformed", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			req := f.idpRequest("_name", "_idx1")
			req.Extra = `<saml:Assertion ID="_captured" Version="2.0" IssueInstant="2026-03-02T10:00:00Z"><saml:Issuer>` + testIdPEntityID +
				`</saml:Issuer><saml:Subject><saml:NameID>_name</saml:NameID></saml:Subject></saml:Assertion>`
			return f.signedRequest(t, req, "r"), nil
		}},
		{name: "fail/too-old", reason: "time", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			req := f.idpRequest("_name", "_idx1")
			req.IssueInstant = f.clock.Now().Add(-time.Hour)
			return f.signedRequest(t, req, "r"), nil
		}},
		{name: "fail/logoutrequest-as-samlresponse", reason: "malformed", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return sloQuery{Param: saml.ParamSAMLResponse, XML: f.idpRequest("_name", "_idx1").String(), RelayState: "r", Key: f.idpKey}.encode(t), nil
		}},
		{name: "fail/request-and-response", reason: "malformed", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			q := f.signedRequest(t, f.idpRequest("_name", "_idx1"), "r")
			return q + "&SAMLResponse=" + sloDeflate(t, []byte(f.idpResponse("_x").String())), nil
		}},
		{name: "fail/replayed-request", status: http.StatusBadRequest, key: "expired", reason: "replay", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			req := f.idpRequest("_replay", "_ridx")
			f.session(t, "idp", "_replay", "_ridx")
			first := f.slo(f.signedRequest(t, req, "r"))
			f.checkLogoutResponse(t, first, req.ID, "r")
			// The user logs in again; the old LogoutRequest must not end the new session.
			again := f.session(t, "idp", "_replay", "_ridx")
			return f.signedRequest(t, req, "other-relay"), []*http.Cookie{again}
		}},
		{name: "fail/response-unknown-relaystate", status: http.StatusBadRequest, key: "logout", reason: "pending_logout", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			return f.signedResponse(t, f.idpResponse("_never-sent"), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), nil
		}},
		{name: "fail/response-without-relaystate", reason: "in_response_to", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			reqID, _ := f.spLogout(t, ck, "_sp", "_spidx")
			return f.signedResponse(t, f.idpResponse(reqID), ""), nil
		}},
		{name: "fail/response-to-another-request", reason: "in_response_to", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			_, relay := f.spLogout(t, ck, "_sp", "_spidx")
			return f.signedResponse(t, f.idpResponse("_not-our-request"), relay), nil
		}},
		{name: "fail/response-without-inresponseto", reason: "in_response_to", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			_, relay := f.spLogout(t, ck, "_sp", "_spidx")
			return f.signedResponse(t, f.idpResponse(""), relay), nil
		}},
		{name: "fail/response-from-another-idp", reason: "in_response_to", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			reqID, relay := f.spLogout(t, ck, "_sp", "_spidx")
			resp := f.idpResponse(reqID)
			resp.Issuer = sloOtherEntityID
			return sloQuery{Param: saml.ParamSAMLResponse, XML: resp.String(), RelayState: relay, Key: f.otherKey}.encode(t), nil
		}},
		{name: "fail/response-relaystate-changed", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			reqID, relay := f.spLogout(t, ck, "_sp", "_spidx")
			q := f.signedResponse(t, f.idpResponse(reqID), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
			return strings.Replace(q, "RelayState=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "RelayState="+url.QueryEscape(relay), 1), nil
		}},
		{name: "fail/response-unsigned", reason: "signature", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			reqID, relay := f.spLogout(t, ck, "_sp", "_spidx")
			return sloQuery{Param: saml.ParamSAMLResponse, XML: f.idpResponse(reqID).String(), RelayState: relay}.encode(t), nil
		}},
		{name: "fail/response-to-a-login", reason: "in_response_to", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			relay, _ := f.pendingFor(t, "p3")
			return f.signedResponse(t, f.idpResponse("_whatever"), relay), nil
		}},
		{name: "fail/logout-relaystate-at-acs", path: "/saml/acs", status: http.StatusBadRequest, key: "expired", reason: "pending_login", query: func(t *testing.T, f *sloFixture) (string, []*http.Cookie) {
			ck := f.session(t, "idp", "_sp", "_spidx")
			_, relay := f.spLogout(t, ck, "_sp", "_spidx")
			art := saml.Artifact{SourceID: saml.SourceID(testIdPEntityID)}.String()
			return "SAMLart=" + url.QueryEscape(art) + "&RelayState=" + url.QueryEscape(relay), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSLOFixture(t)
			victims := []*http.Cookie{
				f.session(t, "idp", "_name", "_idx1"), f.session(t, "post", "_name", "_idx1"), f.session(t, "idp", "_name", "_idx2"),
			}
			q, more := tc.query(t, f)
			victims = append(victims, more...)
			before := len(f.logs.records(t, "request failed"))
			path := tc.path
			if path == "" {
				path = "/saml/slo"
			}
			rec := f.get(path, q, victims[0])
			want := tc.status
			if want == 0 {
				want = http.StatusForbidden
			}
			if rec.Code != want {
				t.Errorf("status %d, want %d\n%s", rec.Code, want, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), `class="error"`) {
				t.Errorf("no error page:\n%s", rec.Body)
			}
			fails := f.logs.records(t, "request failed")
			if len(fails) != before+1 {
				t.Fatalf("%d new failure lines, want 1: %v", len(fails)-before, fails)
			}
			last := fails[len(fails)-1]
			if last["reason"] != tc.reason {
				t.Errorf("reason %v, want %s (err %v)", last["reason"], tc.reason, last["err"])
			}
			key := tc.key
			if key == "" {
				key = "logout"
			}
			if last["error_key"] != key {
				t.Errorf("error key %v, want %s", last["error_key"], key)
			}
			for i, ck := range victims {
				if !f.alive(t, ck) {
					t.Errorf("session %d ended", i)
				}
			}
			if c := cookieNamed(rec, f.srv.Opt.CookieName); c != nil {
				t.Errorf("session cookie touched: %v", c)
			}
			if strings.HasPrefix(path, "/saml/slo") && rec.Header().Get("Location") != "" {
				t.Errorf("redirected to %s", rec.Header().Get("Location"))
			}
			f.checkNoNationalID(t)
		})
	}
}

// TestSLOSharedEntityIsDeterministic: two configured IdP entries may name one IdP entity (two
// profiles' entries), each with its own algorithm allow-list. Whether a LogoutRequest is
// accepted must not depend on Go's map order.
func TestSLOSharedEntityIsDeterministic(t *testing.T) {
	f := newSLOFixture(t)
	// Separate policies, as cmd/eidsp builds them: one entry allows SHA-1, the other does not.
	post := *f.srv.IdPs["post"].Policy
	post.Algorithms = saml.DefaultAlgorithms().WithSHA1()
	f.srv.IdPs["post"].Policy = &post
	codes := map[int]int{}
	for range 24 {
		req := f.idpRequest("_name", "_idx1")
		rec := f.slo(sloQuery{Param: saml.ParamSAMLRequest, XML: req.String(), RelayState: "r", SigAlg: saml.AlgRSASHA1, Key: f.idpKey}.encode(t))
		codes[rec.Code]++
	}
	if len(codes) != 1 {
		t.Errorf("the same SHA-1 LogoutRequest got status codes %v: the allow-list is picked by map order", codes)
	}
}

// FuzzSLO sends arbitrary raw queries to /saml/slo while a session and a pending logout
// exist. Nothing random can carry a valid signature, so nothing may end a session, and nothing
// may panic or fail other than through the error page.
func FuzzSLO(f *testing.F) {
	fx := newSLOFixture(f)
	// Seeds from the table tests. The signed ones are made with our Signer (independent signing
	// is the table tests' business, and openssl may be missing) for a NameID no victim has, so
	// that a seed that does verify ends nothing of the test's.
	signGo := func(q sloQuery) string {
		u, err := saml.Signer{Key: fx.idpKey.Key, Alg: q.alg()}.RedirectURL("https://x.example/", q.Param, []byte(q.XML), q.RelayState, nil)
		if err != nil {
			f.Fatal(err)
		}
		pu, err := url.Parse(u)
		if err != nil {
			f.Fatal(err)
		}
		return pu.RawQuery
	}
	req := fx.idpRequest("_seed", "_idx1")
	seeds := []string{
		signGo(sloQuery{Param: saml.ParamSAMLRequest, XML: req.String(), RelayState: "r"}),
		signGo(sloQuery{Param: saml.ParamSAMLResponse, XML: fx.idpResponse("_x").String(), RelayState: "RELAY"}),
		sloQuery{Param: saml.ParamSAMLRequest, XML: fx.idpRequest("_name", "_idx1").String(), RelayState: "r"}.encode(f),
		sloQuery{Param: saml.ParamSAMLResponse, XML: fx.idpResponse("_x").String(), RelayState: "RELAY"}.encode(f),
		"SAMLRequest=%%%",
		"SAMLRequest=AAAA&SigAlg=x&Signature=AAAA",
		"SAMLResponse=" + sloDeflate(f, []byte("<x/>")) + "&RelayState=RELAY",
		"SAMLRequest=" + sloDeflate(f, []byte(`<!DOCTYPE a [<!ENTITY b "c">]><a/>`)),
		"RelayState=RELAY",
		"",
		"SAMLRequest=a&SAMLRequest=b",
		"SAMLRequest=" + sloDeflate(f, []byte(req.String())) + "&Signature=" + strings.Repeat("A", 344),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	fx.session(f, "idp", "_seed", "_idx1") // the seed's own target; ending it is allowed
	victims := []*http.Cookie{fx.session(f, "idp", "_name", "_idx1"), fx.session(f, "post", "_name", "_idx2"), fx.session(f, "idp", "_name", "_idx3")}
	// A pending logout, so that RELAY stands for a live RelayState. Random input cannot verify,
	// so it is never taken.
	relay := "none"
	if loc, err := url.Parse(fx.get("/logout", "", fx.session(f, "idp", "_sp", "_spidx")).Header().Get("Location")); err == nil {
		relay = loc.Query().Get("RelayState")
	}
	f.Fuzz(func(t *testing.T, query string) {
		// A fresh log per input keeps every execution equally cheap.
		logs := &logBuffer{}
		fx.srv.Log = slog.New(slog.NewJSONHandler(logs, nil))
		query = strings.ReplaceAll(query, "RELAY", url.QueryEscape(relay))
		rec := fx.slo(query, victims[0])
		if rec.Code >= 500 && !strings.Contains(rec.Body.String(), `class="error"`) {
			t.Fatalf("query %q: status %d without the error page:\n%s", query, rec.Code, rec.Body)
		}
		if rec.Code < 400 && rec.Code != http.StatusFound {
			t.Fatalf("query %q: status %d", query, rec.Code)
		}
		if strings.Contains(logs.String(), `"reason":"panic"`) {
			t.Fatalf("query %q: a handler panicked", query)
		}
		for i, ck := range victims {
			if !fx.alive(t, ck) {
				t.Fatalf("query %q: session %d ended", query, i)
			}
		}
		if c := cookieNamed(rec, fx.srv.Opt.CookieName); c != nil {
			t.Fatalf("query %q: session cookie touched: %v", query, c)
		}
	})
}
