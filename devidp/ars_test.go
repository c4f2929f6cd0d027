package devidp

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

// loggedIn logs the default person in with TestID and returns the artifact and request ID.
func loggedIn(e *env) (art, requestID string) {
	e.t.Helper()
	r := e.fill(req{})
	art, _ = e.artifactFrom(e.login(e.get(e.redirectURL(r)), DefaultPersons()[0].NationalID, "testid-4"), e.sp.acsArtifact)
	return art, r.id
}

func TestArtifactResolveFaults(t *testing.T) {
	e := newEnv(t, nil)
	art, requestID := loggedIn(e)
	ks := testKeys()
	other := saml.Signer{Key: ks[keyOther], Cert: testCert(t, ks[keyOther], "other")}
	ars := e.base + "/idp/ars"
	unsigned := func() []byte {
		ar := etree.NewElement("samlp:ArtifactResolve")
		ar.CreateAttr("xmlns:samlp", saml.NSProtocol)
		ar.CreateAttr("xmlns:saml", saml.NSAssertion)
		ar.CreateAttr("ID", "_unsigned")
		ar.CreateAttr("Version", "2.0")
		ar.CreateAttr("IssueInstant", saml.FormatTime(e.clock.Now()))
		ar.CreateElement("saml:Issuer").SetText(e.sp.entityID)
		ar.CreateElement("samlp:Artifact").SetText(art)
		b, _ := saml.SOAPEnvelope(ar)
		return b
	}
	signedBy := func(s saml.Signer, issuer string) []byte {
		b, err := s.ArtifactResolve("_x", issuer, ars, art, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"fail/unsigned", unsigned()},
		{"fail/wrong-key", signedBy(other, e.sp.entityID)},
		{"fail/unknown-sp", signedBy(e.sp.signer, "https://unknown.example")},
		{"fail/not-xml", []byte("hello")},
		{"fail/doctype", []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)},
		{"fail/too-large", bytes.Repeat([]byte("<a>"), 200000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(ars, "text/xml", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(buf.String(), "<soapenv:Fault>") ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
				t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), buf.String())
			}
		})
	}
	// None of the refused attempts used the artifact up.
	if _, err := e.resolve(art, requestID, saml.InResponseToAuthnRequest); err != nil {
		t.Fatalf("artifact gone after refused attempts: %v", err)
	}
}

func TestArtifactOneTimeAndExpiry(t *testing.T) {
	t.Run("fail/second-resolution-empty", func(t *testing.T) {
		e := newEnv(t, nil)
		art, id := loggedIn(e)
		if _, err := e.resolve(art, id, saml.InResponseToAuthnRequest); err != nil {
			t.Fatal(err)
		}
		body := e.rawResolve(e.sp, art)
		if !strings.Contains(body, saml.StatusSuccess) || strings.Contains(body, "<samlp:Response") {
			t.Fatalf("second resolution is not an empty success: %s", body)
		}
		if _, err := e.resolve(art, id, saml.InResponseToAuthnRequest); saml.ReasonOf(err) != saml.ReasonMalformed {
			t.Fatalf("SP accepted or misjudged an empty ArtifactResponse: %v", err)
		}
	})
	t.Run("fail/expired", func(t *testing.T) {
		e := newEnv(t, nil)
		art, id := loggedIn(e)
		e.clock.Advance(DefaultArtifactTTL)
		if _, err := e.resolve(art, id, saml.InResponseToAuthnRequest); err == nil {
			t.Fatal("expired artifact resolved")
		}
	})
	t.Run("ok/just-before-expiry", func(t *testing.T) {
		e := newEnv(t, nil)
		art, id := loggedIn(e)
		e.clock.Advance(DefaultArtifactTTL - 1)
		if _, err := e.resolve(art, id, saml.InResponseToAuthnRequest); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/other-sp-cannot-take-it", func(t *testing.T) {
		e := newEnv(t, nil)
		art, id := loggedIn(e)
		thief := newTestSP(t, "https://thief.test.example")
		if err := e.idp.RegisterSP(thief.metadata()); err != nil {
			t.Fatal(err)
		}
		if body := e.rawResolve(thief, art); strings.Contains(body, "<samlp:Response") {
			t.Fatal("another SP got the Response")
		}
		if _, err := e.resolve(art, id, saml.InResponseToAuthnRequest); err != nil {
			t.Fatalf("rightful SP after the attempt: %v", err)
		}
	})
}

// rawResolve posts a signed ArtifactResolve from sp and returns the SOAP answer.
func (e *env) rawResolve(sp *testSP, art string) string {
	e.t.Helper()
	soap, err := sp.signer.ArtifactResolve("_raw", sp.entityID, e.base+"/idp/ars", art, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post(e.base+"/idp/ars", "text/xml", bytes.NewReader(soap))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("HTTP %d: %s", resp.StatusCode, buf.String())
	}
	return buf.String()
}
