package oidc

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/internal/leakcheck"
)

var testHashKey = []byte("test hash key, 32 bytes or so...")

// newProvider builds a Provider against op with the preset and edits of a test case.
func newProvider(t testing.TB, op *testOP, preset string, edit func(c *Config)) *Provider {
	t.Helper()
	cfg := testConfig(op, preset)
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func testConfig(op *testOP, preset string) Config {
	keys()
	cfg := Config{
		Name:        preset + "-test",
		Preset:      preset,
		Issuer:      op.issuer,
		ClientID:    opClientID,
		AuthMethod:  op.authMethod,
		RedirectURL: opRedirect,
		HTTP:        op.srv.Client(),
		Now:         op.clock.Now,
	}
	if op.authMethod == AuthPrivateKeyJWT {
		cfg.PrivateKey, cfg.KeyID = clientKey, "client-key-1"
	} else {
		cfg.ClientSecret = opClientSecret
	}
	return cfg
}

// testParams is a pending login: a fresh state and the values derived from it.
func testParams(edit func(a *AuthParams)) AuthParams {
	state := randomState()
	verifier, nonce := Derive(testHashKey, state)
	a := AuthParams{State: state, Nonce: nonce, CodeVerifier: verifier, MinLevel: 3}
	if edit != nil {
		edit(&a)
	}
	return a
}

func randomState() string {
	return strings.NewReplacer("0", "A", "1", "-").Replace(randomString(32))[:43]
}

func idportenUser(level int) map[string]any {
	acr := identity.ACRHigh
	if level == 3 {
		acr = identity.ACRSubstantial
	}
	return map[string]any{"pid": testFNR, "acr": acr, "amr": []string{"BankID"}, "locale": "nb"}
}

func bankIDUser() map[string]any {
	return map[string]any{"acr": identity.ACRBankIDHigh, "amr": []string{"BID"}, "nnin_altsub": testFNR}
}

// flow runs one login end to end: AuthURL, the OP's login, ParseCallback, Exchange.
type flow struct {
	preset   string
	cfg      func(c *Config)
	op       func(op *testOP)                                                       // knobs, before the login
	params   func(a *AuthParams)                                                    // the pending login
	user     map[string]any                                                         // the person who logs in
	callback func(q url.Values)                                                     // tampering between OP and us
	exchange func(a *AuthParams)                                                    // what the handler passes to Exchange, if it differs
	before   func(t *testing.T, p *Provider, op *testOP, cb Callback, a AuthParams) // e.g. use the code first
	reason   Reason                                                                 // fail cases
	code     string                                                                 // fail cases: Error.Code
	check    func(t *testing.T, res *Result, op *testOP)                            // ok cases
}

func (f flow) run(t *testing.T, authMethod string) {
	t.Helper()
	op := newTestOP(t, authMethod)
	preset := f.preset
	if preset == "" {
		preset = "idporten"
	}
	if f.op != nil {
		op.set(f.op)
	}
	p := newProvider(t, op, preset, f.cfg)
	a := testParams(f.params)
	authURL, err := p.AuthURL(context.Background(), a)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	user := f.user
	if user == nil {
		user = idportenUser(4)
	}
	q := op.login(authURL, user)
	if f.callback != nil {
		f.callback(q)
	}
	var res *Result
	cb, err := ParseCallback(q)
	if err == nil {
		ea := a
		if f.exchange != nil {
			f.exchange(&ea)
		}
		if f.before != nil {
			f.before(t, p, op, cb, ea)
		}
		res, err = p.Exchange(context.Background(), cb, ea)
	}
	if f.check != nil {
		if err != nil {
			t.Fatalf("login failed: %v", err)
		}
		f.check(t, res, op)
		return
	}
	assertRejected(t, err, f.reason, f.code, a, q.Get("code"))
	if res != nil {
		t.Errorf("result with an error: %+v", res)
	}
}

// assertRejected checks the class of a rejection and that its text leaks nothing secret.
func assertRejected(t *testing.T, err error, reason Reason, code string, a AuthParams, authCode string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", reason)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if e.Reason != reason || e.Code != code {
		t.Fatalf("err = %v; want reason %q code %q", err, reason, code)
	}
	msg := err.Error()
	for name, secret := range map[string]string{
		"national id": testFNR, "synthetic id": testSynthetic, "state": a.State, "nonce": a.Nonce,
		"verifier": a.CodeVerifier, "code": authCode, "client secret": opClientSecret,
	} {
		if secret != "" && strings.Contains(msg, secret) {
			t.Errorf("error text contains the %s: %s", name, msg)
		}
	}
	if leakcheck.JWTLike(msg) {
		t.Errorf("error text contains something like a JWT: %s", msg)
	}
}

var authMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}

func TestExchangeOK(t *testing.T) {
	tests := map[string]flow{
		"ok/idporten-level-4": {
			params: func(a *AuthParams) { a.MinLevel = 4; a.OnBehalfOf = "org_1"; a.Locale = "nn"; a.ForceLogin = true },
			check: func(t *testing.T, res *Result, op *testOP) {
				want := identity.Identity{
					NationalID: testFNR, Kind: identity.KindFNR, Instrument: identity.InstrumentUnknown,
					Level: 4, LoA: identity.LoAHigh, AuthMethod: "BankID", IdP: "idporten-test",
					SessionIndex: "sid-1", NameID: "sub-client-1", Culture: "nb", OnBehalfOf: "org_1",
					AuthenticatedAt: testStart,
				}
				if res.Identity != want {
					t.Errorf("identity =\n%+v\nwant\n%+v", res.Identity, want)
				}
				if res.SID != "sid-1" || !strings.HasPrefix(res.IDToken, "eyJ") {
					t.Errorf("SID %q, IDToken %.10q", res.SID, res.IDToken)
				}
				az := op.lastAz
				for k, v := range map[string]string{"acr_values": identity.ACRHigh, "ui_locales": "nn", "prompt": "login", "onbehalfof": "org_1"} {
					if az.Get(k) != v {
						t.Errorf("authorization request %s = %q, want %q", k, az.Get(k), v)
					}
				}
			},
		},
		"ok/idporten-level-3-accepted-at-3": {
			user:  idportenUser(3),
			check: wantLevel(3),
		},
		"ok/level-4-answers-level-3-request": {
			params: func(a *AuthParams) { a.MinLevel = 3 },
			check:  wantLevel(4),
		},
		"ok/par": {
			cfg: func(c *Config) { c.UsePAR = true },
			check: func(t *testing.T, res *Result, op *testOP) {
				if n := op.hitCount("par"); n != 1 {
					t.Errorf("PAR endpoint hit %d times, want 1", n)
				}
			},
		},
		"ok/par-required-by-provider": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { d["require_pushed_authorization_requests"] = true }
			},
			check: func(t *testing.T, res *Result, op *testOP) {
				if n := op.hitCount("par"); n != 1 {
					t.Errorf("PAR endpoint hit %d times, want 1", n)
				}
			},
		},
		"ok/par-configured-not-advertised": {
			cfg: func(c *Config) { c.UsePAR = true },
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { delete(d, "pushed_authorization_request_endpoint") }
			},
			check: func(t *testing.T, res *Result, op *testOP) {
				if n := op.hitCount("par"); n != 0 {
					t.Errorf("PAR endpoint hit %d times, want 0", n)
				}
			},
		},
		"ok/synthetic-allowed": {
			cfg:  func(c *Config) { c.AllowSynthetic = true },
			user: map[string]any{"pid": testSynthetic, "acr": identity.ACRHigh},
			check: func(t *testing.T, res *Result, op *testOP) {
				if res.Identity.Kind != identity.KindSyntheticFNR {
					t.Errorf("Kind = %q", res.Identity.Kind)
				}
			},
		},
		"ok/expired-within-skew": {
			op: func(op *testOP) {
				op.idTokenEdit = func(c map[string]any) { c["exp"] = op.clock.Now().Add(-time.Minute).Unix() }
			},
			check: wantLevel(4),
		},
		"ok/iat-future-within-skew": {
			op: func(op *testOP) {
				op.idTokenEdit = func(c map[string]any) { c["iat"] = op.clock.Now().Add(time.Minute).Unix() }
			},
			check: wantLevel(4),
		},
		"ok/several-audiences-with-azp": {
			op: func(op *testOP) {
				op.idTokenEdit = func(c map[string]any) { c["aud"] = []string{opClientID, "other"}; c["azp"] = opClientID }
			},
			check: wantLevel(4),
		},
		"ok/iss-not-advertised-generic-without-iss": {
			preset: "generic",
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { delete(d, "authorization_response_iss_parameter_supported") }
			},
			callback: func(q url.Values) { q.Del("iss") },
			check: func(t *testing.T, res *Result, op *testOP) {
				if op.lastAz.Has("acr_values") {
					t.Errorf("generic preset sent acr_values %q", op.lastAz.Get("acr_values"))
				}
			},
		},
		"ok/bankid-with-nnin-altsub": {
			preset: "bankid",
			cfg:    func(c *Config) { c.Scopes = []string{"openid", "nnin_altsub"} },
			user:   bankIDUser(),
			params: func(a *AuthParams) { a.MinLevel = 4 },
			check: func(t *testing.T, res *Result, op *testOP) {
				id := res.Identity
				if id.NationalID != testFNR || id.Subject != "" || id.AuthMethod != "BankID" || id.Level != 4 || id.IdP != "bankid-test" {
					t.Errorf("identity = %+v", id)
				}
				if got := op.lastAz.Get("scope"); got != "openid nnin_altsub" {
					t.Errorf("scope = %q", got)
				}
				if got := op.lastAz.Get("acr_values"); got != identity.ACRBankIDHigh {
					t.Errorf("acr_values = %q", got)
				}
			},
		},
		"ok/bankid-without-nnin-altsub": {
			preset: "bankid",
			user:   bankIDUser(), // the claim is there, but we did not ask for it
			check: func(t *testing.T, res *Result, op *testOP) {
				id := res.Identity
				if id.NationalID != "" || id.Kind != "" || id.Subject != "sub-client-1" {
					t.Errorf("identity = %+v", id)
				}
				if got := op.lastAz.Get("scope"); got != "openid" {
					t.Errorf("scope = %q", got)
				}
			},
		},
		"ok/rs256-token-without-kid": {
			op: func(op *testOP) {
				op.idTokenSign = func(c map[string]any) string { return signJWT(op.t, keys()[0].priv, "", jose.RS256, c) }
			},
			check: wantLevel(4),
		},
	}
	for name, f := range tests {
		for _, m := range authMethods {
			t.Run(name+"/"+m, func(t *testing.T) {
				t.Parallel()
				f.run(t, m)
			})
		}
	}
}

