package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
)

// login runs one login against p and op and returns Exchange's answer.
func login(t *testing.T, p *Provider, op *testOP, user map[string]any) (*Result, error) {
	t.Helper()
	a := testParams(nil)
	u, err := p.AuthURL(context.Background(), a)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	cb, err := ParseCallback(op.login(u, user))
	if err != nil {
		t.Fatalf("ParseCallback: %v", err)
	}
	return p.Exchange(context.Background(), cb, a)
}

func mustLogin(t *testing.T, p *Provider, op *testOP) {
	t.Helper()
	if _, err := login(t, p, op, idportenUser(4)); err != nil {
		t.Fatalf("login: %v", err)
	}
}

func mustFail(t *testing.T, p *Provider, op *testOP, reason Reason) {
	t.Helper()
	_, err := login(t, p, op, idportenUser(4))
	if got := ReasonOf(err); got != reason {
		t.Fatalf("login: %v; want reason %q", err, reason)
	}
}

// TestKeyRotation: a token signed by a key not yet published fails after one JWKS re-read;
// once the key is published (and JWKSMinRefetch has passed) the re-read finds it; a key the
// provider withdraws stops verifying at the next scheduled refresh.
func TestKeyRotation(t *testing.T) {
	ks := keys()
	op := newTestOP(t, AuthClientSecretBasic)
	p := newProvider(t, op, "idporten", nil)
	mustLogin(t, p, op)
	base := op.hitCount("jwks")

	op.set(func(op *testOP) { op.signer = ks[1] })
	op.clock.Advance(JWKSMinRefetch)
	mustFail(t, p, op, ReasonSignature)
	if n := op.hitCount("jwks") - base; n != 1 {
		t.Fatalf("unknown kid: %d JWKS reads, want 1", n)
	}
	mustFail(t, p, op, ReasonSignature)
	if n := op.hitCount("jwks") - base; n != 1 {
		t.Fatalf("unknown kid again within JWKSMinRefetch: %d JWKS reads, want still 1", n)
	}

	op.set(func(op *testOP) { op.published = []opKey{ks[0], ks[1]} })
	op.clock.Advance(JWKSMinRefetch)
	mustLogin(t, p, op)
	if n := op.hitCount("jwks") - base; n != 2 {
		t.Fatalf("after publication: %d JWKS reads, want 2", n)
	}
	mustLogin(t, p, op) // now cached
	if n := op.hitCount("jwks") - base; n != 2 {
		t.Fatalf("cached key: %d JWKS reads, want 2", n)
	}

	// The old key is withdrawn; a token it signs still verifies until the scheduled refresh.
	op.set(func(op *testOP) { op.published = []opKey{ks[1]}; op.signer = ks[0] })
	mustLogin(t, p, op)
	op.clock.Advance(DefaultDiscoveryRefresh)
	mustFail(t, p, op, ReasonSignature)
}

// TestDiscoveryRefresh: discovery and JWKS are re-read after DiscoveryRefresh, and a failed
// re-read keeps the last good copy and is reported.
func TestDiscoveryRefresh(t *testing.T) {
	op := newTestOP(t, AuthClientSecretBasic)
	p := newProvider(t, op, "idporten", func(c *Config) { c.DiscoveryRefresh = 10 * time.Minute })
	if _, ok := p.EndSessionURL("", "", ""); !ok {
		t.Fatal("no end_session_endpoint")
	}
	mustLogin(t, p, op)
	if n := op.hitCount("discovery"); n != 1 {
		t.Fatalf("discovery read %d times before the refresh is due", n)
	}

	op.set(func(op *testOP) {
		op.discoveryStatus = http.StatusServiceUnavailable
		op.jwksStatus = http.StatusServiceUnavailable
	})
	op.clock.Advance(10 * time.Minute)
	mustLogin(t, p, op)
	mustLogin(t, p, op)
	if n := op.hitCount("discovery"); n != 2 {
		t.Fatalf("discovery read %d times, want 2 (one failed refresh, no retry storm)", n)
	}
	fetched, lastErr := p.DiscoveryStatus()
	if lastErr == nil || !fetched.Equal(testStart) {
		t.Fatalf("DiscoveryStatus = %v, %v; want the start time and an error", fetched, lastErr)
	}

	// Discovery back, JWKS still down: the new document is taken, the old keys kept.
	op.set(func(op *testOP) {
		op.discoveryStatus = 0
		op.discoveryEdit = func(d map[string]any) { delete(d, "end_session_endpoint") }
	})
	op.clock.Advance(10 * time.Minute)
	mustLogin(t, p, op)
	if _, ok := p.EndSessionURL("", "", ""); ok {
		t.Error("end_session_endpoint still there after the refresh")
	}
	if _, lastErr := p.DiscoveryStatus(); lastErr == nil || !strings.Contains(lastErr.Error(), "JWKS") {
		t.Errorf("DiscoveryStatus error = %v, want the JWKS failure", lastErr)
	}

	// A refresh that finds the issuer changed is refused as a whole.
	op.set(func(op *testOP) {
		op.jwksStatus = 0
		op.discoveryEdit = func(d map[string]any) { d["issuer"] = "https://evil.example.com" }
	})
	op.clock.Advance(10 * time.Minute)
	mustLogin(t, p, op)
	if _, lastErr := p.DiscoveryStatus(); lastErr == nil || !strings.Contains(lastErr.Error(), "issuer") {
		t.Errorf("DiscoveryStatus error = %v, want the issuer mismatch", lastErr)
	}
}

