package saml

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The logout tests run at a fixed instant against one IdP and one SP logout endpoint.
var logoutNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	logoutIdP    = "https://idp.example/idp"
	logoutSPSLO  = "https://sp.example.no/saml/slo"
	logoutIdPSLO = "https://idp.example/idp/slo"
	logoutSkew   = 3 * time.Minute
	logoutMaxAge = 5 * time.Minute
)

func logoutCheck() LogoutCheck {
	return LogoutCheck{Issuer: logoutIdP, Destination: logoutSPSLO, Now: logoutNow, Skew: logoutSkew,
		MaxAge: logoutMaxAge, Limits: DefaultLimits()}
}

// baseLogoutRequest is what an IdP sends us: transient NameID, one session index.
func baseLogoutRequest() LogoutRequest {
	return LogoutRequest{ID: "_lr1", IssueInstant: logoutNow, Issuer: logoutIdP, Destination: logoutSPSLO,
		NameID: "_name", NameIDFormat: NameIDFormatTransient, SessionIndexes: []string{"_idx1"}}
}

func baseLogoutResponse() LogoutResponse {
	return LogoutResponse{ID: "_lres1", IssueInstant: logoutNow, Issuer: logoutIdP, Destination: logoutSPSLO,
		InResponseTo: "_lr0"}
}

func mustBuild(t testing.TB, b interface{ Build() ([]byte, error) }) string {
	t.Helper()
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestLogoutBuildSchema(t *testing.T) {
	withNOA := baseLogoutRequest()
	withNOA.NotOnOrAfter = logoutNow.Add(15 * time.Minute)
	noIndex := baseLogoutRequest()
	noIndex.SessionIndexes = nil
	noFormat := baseLogoutRequest()
	noFormat.NameIDFormat = ""
	twoIndexes := baseLogoutRequest()
	twoIndexes.SessionIndexes = []string{"_idx1", "_idx2"}
	partial := baseLogoutResponse()
	partial.Status = []string{StatusPrefix + "Responder", StatusPrefix + "PartialLogout"}
	explicit := baseLogoutResponse()
	explicit.Status = []string{StatusSuccess}
	noIRT := baseLogoutResponse()
	noIRT.InResponseTo = ""
	for _, tc := range []struct {
		name string
		msg  interface{ Build() ([]byte, error) }
	}{
		{"ok/request-with-sessionindex", baseLogoutRequest()},
		{"ok/request-without-sessionindex", noIndex},
		{"ok/request-two-sessionindexes", twoIndexes},
		{"ok/request-notonorafter", withNOA},
		{"ok/request-no-nameid-format", noFormat},
		{"ok/response-success-default", baseLogoutResponse()},
		{"ok/response-success-explicit", explicit},
		{"ok/response-responder-partiallogout", partial},
		{"ok/response-without-inresponseto", noIRT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := mustBuild(t, tc.msg)
			validateSchema(t, []byte(out))
		})
	}
	t.Run("ok/notonorafter-written", func(t *testing.T) {
		if out := mustBuild(t, withNOA); !strings.Contains(out, `NotOnOrAfter="2026-03-02T10:15:00.000Z"`) {
			t.Errorf("NotOnOrAfter missing:\n%s", out)
		}
		if out := mustBuild(t, baseLogoutRequest()); strings.Contains(out, "NotOnOrAfter") {
			t.Errorf("zero NotOnOrAfter written:\n%s", out)
		}
	})
	t.Run("ok/status-nesting", func(t *testing.T) {
		out := mustBuild(t, partial)
		want := `<samlp:Status><samlp:StatusCode Value="` + StatusPrefix + `Responder"><samlp:StatusCode Value="` + StatusPrefix + `PartialLogout"/></samlp:StatusCode></samlp:Status>`
		if !strings.Contains(out, want) {
			t.Errorf("status not nested:\n%s", out)
		}
	})
	t.Run("ok/text-is-escaped", func(t *testing.T) {
		r := baseLogoutRequest()
		r.NameID = `a<b>&"c`
		validateSchema(t, []byte(mustBuild(t, r)))
		got, err := ParseLogoutRequest([]byte(mustBuild(t, r)), logoutCheck())
		if err != nil || got.NameID != r.NameID {
			t.Fatalf("NameID %q does not round trip: %v %+v", r.NameID, err, got)
		}
	})
	for _, tc := range []struct {
		name string
		msg  interface{ Build() ([]byte, error) }
	}{
		{"fail/request-no-id", func() LogoutRequest { r := baseLogoutRequest(); r.ID = ""; return r }()},
		{"fail/request-no-issuer", func() LogoutRequest { r := baseLogoutRequest(); r.Issuer = ""; return r }()},
		{"fail/request-no-destination", func() LogoutRequest { r := baseLogoutRequest(); r.Destination = ""; return r }()},
		{"fail/request-no-nameid", func() LogoutRequest { r := baseLogoutRequest(); r.NameID = ""; return r }()},
		{"fail/response-no-id", func() LogoutResponse { r := baseLogoutResponse(); r.ID = ""; return r }()},
		{"fail/response-no-issuer", func() LogoutResponse { r := baseLogoutResponse(); r.Issuer = ""; return r }()},
		{"fail/response-no-destination", func() LogoutResponse { r := baseLogoutResponse(); r.Destination = ""; return r }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := tc.msg.Build(); err == nil {
				t.Fatalf("built %s", out)
			}
		})
	}
}

