package saml

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const maxInflated = 64 << 10

// builtRequest is a small AuthnRequest to carry over the Redirect binding.
func builtRequest(t testing.TB) []byte {
	t.Helper()
	out, err := baseRequest().Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// signedPart returns the octets of rawQuery from "SAMLRequest=" up to (not including)
// "&Signature=", exactly as they appear in the URL, and the decoded signature. It parses by hand
// so that it shares no code with ParseRedirect.
func signedPart(t testing.TB, rawQuery string) (string, []byte) {
	t.Helper()
	start := strings.Index(rawQuery, ParamSAMLRequest+"=")
	end := strings.Index(rawQuery, "&"+ParamSignature+"=")
	if start < 0 || end < start {
		t.Fatalf("query %q has no SAMLRequest…&Signature= span", rawQuery)
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

// opensslVerify reports whether openssl accepts sig over data with the public key of k.
func opensslVerify(t testing.TB, k *testKey, digest string, data string, sig []byte) bool {
	t.Helper()
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	pub := writeFile(t, dir, "pub.pem", k.pubPEM(t))
	sigFile := writeFile(t, dir, "sig.bin", sig)
	dataFile := writeFile(t, dir, "data.txt", []byte(data))
	out, err := run(openssl, "dgst", "-"+digest, "-verify", pub, "-signature", sigFile, dataFile)
	if err != nil {
		return false
	}
	if !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl exited 0 without Verified OK: %s", out)
	}
	return true
}

func TestRedirectSignatureOpenSSL(t *testing.T) {
	sp := newTestKey(t, "sp")
	msg := builtRequest(t)
	for _, tc := range []struct {
		name, alg, digest string
	}{
		{"ok/rsa-sha256", AlgRSASHA256, "sha256"},
		{"ok/rsa-sha1", AlgRSASHA1, "sha1"},
		{"ok/default-is-sha256", "", "sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := sp.signer(tc.alg).RedirectURL("https://idp.example/sso", ParamSAMLRequest, msg, "state-1", nil)
			if err != nil {
				t.Fatal(err)
			}
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			data, sig := signedPart(t, pu.RawQuery)
			wantAlg := tc.alg
			if wantAlg == "" {
				wantAlg = AlgRSASHA256
			}
			if !strings.HasSuffix(data, "&RelayState=state-1&SigAlg="+url.QueryEscape(wantAlg)) {
				t.Errorf("signed string %q does not end in RelayState then SigAlg", data)
			}
			if !opensslVerify(t, sp, tc.digest, data, sig) {
				t.Fatalf("openssl rejects the signature over %q", data)
			}
			// The other digest must not verify: the SigAlg on the wire is the one used.
			other := map[string]string{"sha256": "sha1", "sha1": "sha256"}[tc.digest]
			if opensslVerify(t, sp, other, data, sig) {
				t.Errorf("signature also verifies as %s", other)
			}
			// And the message inflates back to what we sent (raw DEFLATE, standard base64).
			q, _ := url.ParseQuery(pu.RawQuery)
			deflated, err := base64.StdEncoding.DecodeString(q.Get(ParamSAMLRequest))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAllFlate(deflated)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("SAMLRequest does not inflate to the message: %v", err)
			}
		})
	}
}

func readAllFlate(b []byte) ([]byte, error) {
	var out bytes.Buffer
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	_, err := out.ReadFrom(r)
	return out.Bytes(), err
}