// TestConcurrentLogins runs logins in parallel across discovery refreshes, for the race detector.
func TestConcurrentLogins(t *testing.T) {
	ks := keys()
	op := newTestOP(t, AuthPrivateKeyJWT)
	p := newProvider(t, op, "idporten", func(c *Config) { c.DiscoveryRefresh = time.Minute; c.UsePAR = true })
	op.set(func(op *testOP) { op.published = []opKey{ks[0], ks[1]} })
	// Every login is prepared here: op.login may fail the test, which only this goroutine may do.
	type prepared struct {
		cb Callback
		a  AuthParams
	}
	var logins []prepared
	for range 16 {
		a := testParams(nil)
		u, err := p.AuthURL(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := ParseCallback(op.login(u, idportenUser(4)))
		if err != nil {
			t.Fatal(err)
		}
		logins = append(logins, prepared{cb, a})
	}
	var wg sync.WaitGroup
	for i, l := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				op.clock.Advance(20 * time.Second) // four of these pass DiscoveryRefresh once
			}
			if _, err := p.Exchange(context.Background(), l.cb, l.a); err != nil {
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if n := op.hitCount("discovery"); n != 2 {
		t.Errorf("discovery read %d times, want 2", n)
	}
}

func TestNewRejects(t *testing.T) {
	tests := map[string]struct {
		cfg  func(c *Config)
		op   func(op *testOP)
		want []string // substrings of the error
	}{
		"fail/config-lists-every-problem": {
			cfg: func(c *Config) {
				c.Name, c.Preset, c.ClientID, c.RedirectURL, c.Scopes = "", "saml", "", "http://sp.example.no/cb", []string{"a b"}
				c.AuthMethod = "tls_client_auth"
			},
			want: []string{"name is required", `preset "saml"`, "client_id is required", "redirect URL", `auth method "tls_client_auth"`, `scope "a b"`},
		},
		"fail/secret-missing": {
			cfg:  func(c *Config) { c.AuthMethod, c.ClientSecret = AuthClientSecretPost, "" },
			want: []string{"client_secret_post needs a client secret"},
		},
		"fail/private-key-missing": {
			cfg:  func(c *Config) { c.AuthMethod, c.PrivateKey = AuthPrivateKeyJWT, nil },
			want: []string{"private_key_jwt needs a private key"},
		},
		"fail/issuer-http": {
			cfg:  func(c *Config) { c.Issuer = "http://idporten.example.no" },
			want: []string{"issuer", "must use https"},
		},
		"fail/issuer-mismatch": {
			op:   func(op *testOP) { op.discoveryEdit = func(d map[string]any) { d["issuer"] = op.issuer + "/" } },
			want: []string{"discovery issuer", "is not the configured issuer"},
		},
		"fail/endpoint-http": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["token_endpoint"] = "http://op.example.no/token" }
			},
			want: []string{"token_endpoint", "must use https"},
		},
		"fail/endpoints-missing": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { delete(d, "jwks_uri"); delete(d, "authorization_endpoint") }
			},
			want: []string{"authorization_endpoint: missing", "jwks_uri: missing"},
		},
		"fail/no-pkce-s256": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} }
			},
			want: []string{"PKCE S256 is not supported"},
		},
		"fail/auth-method-not-offered": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["token_endpoint_auth_methods_supported"] = []string{AuthPrivateKeyJWT} }
			},
			want: []string{"client_secret_basic is not supported"},
		},
		"fail/only-hs256-and-none": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }
			},
			want: []string{"no acceptable ID token signing algorithm"},
		},
		"fail/par-required-without-endpoint": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) {
					d["require_pushed_authorization_requests"] = true
					delete(d, "pushed_authorization_request_endpoint")
				}
			},
			want: []string{"no PAR endpoint"},
		},
		"fail/discovery-404": {
			op:   func(op *testOP) { op.discoveryStatus = http.StatusNotFound },
			want: []string{"HTTP 404"},
		},
		"fail/discovery-wrong-type": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["require_pushed_authorization_requests"] = "yes" }
			},
			want: []string{"wrong type"},
		},
		"fail/discovery-too-large": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["x"] = strings.Repeat("a", maxDiscoveryBytes) }
			},
			want: []string{"larger than"},
		},
		"fail/jwks-down": {
			op:   func(op *testOP) { op.jwksStatus = http.StatusInternalServerError },
			want: []string{"JWKS", "HTTP 500"},
		},
		"fail/jwks-without-usable-key": {
			op:   func(op *testOP) { op.published = nil },
			want: []string{"no usable signing key"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			op := newTestOP(t, AuthClientSecretBasic)
			if tc.op != nil {
				op.set(tc.op)
			}
			cfg := testConfig(op, "idporten")
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := New(context.Background(), cfg)
			if err == nil {
				t.Fatal("New accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), opClientSecret) {
				t.Errorf("error contains the client secret")
			}
		})
	}
}