// redirectSpan returns the octets of rawQuery from "param=" up to "&Signature=" exactly as
// sent, and the decoded signature; by hand, sharing no code with ParseRedirect.
func redirectSpan(t testing.TB, rawQuery, param string) (string, []byte) {
	t.Helper()
	start := strings.Index(rawQuery, param+"=")
	end := strings.Index(rawQuery, "&"+ParamSignature+"=")
	if start < 0 || end < start {
		t.Fatalf("query %q has no %s…&Signature= span", rawQuery, param)
	}
	sigEnc := rawQuery[end+len("&"+ParamSignature+"="):]
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
	return rawQuery[start:end], sig
}

func TestLogoutRedirectOpenSSL(t *testing.T) {
	sp := newTestKey(t, "sp")
	req := []byte(mustBuild(t, baseLogoutRequest()))
	resp := []byte(mustBuild(t, baseLogoutResponse()))
	for _, tc := range []struct {
		name, param, alg, digest string
		msg                      []byte
		relay                    string
	}{
		{"ok/request-rsa-sha256", ParamSAMLRequest, AlgRSASHA256, "sha256", req, "rs-1"},
		{"ok/request-rsa-sha1", ParamSAMLRequest, AlgRSASHA1, "sha1", req, "rs-1"},
		{"ok/response-rsa-sha256", ParamSAMLResponse, AlgRSASHA256, "sha256", resp, "rs-1"},
		{"ok/response-rsa-sha1", ParamSAMLResponse, AlgRSASHA1, "sha1", resp, "rs-1"},
		{"ok/response-no-relaystate", ParamSAMLResponse, AlgRSASHA256, "sha256", resp, ""},
		{"ok/request-relaystate-needs-escaping", ParamSAMLRequest, AlgRSASHA256, "sha256", req, "a&b=c d+/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := sp.signer(tc.alg).RedirectURL(logoutIdPSLO, tc.param, tc.msg, tc.relay, nil)
			if err != nil {
				t.Fatal(err)
			}
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			if pu.Scheme+"://"+pu.Host+pu.Path != logoutIdPSLO {
				t.Fatalf("sent to %s", u)
			}
			if !strings.HasPrefix(pu.RawQuery, tc.param+"=") {
				t.Fatalf("query does not start with %s: %q", tc.param, pu.RawQuery)
			}
			data, sig := redirectSpan(t, pu.RawQuery, tc.param)
			wantTail := "&SigAlg=" + url.QueryEscape(tc.alg)
			if tc.relay != "" {
				wantTail = "&RelayState=" + url.QueryEscape(tc.relay) + wantTail
			} else if strings.Contains(data, "RelayState") {
				t.Errorf("empty RelayState signed: %q", data)
			}
			if !strings.HasSuffix(data, wantTail) {
				t.Errorf("signed string %q does not end in %q", data, wantTail)
			}
			if !opensslVerify(t, sp, tc.digest, data, sig) {
				t.Fatalf("openssl rejects the signature over %q", data)
			}
			other := map[string]string{"sha256": "sha1", "sha1": "sha256"}[tc.digest]
			if opensslVerify(t, sp, other, data, sig) {
				t.Errorf("signature also verifies as %s", other)
			}
			q, err := url.ParseQuery(pu.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if q.Get(ParamRelayState) != tc.relay {
				t.Errorf("RelayState %q, want %q", q.Get(ParamRelayState), tc.relay)
			}
			deflated, err := base64.StdEncoding.DecodeString(q.Get(tc.param))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := readAllFlate(deflated); err != nil || !bytes.Equal(got, tc.msg) {
				t.Errorf("%s does not inflate to the message: %v", tc.param, err)
			}
			// Our own receiver takes it too.
			m, err := ParseRedirect(pu.RawQuery, maxInflated)
			if err != nil {
				t.Fatal(err)
			}
			if m.Param != tc.param || m.RelayState != tc.relay || !bytes.Equal(m.XML, tc.msg) {
				t.Errorf("parsed %s %q", m.Param, m.RelayState)
			}
			if err := m.Verify([]*x509.Certificate{sp.Cert}, DefaultAlgorithms().WithSHA1()); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// logoutCase is one received logout message and what parsing it must give.
type logoutCase struct {
	name   string
	xml    string
	reason Reason // "" for ok
}

func replaceOnce(t testing.TB, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// capturedAssertion is a signed Assertion as an attacker could have captured it elsewhere: it
// names a victim and carries a Signature the IdP made.
const capturedAssertion = `<saml:Assertion xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_captured" Version="2.0" IssueInstant="2026-03-02T10:00:00.000Z">` +
	`<saml:Issuer>` + logoutIdP + `</saml:Issuer>` +
	`<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
	`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>` +
	`<ds:Reference URI="#_captured"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>` +
	`</ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>` +
	`<saml:Subject><saml:NameID>victim</saml:NameID></saml:Subject>` +
	`<saml:AuthnStatement AuthnInstant="2026-03-02T09:59:00.000Z" SessionIndex="_victim_idx"/>` +
	`</saml:Assertion>`

const signatureElement = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
	`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
	`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>` +
	`<ds:Reference URI="#_lr1"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>` +
	`</ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>`

func logoutRequestCases(t testing.TB) []logoutCase {
	good := mustBuild(t, baseLogoutRequest())
	rep := func(old, new string) string { return replaceOnce(t, good, old, new) }
	issuer := "<saml:Issuer>" + logoutIdP + "</saml:Issuer>"
	nameID := `<saml:NameID Format="` + NameIDFormatTransient + `">_name</saml:NameID>`
	idx := "<samlp:SessionIndex>_idx1</samlp:SessionIndex>"
	build := func(mod func(*LogoutRequest)) string {
		r := baseLogoutRequest()
		mod(&r)
		return mustBuild(t, r)
	}
	return []logoutCase{
		{name: "ok/own-message", xml: good},
		{name: "ok/no-sessionindex", xml: build(func(r *LogoutRequest) { r.SessionIndexes = nil })},
		{name: "ok/two-sessionindexes", xml: build(func(r *LogoutRequest) { r.SessionIndexes = []string{"_idx1", "_idx2"} })},
		{name: "ok/notonorafter-ahead", xml: build(func(r *LogoutRequest) { r.NotOnOrAfter = logoutNow.Add(time.Minute) })},
		{name: "ok/notonorafter-within-skew", xml: build(func(r *LogoutRequest) { r.NotOnOrAfter = logoutNow.Add(-logoutSkew + time.Second) })},
		{name: "ok/issueinstant-max-age", xml: build(func(r *LogoutRequest) { r.IssueInstant = logoutNow.Add(-logoutMaxAge) })},
		{name: "ok/issueinstant-within-skew-ahead", xml: build(func(r *LogoutRequest) { r.IssueInstant = logoutNow.Add(logoutSkew - time.Second) })},
		{name: "ok/issuer-entity-format", xml: rep("<saml:Issuer>", `<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">`)},
		{name: "ok/default-namespaces", xml: `<LogoutRequest xmlns="` + NSProtocol + `" ID="_lr1" Version="2.0" IssueInstant="2026-03-02T10:00:00Z" Destination="` + logoutSPSLO + `">` +
			`<Issuer xmlns="` + NSAssertion + `">` + logoutIdP + `</Issuer><NameID xmlns="` + NSAssertion + `" Format="` + NameIDFormatTransient + `">_name</NameID>` +
			`<SessionIndex>_idx1</SessionIndex></LogoutRequest>`},
		{name: "ok/xml-declaration", xml: `<?xml version="1.0" encoding="UTF-8"?>` + good},

		{name: "fail/wrong-issuer", xml: rep(issuer, "<saml:Issuer>https://evil.example/idp</saml:Issuer>"), reason: ReasonIssuer},
		{name: "fail/issuer-missing", xml: rep(issuer, ""), reason: ReasonIssuer},
		{name: "fail/two-issuers", xml: rep(issuer, issuer+issuer), reason: ReasonIssuer},
		{name: "fail/issuer-format-not-entity", xml: rep("<saml:Issuer>", `<saml:Issuer Format="`+NameIDFormatTransient+`">`), reason: ReasonIssuer},
		{name: "fail/wrong-destination", xml: rep(`Destination="`+logoutSPSLO+`"`, `Destination="https://other-sp.example/saml/slo"`), reason: ReasonDestination},
		{name: "fail/missing-destination", xml: rep(` Destination="`+logoutSPSLO+`"`, ""), reason: ReasonDestination},
		{name: "fail/destination-prefix", xml: rep(`Destination="`+logoutSPSLO+`"`, `Destination="`+logoutSPSLO+`/x"`), reason: ReasonDestination},
		{name: "fail/notonorafter-expired", xml: build(func(r *LogoutRequest) { r.NotOnOrAfter = logoutNow.Add(-logoutSkew) }), reason: ReasonTime},
		{name: "fail/notonorafter-not-utc", xml: rep(`IssueInstant=`, `NotOnOrAfter="2026-03-02T12:00:00+02:00" IssueInstant=`), reason: ReasonMalformed},
		{name: "fail/issueinstant-too-old", xml: build(func(r *LogoutRequest) { r.IssueInstant = logoutNow.Add(-logoutMaxAge - logoutSkew - time.Second) }), reason: ReasonTime},
		{name: "fail/issueinstant-in-future", xml: build(func(r *LogoutRequest) { r.IssueInstant = logoutNow.Add(logoutSkew + time.Second) }), reason: ReasonTime},
		{name: "fail/issueinstant-missing", xml: rep(` IssueInstant="2026-03-02T10:00:00.000Z"`, ""), reason: ReasonMalformed},
		{name: "fail/issueinstant-garbage", xml: rep(`IssueInstant="2026-03-02T10:00:00.000Z"`, `IssueInstant="yesterday"`), reason: ReasonMalformed},
		{name: "fail/version", xml: rep(`Version="2.0"`, `Version="1.1"`), reason: ReasonMalformed},
		{name: "fail/no-id", xml: rep(` ID="_lr1"`, ""), reason: ReasonMalformed},
		{name: "fail/two-nameids", xml: rep(nameID, nameID+`<saml:NameID>victim</saml:NameID>`), reason: ReasonMalformed},
		{name: "fail/no-nameid", xml: rep(nameID, ""), reason: ReasonMalformed},
		{name: "fail/empty-nameid", xml: rep(nameID, "<saml:NameID>  </saml:NameID>"), reason: ReasonMalformed},
		{name: "fail/nameid-with-element", xml: rep(nameID, "<saml:NameID>_name<saml:NameID>victim</saml:NameID></saml:NameID>"), reason: ReasonAssertion},
		{name: "fail/encryptedid", xml: rep(nameID, "<saml:EncryptedID/>"), reason: ReasonMalformed},
		{name: "fail/baseid", xml: rep(nameID, "<saml:BaseID/>"), reason: ReasonMalformed},
		{name: "fail/nameid-wrong-namespace", xml: rep(nameID, "<samlp:NameID>_name</samlp:NameID>"), reason: ReasonMalformed},
		{name: "fail/sessionindex-wrong-namespace", xml: rep(idx, "<saml:SessionIndex>_idx1</saml:SessionIndex>"), reason: ReasonMalformed},
		{name: "fail/sessionindex-with-element", xml: rep(idx, "<samlp:SessionIndex>_idx1<saml:NameID>x</saml:NameID></samlp:SessionIndex>"), reason: ReasonAssertion},
		// A signed Assertion captured elsewhere, wrapped in an attacker-made LogoutRequest
		// (ATTACKS.md, LogoutRequest wrapping; samlify GHSA-63ch-w8pw-4mf2).
		{name: "fail/embedded-assertion-after-issuer", xml: rep(issuer, issuer+capturedAssertion), reason: ReasonMalformed},
		{name: "fail/embedded-assertion-instead-of-nameid", xml: rep(nameID, capturedAssertion), reason: ReasonMalformed},
		{name: "fail/embedded-assertion-at-end", xml: rep(idx, idx+capturedAssertion), reason: ReasonMalformed},
		{name: "fail/embedded-assertion-in-extensions", xml: rep(issuer, issuer+"<samlp:Extensions>"+capturedAssertion+"</samlp:Extensions>"), reason: ReasonMalformed},
		{name: "fail/embedded-assertion-in-nameid", xml: rep(nameID, "<saml:NameID>"+capturedAssertion+"</saml:NameID>"), reason: ReasonAssertion},
		{name: "fail/embedded-signature", xml: rep(issuer, issuer+signatureElement), reason: ReasonMalformed},
		{name: "fail/extensions", xml: rep(issuer, issuer+"<samlp:Extensions/>"), reason: ReasonMalformed},
		{name: "fail/doctype", xml: `<!DOCTYPE samlp:LogoutRequest [<!ENTITY x "victim">]>` + good, reason: ReasonDoctype},
		{name: "fail/external-entity", xml: `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + rep(">_name<", ">&x;<"), reason: ReasonDoctype},
		{name: "fail/duplicate-ids", xml: rep(issuer, issuer+`<samlp:Extensions ID="_lr1"/>`), reason: ReasonSignature},
		{name: "fail/duplicate-id-in-captured-assertion", xml: rep(issuer, issuer+strings.Replace(capturedAssertion, `ID="_captured"`, `ID="_lr1"`, 1)), reason: ReasonSignature},
		{name: "fail/root-logoutresponse", xml: mustBuild(t, baseLogoutResponse()), reason: ReasonMalformed},
		{name: "fail/root-authnrequest", xml: strings.ReplaceAll(good, "samlp:LogoutRequest", "samlp:AuthnRequest"), reason: ReasonMalformed},
		{name: "fail/root-wrong-namespace", xml: rep(`xmlns:samlp="`+NSProtocol+`"`, `xmlns:samlp="urn:evil"`), reason: ReasonMalformed},
		{name: "fail/root-assertion", xml: strings.Replace(capturedAssertion, "<saml:Assertion ", `<saml:Assertion xmlns:saml="`+NSAssertion+`" `, 1), reason: ReasonMalformed},
		{name: "fail/not-xml", xml: "not xml at all", reason: ReasonMalformed},
		{name: "fail/empty", xml: "", reason: ReasonMalformed},
	}
}

func logoutResponseCases(t testing.TB) []logoutCase {
	good := mustBuild(t, baseLogoutResponse())
	rep := func(old, new string) string { return replaceOnce(t, good, old, new) }
	issuer := "<saml:Issuer>" + logoutIdP + "</saml:Issuer>"
	status := `<samlp:Status><samlp:StatusCode Value="` + StatusSuccess + `"/></samlp:Status>`
	build := func(mod func(*LogoutResponse)) string {
		r := baseLogoutResponse()
		mod(&r)
		return mustBuild(t, r)
	}
	return []logoutCase{
		{name: "ok/own-message", xml: good},
		{name: "ok/responder-partiallogout", xml: build(func(r *LogoutResponse) {
			r.Status = []string{StatusPrefix + "Responder", StatusPrefix + "PartialLogout"}
		})},
		{name: "ok/requester", xml: build(func(r *LogoutResponse) { r.Status = []string{StatusPrefix + "Requester"} })},
		{name: "ok/no-inresponseto", xml: build(func(r *LogoutResponse) { r.InResponseTo = "" })},
		{name: "ok/status-message", xml: rep("</samlp:Status>", "<samlp:StatusMessage>bye</samlp:StatusMessage></samlp:Status>")},

		{name: "fail/wrong-issuer", xml: rep(issuer, "<saml:Issuer>https://evil.example/idp</saml:Issuer>"), reason: ReasonIssuer},
		{name: "fail/issuer-missing", xml: rep(issuer, ""), reason: ReasonIssuer},
		{name: "fail/two-issuers", xml: rep(issuer, issuer+issuer), reason: ReasonIssuer},
		{name: "fail/wrong-destination", xml: rep(`Destination="`+logoutSPSLO+`"`, `Destination="https://other-sp.example/saml/slo"`), reason: ReasonDestination},
		{name: "fail/missing-destination", xml: rep(` Destination="`+logoutSPSLO+`"`, ""), reason: ReasonDestination},
		{name: "fail/issueinstant-too-old", xml: build(func(r *LogoutResponse) { r.IssueInstant = logoutNow.Add(-logoutMaxAge - logoutSkew - time.Second) }), reason: ReasonTime},
		{name: "fail/issueinstant-in-future", xml: build(func(r *LogoutResponse) { r.IssueInstant = logoutNow.Add(logoutSkew + time.Second) }), reason: ReasonTime},
		{name: "fail/issueinstant-not-utc", xml: rep(`IssueInstant="2026-03-02T10:00:00.000Z"`, `IssueInstant="2026-03-02T11:00:00+01:00"`), reason: ReasonMalformed},
		{name: "fail/status-missing", xml: rep(status, ""), reason: ReasonMalformed},
		{name: "fail/two-statuses", xml: rep(status, status+status), reason: ReasonMalformed},
		{name: "fail/status-without-statuscode", xml: rep(status, "<samlp:Status/>"), reason: ReasonMalformed},
		{name: "fail/status-wrong-namespace", xml: rep(status, `<saml:Status><saml:StatusCode Value="`+StatusSuccess+`"/></saml:Status>`), reason: ReasonMalformed},
		{name: "fail/embedded-assertion", xml: rep(status, status+capturedAssertion), reason: ReasonMalformed},
		{name: "fail/embedded-assertion-in-extensions", xml: rep(issuer, issuer+"<samlp:Extensions>"+capturedAssertion+"</samlp:Extensions>"), reason: ReasonMalformed},
		{name: "fail/embedded-signature", xml: rep(issuer, issuer+strings.Replace(signatureElement, "#_lr1", "#_lres1", 1)), reason: ReasonMalformed},
		{name: "fail/doctype", xml: `<!DOCTYPE x [<!ENTITY a "b">]>` + good, reason: ReasonDoctype},
		{name: "fail/duplicate-ids", xml: rep(status, status+`<samlp:Extensions ID="_lres1"/>`), reason: ReasonSignature},
		{name: "fail/version", xml: rep(`Version="2.0"`, `Version="3.0"`), reason: ReasonMalformed},
		{name: "fail/no-id", xml: rep(` ID="_lres1"`, ""), reason: ReasonMalformed},
		{name: "fail/root-logoutrequest", xml: mustBuild(t, baseLogoutRequest()), reason: ReasonMalformed},
		{name: "fail/root-response", xml: strings.ReplaceAll(good, "samlp:LogoutResponse", "samlp:Response"), reason: ReasonMalformed},
		{name: "fail/not-xml", xml: "<", reason: ReasonMalformed},
	}
}

func TestParseLogoutRequest(t *testing.T) {
	for _, tc := range logoutRequestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLogoutRequest([]byte(tc.xml), logoutCheck())
			if tc.reason != "" {
				wantReason(t, err, tc.reason)
				if r != nil {
					t.Errorf("rejected but returned %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v\n%s", err, tc.xml)
			}
			if r.ID != "_lr1" || r.Issuer != logoutIdP || r.Destination != logoutSPSLO || r.NameID != "_name" ||
				r.NameIDFormat != NameIDFormatTransient {
				t.Errorf("parsed %+v", r)
			}
		})
	}
	t.Run("ok/round-trip", func(t *testing.T) {
		want := baseLogoutRequest()
		want.SessionIndexes = []string{"_idx1", "_idx2"}
		want.NotOnOrAfter = logoutNow.Add(10 * time.Minute)
		got, err := ParseLogoutRequest([]byte(mustBuild(t, want)), logoutCheck())
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || !got.IssueInstant.Equal(want.IssueInstant) || got.Issuer != want.Issuer ||
			got.Destination != want.Destination || got.NameID != want.NameID || got.NameIDFormat != want.NameIDFormat ||
			!slices.Equal(got.SessionIndexes, want.SessionIndexes) || !got.NotOnOrAfter.Equal(want.NotOnOrAfter) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("ok/whole-text-of-split-nameid", func(t *testing.T) {
		// A comment or CDATA section must not shorten the NameID to its first text node
		// (CVE-2017-11427 family): reject or read it whole.
		for _, split := range []string{"_na<!---->me", "_na<![CDATA[me]]>"} {
			doc := strings.Replace(mustBuild(t, baseLogoutRequest()), ">_name<", ">"+split+"<", 1)
			r, err := ParseLogoutRequest([]byte(doc), logoutCheck())
			if err == nil && r.NameID != "_name" {
				t.Errorf("%s read as NameID %q", split, r.NameID)
			}
		}
	})
	t.Run("ok/matches-session", func(t *testing.T) {
		r := baseLogoutRequest()
		if !r.MatchesSession("_name", "_idx1") || r.MatchesSession("_name", "_idx2") || r.MatchesSession("_other", "_idx1") {
			t.Error("with SessionIndex: wrong match")
		}
		r.SessionIndexes = nil
		if !r.MatchesSession("_name", "_idx1") || !r.MatchesSession("_name", "_any") || r.MatchesSession("_other", "_idx1") {
			t.Error("without SessionIndex: wrong match")
		}
	})
}

func TestParseLogoutResponse(t *testing.T) {
	for _, tc := range logoutResponseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLogoutResponse([]byte(tc.xml), logoutCheck())
			if tc.reason != "" {
				wantReason(t, err, tc.reason)
				if r != nil {
					t.Errorf("rejected but returned %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v\n%s", err, tc.xml)
			}
			if r.ID != "_lres1" || r.Issuer != logoutIdP || r.Destination != logoutSPSLO || len(r.Status) == 0 {
				t.Errorf("parsed %+v", r)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		status  []string
		success bool
	}{
		{"ok/success", nil, true},
		{"ok/responder-partiallogout", []string{StatusPrefix + "Responder", StatusPrefix + "PartialLogout"}, false},
		{"ok/success-partiallogout", []string{StatusSuccess, StatusPrefix + "PartialLogout"}, true},
		{"ok/requester", []string{StatusPrefix + "Requester"}, false},
	} {
		t.Run("status/"+tc.name, func(t *testing.T) {
			want := baseLogoutResponse()
			want.Status = tc.status
			got, err := ParseLogoutResponse([]byte(mustBuild(t, want)), logoutCheck())
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := tc.status
			if wantStatus == nil {
				wantStatus = []string{StatusSuccess}
			}
			if !slices.Equal(got.Status, wantStatus) || got.Success() != tc.success || got.InResponseTo != "_lr0" ||
				!got.IssueInstant.Equal(logoutNow) {
				t.Errorf("got %+v (Success %v)", got, got.Success())
			}
		})
	}
}

func FuzzParseLogoutRequest(f *testing.F) {
	for _, tc := range logoutRequestCases(f) {
		f.Add([]byte(tc.xml))
	}
	chk := logoutCheck()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseLogoutRequest(data, chk)
		if ReasonOf(err) == ReasonPanic {
			t.Fatalf("panic: %v", err)
		}
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if r == nil || strings.TrimSpace(r.NameID) == "" || r.Destination != chk.Destination || r.Issuer != chk.Issuer || r.ID == "" {
			t.Fatalf("accepted %q as %+v", data, r)
		}
	})
}

func FuzzParseLogoutResponse(f *testing.F) {
	for _, tc := range logoutResponseCases(f) {
		f.Add([]byte(tc.xml))
	}
	chk := logoutCheck()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseLogoutResponse(data, chk)
		if ReasonOf(err) == ReasonPanic {
			t.Fatalf("panic: %v", err)
		}
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if r == nil || len(r.Status) == 0 || r.Destination != chk.Destination || r.Issuer != chk.Issuer || r.ID == "" {
			t.Fatalf("accepted %q as %+v", data, r)
		}
	})
}