func wantLevel(level int) func(t *testing.T, res *Result, op *testOP) {
	return func(t *testing.T, res *Result, op *testOP) {
		t.Helper()
		if res.Identity.Level != level {
			t.Errorf("Level = %d, want %d", res.Identity.Level, level)
		}
	}
}

func editToken(f func(op *testOP, c map[string]any)) func(op *testOP) {
	return func(op *testOP) { op.idTokenEdit = func(c map[string]any) { f(op, c) } }
}

func signToken(f func(op *testOP, c map[string]any) string) func(op *testOP) {
	return func(op *testOP) { op.idTokenSign = func(c map[string]any) string { return f(op, c) } }
}

func TestExchangeRejects(t *testing.T) {
	tests := map[string]flow{
		// state and nonce
		"fail/state-mismatch": {
			callback: func(q url.Values) { q.Set("state", randomState()) },
			reason:   ReasonInResponseTo,
		},
		"fail/nonce-in-token-is-another-logins": {
			op:     editToken(func(op *testOP, c map[string]any) { c["nonce"] = "another-login-nonce" }),
			reason: ReasonInResponseTo,
		},
		"fail/nonce-missing": {
			op:     editToken(func(op *testOP, c map[string]any) { delete(c, "nonce") }),
			reason: ReasonInResponseTo,
		},
		"fail/nonce-of-handler-differs": {
			exchange: func(a *AuthParams) { _, a.Nonce = Derive([]byte("other key"), a.State) },
			reason:   ReasonInResponseTo,
		},

		// the code
		"fail/code-missing": {
			callback: func(q url.Values) { q.Del("code") },
			reason:   ReasonMalformed,
		},
		"fail/code-reused": {
			before: func(t *testing.T, p *Provider, op *testOP, cb Callback, a AuthParams) {
				if _, err := p.Exchange(context.Background(), cb, a); err != nil {
					t.Fatalf("first use: %v", err)
				}
			},
			reason: ReasonReplay, code: "invalid_grant",
		},
		"fail/code-unknown": {
			callback: func(q url.Values) { q.Set("code", "forged-code") },
			reason:   ReasonReplay, code: "invalid_grant",
		},
		"fail/pkce-verifier-wrong": {
			exchange: func(a *AuthParams) { a.CodeVerifier, _ = Derive([]byte("other key"), a.State) },
			reason:   ReasonReplay, code: "invalid_grant",
		},
		"fail/redirect-uri-differs": {
			before: func(t *testing.T, p *Provider, op *testOP, cb Callback, a AuthParams) {
				op.set(func(op *testOP) {
					for _, g := range op.codes {
						g.params.Set("redirect_uri", "https://evil.example/cb")
					}
				})
			},
			reason: ReasonReplay, code: "invalid_grant",
		},

		// RFC 9207 mix-up
		"fail/iss-of-another-provider": {
			callback: func(q url.Values) { q.Set("iss", "https://evil.example.com") },
			reason:   ReasonIssuer,
		},
		"fail/iss-missing-when-advertised": {
			preset:   "generic",
			callback: func(q url.Values) { q.Del("iss") },
			reason:   ReasonIssuer,
		},
		"fail/iss-missing-idporten-even-when-not-advertised": {
			op: func(op *testOP) {
				op.discoveryEdit = func(d map[string]any) { delete(d, "authorization_response_iss_parameter_supported") }
			},
			callback: func(q url.Values) { q.Del("iss") },
			reason:   ReasonIssuer,
		},
		"fail/iss-checked-before-error": {
			callback: func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("iss", "https://evil.example.com")
			},
			reason: ReasonIssuer,
		},

		// the provider said no
		"fail/access-denied": {
			callback: func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "User cancelled")
			},
			reason: ReasonStatus, code: "access_denied",
		},
		"fail/token-endpoint-invalid-client": {
			op:     func(op *testOP) { op.tokenError = "invalid_client" },
			reason: ReasonStatus, code: "invalid_client",
		},
		"fail/token-endpoint-500": {
			op:     func(op *testOP) { op.tokenStatus = 502 },
			reason: ReasonTransport,
		},
		"fail/token-response-without-id-token": {
			op:     func(op *testOP) { op.omitIDToken = true },
			reason: ReasonMalformed,
		},

		// ID token claims
		"fail/id-token-iss-other": {
			op:     editToken(func(op *testOP, c map[string]any) { c["iss"] = "https://evil.example.com" }),
			reason: ReasonIssuer,
		},
		"fail/id-token-iss-trailing-slash": {
			op:     editToken(func(op *testOP, c map[string]any) { c["iss"] = op.issuer + "/" }),
			reason: ReasonIssuer,
		},
		"fail/aud-other": {
			op:     editToken(func(op *testOP, c map[string]any) { c["aud"] = "client-2" }),
			reason: ReasonAudience,
		},
		"fail/aud-several-without-azp": {
			op:     editToken(func(op *testOP, c map[string]any) { c["aud"] = []string{opClientID, "client-2"} }),
			reason: ReasonAudience,
		},
		"fail/azp-other": {
			op:     editToken(func(op *testOP, c map[string]any) { c["azp"] = "client-2" }),
			reason: ReasonAudience,
		},
		"fail/aud-number": {
			op:     editToken(func(op *testOP, c map[string]any) { c["aud"] = 1 }),
			reason: ReasonMalformed,
		},
		"fail/expired": {
			op:     editToken(func(op *testOP, c map[string]any) { c["exp"] = op.clock.Now().Add(-DefaultSkew - time.Second).Unix() }),
			reason: ReasonTime,
		},
		"fail/iat-in-the-future": {
			op:     editToken(func(op *testOP, c map[string]any) { c["iat"] = op.clock.Now().Add(DefaultSkew + time.Minute).Unix() }),
			reason: ReasonTime,
		},
		"fail/nbf-in-the-future": {
			op:     editToken(func(op *testOP, c map[string]any) { c["nbf"] = op.clock.Now().Add(time.Hour).Unix() }),
			reason: ReasonTime,
		},
		"fail/auth-time-in-the-future": {
			op:     editToken(func(op *testOP, c map[string]any) { c["auth_time"] = op.clock.Now().Add(time.Hour).Unix() }),
			reason: ReasonTime,
		},
		"fail/no-exp": {
			op:     editToken(func(op *testOP, c map[string]any) { delete(c, "exp") }),
			reason: ReasonMalformed,
		},
		"fail/exp-string": {
			op:     editToken(func(op *testOP, c map[string]any) { c["exp"] = "tomorrow" }),
			reason: ReasonMalformed,
		},

		// signatures and algorithms
		"fail/alg-none": {
			op:     signToken(func(op *testOP, c map[string]any) string { return unsignedJWT(keys()[0].kid, c) }),
			reason: ReasonAlgorithm,
		},
		"fail/hs256-with-rsa-public-key-as-secret": {
			op: signToken(func(op *testOP, c map[string]any) string {
				k := keys()[0]
				return signJWT(op.t, publicKeyBytes(op.t, &k.priv.PublicKey), k.kid, jose.HS256, c)
			}),
			reason: ReasonAlgorithm,
		},
		"fail/ps256-not-advertised": {
			op: signToken(func(op *testOP, c map[string]any) string {
				k := keys()[0]
				return signJWT(op.t, k.priv, k.kid, jose.PS256, c)
			}),
			reason: ReasonAlgorithm,
		},
		"fail/unknown-kid": {
			op:     func(op *testOP) { op.signer = keys()[1] },
			reason: ReasonSignature,
		},
		"fail/known-kid-other-key": {
			op: signToken(func(op *testOP, c map[string]any) string {
				return signJWT(op.t, keys()[1].priv, keys()[0].kid, jose.RS256, c)
			}),
			reason: ReasonSignature,
		},
		"fail/signature-tampered-payload": {
			op: signToken(func(op *testOP, c map[string]any) string {
				k := keys()[0]
				good := signJWT(op.t, k.priv, k.kid, jose.RS256, c)
				c["pid"] = testSynthetic
				forged := signJWT(op.t, k.priv, k.kid, jose.RS256, c)
				parts, fparts := strings.Split(good, "."), strings.Split(forged, ".")
				return parts[0] + "." + fparts[1] + "." + parts[2]
			}),
			reason: ReasonSignature,
		},
		"fail/jws-json-serialization": {
			op: signToken(func(op *testOP, c map[string]any) string {
				parts := strings.Split(signJWT(op.t, keys()[0].priv, keys()[0].kid, jose.RS256, c), ".")
				return `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
			}),
			reason: ReasonMalformed,
		},
		"fail/not-a-jwt": {
			op:     signToken(func(op *testOP, c map[string]any) string { return "not.a.jwt" }),
			reason: ReasonMalformed,
		},

		// identity
		"fail/level-too-low": {
			params: func(a *AuthParams) { a.MinLevel = 4 },
			user:   idportenUser(3),
			reason: ReasonLevel,
		},
		"fail/acr-unknown": {
			user:   map[string]any{"pid": testFNR, "acr": "idporten-loa-low"},
			reason: ReasonLevel,
		},
		"fail/bankid-acr-at-idporten": {
			user:   map[string]any{"pid": testFNR, "acr": identity.ACRBankIDHigh},
			reason: ReasonLevel,
		},
		"fail/synthetic-refused": {
			user:   map[string]any{"pid": testSynthetic, "acr": identity.ACRHigh},
			reason: ReasonAttributes,
		},
		"fail/pid-missing": {
			user:   map[string]any{"acr": identity.ACRHigh},
			reason: ReasonAttributes,
		},
		"fail/pid-invalid": {
			user:   map[string]any{"pid": "45678901234", "acr": identity.ACRHigh},
			reason: ReasonAttributes,
		},
		"fail/bankid-synthetic-refused": {
			preset: "bankid",
			cfg:    func(c *Config) { c.Scopes = []string{"nnin_altsub"} },
			user:   map[string]any{"acr": identity.ACRBankIDHigh, "nnin_altsub": testSynthetic},
			reason: ReasonAttributes,
		},
		"fail/bankid-level-3-for-level-4": {
			preset: "bankid",
			params: func(a *AuthParams) { a.MinLevel = 4 },
			user:   map[string]any{"acr": identity.ACRBankIDSubstantial},
			reason: ReasonLevel,
		},
	}
	for name, f := range tests {
		for _, m := range authMethods {
			t.Run(name+"/"+m, func(t *testing.T) {
				t.Parallel()
				f.run(t, m)
			})
		}
	}
}

// TestExchangeBadInputs drives Exchange with callbacks and parameters a handler could build by
// mistake: they are refused before any request leaves.
func TestExchangeBadInputs(t *testing.T) {
	op := newTestOP(t, AuthClientSecretBasic)
	p := newProvider(t, op, "idporten", nil)
	a := testParams(nil)
	for name, tc := range map[string]struct {
		cb     Callback
		a      AuthParams
		reason Reason // "" for a plain error
	}{
		"fail/no-code-no-error":  {cb: Callback{State: a.State, Iss: op.issuer}, a: a, reason: ReasonMalformed},
		"fail/state-charset":     {cb: Callback{State: a.State + "\n", Code: "c", Iss: op.issuer}, a: a, reason: ReasonMalformed},
		"fail/code-and-error":    {cb: Callback{State: a.State, Code: "c", Error: "access_denied", Iss: op.issuer}, a: a, reason: ReasonMalformed},
		"fail/params-no-nonce":   {cb: Callback{State: a.State, Code: "c", Iss: op.issuer}, a: AuthParams{State: a.State, CodeVerifier: a.CodeVerifier}},
		"fail/params-short-pkce": {cb: Callback{State: a.State, Code: "c", Iss: op.issuer}, a: AuthParams{State: a.State, Nonce: a.Nonce, CodeVerifier: "short"}},
		"fail/params-level-2":    {cb: Callback{State: a.State, Code: "c", Iss: op.issuer}, a: AuthParams{State: a.State, Nonce: a.Nonce, CodeVerifier: a.CodeVerifier, MinLevel: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.Exchange(context.Background(), tc.cb, tc.a)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
	if n := op.hitCount("token"); n != 0 {
		t.Errorf("token endpoint hit %d times", n)
	}
}

func TestOutcome(t *testing.T) {
	for code, want := range map[string]string{
		"access_denied":                     OutcomeCancelled,
		"unmet_authentication_requirements": OutcomeNoAuthnContext,
		"server_error":                      OutcomeIdPError,
		"invalid_request":                   OutcomeIdPError,
	} {
		if got := Outcome(&Error{Reason: ReasonStatus, Code: code}); got != want {
			t.Errorf("Outcome(%s) = %q, want %q", code, got, want)
		}
	}
	if got := Outcome(&Error{Reason: ReasonReplay, Code: "invalid_grant"}); got != "" {
		t.Errorf("Outcome(replay) = %q", got)
	}
	if got := Outcome(errors.New("x")); got != "" {
		t.Errorf("Outcome(plain) = %q", got)
	}
}