// TestInsecureLoopback: http is allowed for a loopback provider with AllowInsecure, and only then.
func TestInsecureLoopback(t *testing.T) {
	op := newTestOP(t, AuthClientSecretBasic)
	plain := httptest.NewServer(op.srv.Config.Handler)
	t.Cleanup(plain.Close)
	op.issuer = plain.URL + "/op"
	cfg := testConfig(op, "idporten")
	cfg.HTTP = plain.Client()
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http issuer without AllowInsecure: %v", err)
	}
	cfg.AllowInsecure = true
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("http loopback issuer with AllowInsecure: %v", err)
	}
	mustLogin(t, p, op)
	if !isLoopback("localhost") || !isLoopback("::1") || isLoopback("10.0.0.1") || isLoopback("example.com") {
		t.Error("isLoopback")
	}
	if checkURL("http://10.0.0.1/x", true) == nil {
		t.Error("http to a non-loopback host accepted with AllowInsecure")
	}
}

func TestAuthURL(t *testing.T) {
	op := newTestOP(t, AuthClientSecretBasic)
	p := newProvider(t, op, "idporten", func(c *Config) { c.Scopes = []string{"profile", "openid", "profile"} })
	a := testParams(func(a *AuthParams) { a.MinLevel = 4; a.Locale = "se"; a.ForceLogin = true; a.OnBehalfOf = "k-1" })
	raw, err := p.AuthURL(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	sum := sha256.Sum256([]byte(a.CodeVerifier))
	want := url.Values{
		"response_type": {"code"}, "client_id": {opClientID}, "redirect_uri": {opRedirect},
		"scope": {"openid profile"}, "state": {a.State}, "nonce": {a.Nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"acr_values": {identity.ACRHigh}, "ui_locales": {"se"}, "prompt": {"login"}, "onbehalfof": {"k-1"},
	}
	if got := u.Query(); got.Encode() != want.Encode() {
		t.Errorf("query =\n%s\nwant\n%s", got.Encode(), want.Encode())
	}
	if strings.Contains(raw, a.CodeVerifier) {
		t.Error("the URL carries the PKCE verifier")
	}

	// PAR: the URL holds client_id and request_uri only.
	p = newProvider(t, op, "idporten", func(c *Config) { c.UsePAR = true })
	raw, err = p.AuthURL(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(raw)
	if q := u.Query(); len(q) != 2 || q.Get("client_id") != opClientID || !strings.HasPrefix(q.Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		t.Errorf("pushed URL query = %v", q)
	}

	// A PAR endpoint that refuses us.
	op.set(func(op *testOP) { op.authMethod = AuthClientSecretPost })
	_, err = p.AuthURL(context.Background(), a)
	if ReasonOf(err) != ReasonStatus || err.(*Error).Code != "invalid_client" {
		t.Errorf("PAR refused: %v", err)
	}

	for name, edit := range map[string]func(a *AuthParams){
		"no-state":      func(a *AuthParams) { a.State = "" },
		"state-charset": func(a *AuthParams) { a.State = "a/b" },
		"no-nonce":      func(a *AuthParams) { a.Nonce = "" },
		"short-pkce":    func(a *AuthParams) { a.CodeVerifier = strings.Repeat("a", 42) },
		"long-pkce":     func(a *AuthParams) { a.CodeVerifier = strings.Repeat("a", 129) },
		"level-5":       func(a *AuthParams) { a.MinLevel = 5 },
		"locale-de":     func(a *AuthParams) { a.Locale = "de" },
		"onbehalfof":    func(a *AuthParams) { a.OnBehalfOf = "a&b=c" },
	} {
		bad := a
		edit(&bad)
		if _, err := p.AuthURL(context.Background(), bad); err == nil || ReasonOf(err) != "" {
			t.Errorf("%s: AuthURL = %v, want a plain error", name, err)
		}
	}
}

func TestEndSessionURL(t *testing.T) {
	op := newTestOP(t, AuthClientSecretBasic)
	p := newProvider(t, op, "idporten", nil)
	raw, ok := p.EndSessionURL("the.id.token", "https://sp.example.no/oidc/logged-out", "st")
	if !ok {
		t.Fatal("no URL")
	}
	u, _ := url.Parse(raw)
	want := url.Values{"id_token_hint": {"the.id.token"}, "post_logout_redirect_uri": {"https://sp.example.no/oidc/logged-out"},
		"state": {"st"}, "client_id": {opClientID}}
	if u.Query().Encode() != want.Encode() || !strings.HasPrefix(raw, op.issuer+"/endsession?") {
		t.Errorf("EndSessionURL = %s", raw)
	}
	raw, _ = p.EndSessionURL("", "", "")
	if raw != op.issuer+"/endsession?client_id="+opClientID {
		t.Errorf("EndSessionURL without hint = %s", raw)
	}
	if p.Issuer() != op.issuer || p.cfg.Name != "idporten-test" {
		t.Errorf("Issuer, cfg.Name = %q, %q", p.Issuer(), p.cfg.Name)
	}
}

func TestDerive(t *testing.T) {
	v1, n1 := Derive(testHashKey, "state-1")
	v2, n2 := Derive(testHashKey, "state-1")
	v3, n3 := Derive(testHashKey, "state-2")
	v4, _ := Derive([]byte("other"), "state-1")
	if v1 != v2 || n1 != n2 {
		t.Error("not deterministic")
	}
	if v1 == n1 || v1 == v3 || n1 == n3 || v1 == v4 {
		t.Error("values collide")
	}
	if len(v1) != 43 || len(n1) != 43 || !allBytes(v1, isUnreserved) || !allBytes(n1, isUnreserved) {
		t.Errorf("verifier %q, nonce %q: want 43 base64url characters", v1, n1)
	}
	// The contract's formula, independently.
	if want := hmacB64(testHashKey, "pkce:state-1"); v1 != want {
		t.Errorf("verifier = %q, want %q", v1, want)
	}
}

// TestReasonsMatchSAML: the handlers map both protocols' reasons with one table.
func TestReasonsMatchSAML(t *testing.T) {
	for ours, theirs := range map[Reason]saml.Reason{
		ReasonMalformed: saml.ReasonMalformed, ReasonSignature: saml.ReasonSignature,
		ReasonAlgorithm: saml.ReasonAlgorithm, ReasonIssuer: saml.ReasonIssuer,
		ReasonAudience: saml.ReasonAudience, ReasonInResponseTo: saml.ReasonInResponseTo,
		ReasonTime: saml.ReasonTime, ReasonReplay: saml.ReasonReplay, ReasonStatus: saml.ReasonStatus,
		ReasonAttributes: saml.ReasonAttributes, ReasonLevel: saml.ReasonLevel,
		ReasonTransport: saml.ReasonTransport, ReasonPanic: saml.ReasonPanic,
	} {
		if string(ours) != string(theirs) {
			t.Errorf("oidc %q != saml %q", ours, theirs)
		}
	}
}

func TestUsableKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ks := keys()
	marshal := func(k jose.JSONWebKey) json.RawMessage {
		b, err := k.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw := []json.RawMessage{
		json.RawMessage(`{"kty":"oct","kid":"k","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`),
		marshal(jose.JSONWebKey{Key: &ks[0].priv.PublicKey, KeyID: "enc", Use: "enc"}),
		marshal(jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small"}),
		json.RawMessage(`{"kty":"OKP","crv":"X448","kid":"x448","x":"AA"}`),
		json.RawMessage(`{"kty":"RSA","kid":"broken","n":"","e":"AQAB"}`),
		json.RawMessage(`"not an object"`),
		marshal(jose.JSONWebKey{Key: ks[1].priv, KeyID: "private-by-mistake", Use: "sig"}),
		marshal(jose.JSONWebKey{Key: &ks[2].priv.PublicKey, KeyID: "good", Use: "sig", Algorithm: "RS256"}),
		marshal(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ec"}),
	}
	got := usableKeys(raw)
	var kids []string
	for _, k := range got {
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
		kids = append(kids, k.KeyID)
	}
	if strings.Join(kids, ",") != "private-by-mistake,good,ec" {
		t.Errorf("usable keys = %q", kids)
	}
}