func TestRedirectRelayStateEscaping(t *testing.T) {
	sp := newTestKey(t, "sp")
	msg := builtRequest(t)
	for _, rs := range []string{
		"a&b=c",
		"x+y z",
		"/path/to?q=1&r=2",
		"æøå ÆØÅ – 🚀",
		"%41%2", // must not be unescaped twice
		"#frag",
		`"'<>;`,
	} {
		t.Run("ok/"+rs, func(t *testing.T) {
			u, err := sp.signer(AlgRSASHA256).RedirectURL("https://idp.example/sso", ParamSAMLRequest, msg, rs, nil)
			if err != nil {
				t.Fatal(err)
			}
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			if pu.Fragment != "" {
				t.Fatalf("RelayState leaked into the fragment: %q", pu.Fragment)
			}
			// Exactly the five parameters, each once: nothing in RelayState split the query.
			q, err := url.ParseQuery(pu.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if len(q) != 4 || len(q[ParamRelayState]) != 1 || q.Get(ParamRelayState) != rs {
				t.Fatalf("query %q parses to %v, want RelayState %q", pu.RawQuery, q, rs)
			}
			data, sig := signedPart(t, pu.RawQuery)
			if !opensslVerify(t, sp, "sha256", data, sig) {
				t.Fatalf("openssl rejects the signature over %q", data)
			}
			m, err := ParseRedirect(pu.RawQuery, maxInflated)
			if err != nil {
				t.Fatal(err)
			}
			if m.RelayState != rs {
				t.Errorf("RelayState %q, want %q", m.RelayState, rs)
			}
			if err := m.Verify([]*x509.Certificate{sp.Cert}, DefaultAlgorithms()); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	t.Run("fail/relaystate-too-long", func(t *testing.T) {
		if _, err := sp.signer("").RedirectURL("https://idp.example/sso", ParamSAMLRequest, msg, strings.Repeat("r", MaxRelayState+1), nil); err == nil {
			t.Error("RelayState over 80 bytes accepted")
		}
	})
}

func TestRedirectEndpointQueryNotSigned(t *testing.T) {
	sp := newTestKey(t, "sp")
	msg := builtRequest(t)
	u, err := sp.signer(AlgRSASHA256).RedirectURL("https://idp.example/sso?tenant=a&x=1", ParamSAMLRequest, msg, "rs", [][2]string{{"locale", "nb"}})
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if pu.Host != "idp.example" || pu.Path != "/sso" {
		t.Fatalf("endpoint changed: %s", u)
	}
	if !strings.HasPrefix(pu.RawQuery, "tenant=a&x=1&SAMLRequest=") {
		t.Fatalf("endpoint query not kept in front: %q", pu.RawQuery)
	}
	data, sig := signedPart(t, pu.RawQuery)
	if !opensslVerify(t, sp, "sha256", data, sig) {
		t.Fatalf("openssl rejects the signature over %q", data)
	}
	if opensslVerify(t, sp, "sha256", "tenant=a&x=1&"+data, sig) {
		t.Fatal("the endpoint's own query is part of the signed string")
	}
	m, err := ParseRedirect(pu.RawQuery, maxInflated)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify([]*x509.Certificate{sp.Cert}, DefaultAlgorithms()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestRedirectLocaleAfterSignature(t *testing.T) {
	sp := newTestKey(t, "sp")
	u, err := sp.signer(AlgRSASHA1).RedirectURL("https://idp.example/sso", ParamSAMLRequest, builtRequest(t), "", [][2]string{{"locale", "nn"}})
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	raw := pu.RawQuery
	sigAt := strings.Index(raw, "&Signature=")
	locAt := strings.Index(raw, "&locale=nn")
	if sigAt < 0 || locAt < sigAt || !strings.HasSuffix(raw, "&locale=nn") {
		t.Fatalf("locale is not after Signature: %q", raw)
	}
	if strings.Contains(raw, "RelayState") {
		t.Errorf("empty RelayState sent: %q", raw)
	}
	data, sig := signedPart(t, raw)
	if strings.Contains(data, "locale") {
		t.Errorf("locale is in the signed string %q", data)
	}
	if !opensslVerify(t, sp, "sha1", data, sig) {
		t.Fatal("openssl rejects the signature")
	}
	// The IdP may change the language without breaking the signature.
	m, err := ParseRedirect(strings.Replace(raw, "locale=nn", "locale=en", 1), maxInflated)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify([]*x509.Certificate{sp.Cert}, DefaultAlgorithms().WithSHA1()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestRedirectParseVerify(t *testing.T) {
	sp := newTestKey(t, "sp")
	other := newTestKey(t, "other")
	trusted := []*x509.Certificate{sp.Cert}
	msg := builtRequest(t)
	mk := func(alg string, m []byte, rs string) string {
		t.Helper()
		u, err := sp.signer(alg).RedirectURL("https://idp.example/sso", ParamSAMLRequest, m, rs, nil)
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(u)
		return pu.RawQuery
	}
	good := mk(AlgRSASHA256, msg, "state-1")
	goodSHA1 := mk(AlgRSASHA1, msg, "state-1")
	param := func(raw, name string) string {
		for _, p := range strings.Split(raw, "&") {
			if k, v, _ := strings.Cut(p, "="); k == name {
				return v
			}
		}
		t.Fatalf("no %s in %q", name, raw)
		return ""
	}
	replace := func(raw, name, v string) string {
		return strings.Replace(raw, name+"="+param(raw, name), name+"="+v, 1)
	}
	otherMsg := []byte(strings.Replace(string(msg), "https://sp.example.no/saml/acs", "https://evil.example/acs", 1))
	bomb := func() string {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write([]byte("<samlp:AuthnRequest>"))
		w.Write(make([]byte, 10<<20))
		w.Close()
		if buf.Len() > 64<<10 {
			t.Fatalf("bomb is %d bytes, not a few KB", buf.Len())
		}
		return replace(good, ParamSAMLRequest, url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())))
	}
	unsigned := good[:strings.Index(good, "&SigAlg=")]

	t.Run("ok/sha256", func(t *testing.T) {
		m, err := ParseRedirect(good, maxInflated)
		if err != nil {
			t.Fatal(err)
		}
		if m.Param != ParamSAMLRequest || !bytes.Equal(m.XML, msg) || m.RelayState != "state-1" || m.SigAlg != AlgRSASHA256 || !m.Signed() {
			t.Fatalf("parsed %+v", m)
		}
		if err := m.Verify(trusted, DefaultAlgorithms()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/sha1-when-allowed", func(t *testing.T) {
		m, err := ParseRedirect(goodSHA1, maxInflated)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Verify(trusted, DefaultAlgorithms().WithSHA1()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/second-trusted-cert", func(t *testing.T) {
		m, err := ParseRedirect(good, maxInflated)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Verify([]*x509.Certificate{other.Cert, sp.Cert}, DefaultAlgorithms()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/unrelated-parameters-ignored", func(t *testing.T) {
		m, err := ParseRedirect("foo=1&"+good+"&locale=nb&bar", maxInflated)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Verify(trusted, DefaultAlgorithms()); err != nil {
			t.Fatal(err)
		}
	})

	for _, tc := range []struct {
		name        string
		query       string
		algs        Algorithms
		trusted     []*x509.Certificate
		parseReason Reason // rejected by ParseRedirect with this reason
		verifReason Reason // else rejected by Verify with this reason
	}{
		{name: "fail/tampered-samlrequest", query: replace(good, ParamSAMLRequest, param(mk(AlgRSASHA256, otherMsg, "state-1"), ParamSAMLRequest)), verifReason: ReasonSignature},
		{name: "fail/changed-relaystate", query: replace(good, ParamRelayState, "state-2"), verifReason: ReasonSignature},
		{name: "fail/relaystate-removed", query: strings.Replace(good, "&RelayState=state-1", "", 1), verifReason: ReasonSignature},
		{name: "fail/sigalg-swapped-to-sha1", query: replace(good, ParamSigAlg, url.QueryEscape(AlgRSASHA1)), verifReason: ReasonAlgorithm},
		{name: "fail/sigalg-swapped-to-sha1-allowed", query: replace(good, ParamSigAlg, url.QueryEscape(AlgRSASHA1)), algs: DefaultAlgorithms().WithSHA1(), verifReason: ReasonSignature},
		{name: "fail/sha1-not-allowed", query: goodSHA1, verifReason: ReasonAlgorithm},
		{name: "fail/sigalg-md5", query: replace(good, ParamSigAlg, url.QueryEscape("http://www.w3.org/2001/04/xmldsig-more#rsa-md5")), verifReason: ReasonAlgorithm},
		{name: "fail/sigalg-missing", query: strings.Replace(good, "&SigAlg="+param(good, ParamSigAlg), "", 1), verifReason: ReasonAlgorithm},
		{name: "fail/repeated-samlrequest", query: good + "&SAMLRequest=" + param(good, ParamSAMLRequest), parseReason: ReasonMalformed},
		{name: "fail/repeated-relaystate", query: good + "&RelayState=state-2", parseReason: ReasonMalformed},
		{name: "fail/repeated-signature", query: good + "&Signature=" + param(good, ParamSignature), parseReason: ReasonMalformed},
		{name: "fail/repeated-sigalg-escaped-name", query: good + "&Sig%41lg=x", parseReason: ReasonMalformed},
		{name: "fail/request-and-response", query: good + "&SAMLResponse=" + param(good, ParamSAMLRequest), parseReason: ReasonMalformed},
		{name: "fail/no-message", query: "RelayState=x", parseReason: ReasonMalformed},
		{name: "fail/deflate-bomb", query: bomb(), parseReason: ReasonTooLarge},
		{name: "fail/bad-base64-message", query: replace(good, ParamSAMLRequest, "%%%%"), parseReason: ReasonMalformed},
		{name: "fail/not-base64-message", query: replace(good, ParamSAMLRequest, "not*base64"), parseReason: ReasonMalformed},
		{name: "fail/not-deflate", query: replace(good, ParamSAMLRequest, url.QueryEscape(base64.StdEncoding.EncodeToString(msg))), parseReason: ReasonMalformed},
		{name: "fail/bad-base64-signature", query: replace(good, ParamSignature, "@@@"), parseReason: ReasonSignature},
		{name: "fail/empty-signature", query: replace(good, ParamSignature, ""), parseReason: ReasonSignature},
		{name: "fail/relaystate-too-long", query: replace(good, ParamRelayState, strings.Repeat("r", 81)), parseReason: ReasonMalformed},
		{name: "fail/unsigned", query: unsigned, verifReason: ReasonSignature},
		{name: "fail/unsigned-with-sigalg", query: strings.Replace(good, "&Signature="+param(good, ParamSignature), "", 1), verifReason: ReasonSignature},
		{name: "fail/wrong-cert", query: good, trusted: []*x509.Certificate{other.Cert}, verifReason: ReasonSignature},
		{name: "fail/no-trusted-cert", query: good, trusted: []*x509.Certificate{}, verifReason: ReasonSignature},
		{name: "fail/signature-of-another-message", query: replace(good, ParamSignature, param(mk(AlgRSASHA256, otherMsg, "state-1"), ParamSignature)), verifReason: ReasonSignature},
		{name: "fail/value-re-encoded", query: strings.Replace(good, "SigAlg=http%3A%2F%2F", "SigAlg=http%3a%2f%2f", 1), verifReason: ReasonSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseRedirect(tc.query, maxInflated)
			if tc.parseReason != "" {
				wantReason(t, err, tc.parseReason)
				return
			}
			if err != nil {
				t.Fatalf("ParseRedirect: %v", err)
			}
			algs := tc.algs
			if algs.Signature == nil {
				algs = DefaultAlgorithms()
			}
			tr := trusted
			if tc.trusted != nil {
				tr = tc.trusted
			}
			wantReason(t, m.Verify(tr, algs), tc.verifReason)
		})
	}
}

func TestRedirectURLRejects(t *testing.T) {
	sp := newTestKey(t, "sp")
	msg := builtRequest(t)
	for _, tc := range []struct {
		name     string
		s        Signer
		endpoint string
		param    string
	}{
		{"fail/relative-endpoint", sp.signer(""), "/sso", ParamSAMLRequest},
		{"fail/bad-param", sp.signer(""), "https://idp.example/sso", "SAMLart"},
		{"fail/no-key", Signer{}, "https://idp.example/sso", ParamSAMLRequest},
		{"fail/unknown-alg", sp.signer("http://www.w3.org/2001/04/xmldsig-more#rsa-md5"), "https://idp.example/sso", ParamSAMLRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if u, err := tc.s.RedirectURL(tc.endpoint, tc.param, msg, "", nil); err == nil {
				t.Fatalf("made %s", u)
			}
		})
	}
}

// A recycled compressor must produce exactly what a new one does, whatever it compressed
// before, including when several goroutines share the pool.
func TestDeflateRecycledWriter(t *testing.T) {
	msgs := [][]byte{builtRequest(t), bytes.Repeat([]byte("<a>x</a>"), 5000), {}, builtRequest(t)}
	want := make([][]byte, len(msgs))
	for i, m := range msgs {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, deflateLevel)
		fw.Write(m)
		fw.Close()
		want[i] = buf.Bytes()
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				for i, m := range msgs {
					got, err := deflate(m)
					if err != nil || !bytes.Equal(got, want[i]) {
						t.Errorf("message %d: recycled compressor gives %d bytes (err %v), a new one %d", i, len(got), err, len(want[i]))
						return
					}
					if back, err := readAllFlate(got); err != nil || !bytes.Equal(back, m) {
						t.Errorf("message %d does not inflate back: %v", i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
