package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// This file is an OpenID provider for the tests, built from httptest and go-jose: discovery,
// a JWKS whose keys the test rotates, an authorization step the test calls directly (it stands
// for the user's login), a token endpoint that checks the code (one use), the redirect URI,
// PKCE S256 and the client's authentication by its registered method, and a PAR endpoint.
// Every knob a test case turns is a field under mu.

const (
	opClientID     = "client-1"
	opClientSecret = "s3cret: with spaces & = signs" // exercises the form-encoding of Basic
	opRedirect     = "https://sp.example.no/oidc/callback"
	testFNR        = "31129956715"
	testSynthetic  = "20914695016"
)

var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testClock is the one clock of a test: the provider under test and the test OP read it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type opKey struct {
	priv *rsa.PrivateKey
	kid  string
}

// Keys are generated once per test binary: RSA generation dominates the run time otherwise.
var (
	keysOnce  sync.Once
	testKeys  []opKey
	clientKey *rsa.PrivateKey
)

func keys() []opKey {
	keysOnce.Do(func() {
		for i := range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, opKey{priv: k, kid: "op-key-" + string(rune('a'+i))})
		}
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		clientKey = k
	})
	return testKeys
}

type grant struct {
	params url.Values
	claims map[string]any // the user's claims, chosen at login
	used   bool
}

type testOP struct {
	t      testing.TB
	srv    *httptest.Server
	issuer string
	clock  *testClock

	mu sync.Mutex
	// client registration
	authMethod string
	// keys
	published []opKey // in the JWKS
	signer    opKey   // signs ID tokens
	// knobs
	discoveryEdit   func(d map[string]any)
	discoveryStatus int                                // non-zero: answer discovery with this status
	jwksStatus      int                                // non-zero: answer the JWKS with this status
	idTokenEdit     func(claims map[string]any)        // applied to every ID token's claims
	idTokenSign     func(claims map[string]any) string // replaces the normal signature
	tokenStatus     int                                // non-zero: the token endpoint fails with this status, no JSON
	tokenError      string                             // non-empty: the token endpoint answers this OAuth error
	omitIDToken     bool
	// state
	codes  map[string]*grant
	pars   map[string]url.Values
	jtis   map[string]bool
	hits   map[string]int
	lastAz url.Values // the parameters of the last authorization request (pushed or not)
}

func newTestOP(t testing.TB, authMethod string) *testOP {
	t.Helper()
	ks := keys()
	op := &testOP{
		t:          t,
		clock:      &testClock{t: testStart},
		authMethod: authMethod,
		published:  []opKey{ks[0]},
		signer:     ks[0],
		codes:      map[string]*grant{},
		pars:       map[string]url.Values{},
		jtis:       map[string]bool{},
		hits:       map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /op/.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /op/jwks", op.jwks)
	mux.HandleFunc("POST /op/token", op.token)
	mux.HandleFunc("POST /op/par", op.par)
	op.srv = httptest.NewTLSServer(mux)
	t.Cleanup(op.srv.Close)
	op.issuer = op.srv.URL + "/op"
	return op
}

func (op *testOP) set(f func(op *testOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *testOP) hitCount(endpoint string) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.hits[endpoint]
}

func (op *testOP) discovery(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.hits["discovery"]++
	if op.discoveryStatus != 0 {
		http.Error(w, "down", op.discoveryStatus)
		return
	}
	d := map[string]any{
		"issuer":                                op.issuer,
		"authorization_endpoint":                op.issuer + "/authorize",
		"token_endpoint":                        op.issuer + "/token",
		"jwks_uri":                              op.issuer + "/jwks",
		"end_session_endpoint":                  op.issuer + "/endsession",
		"pushed_authorization_request_endpoint": op.issuer + "/par",
		"authorization_response_iss_parameter_supported":   true,
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"response_types_supported":                         []string{"code"},
		"token_endpoint_auth_methods_supported":            []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256"},
	}
	if op.discoveryEdit != nil {
		op.discoveryEdit(d)
	}
	writeJSON(w, http.StatusOK, d)
}

func (op *testOP) jwks(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.hits["jwks"]++
	if op.jwksStatus != 0 {
		http.Error(w, "down", op.jwksStatus)
		return
	}
	var set jose.JSONWebKeySet
	for _, k := range op.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	writeJSON(w, http.StatusOK, set)
}

// login plays the authorization endpoint and the user: it reads the authorization request
// (directly or through request_uri), checks it as ID-porten would, and returns the callback query
// with a fresh code. claims are the user's (pid, acr, amr, …).
func (op *testOP) login(authURL string, claims map[string]any) url.Values {
	op.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		op.t.Fatalf("authorization URL: %v", err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != op.issuer+"/authorize" {
		op.t.Fatalf("authorization endpoint = %s", got)
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	q := u.Query()
	if ru := q.Get("request_uri"); ru != "" {
		pushed, ok := op.pars[ru]
		if !ok {
			op.t.Fatalf("unknown request_uri")
		}
		delete(op.pars, ru)
		if len(q) != 2 || q.Get("client_id") != opClientID {
			op.t.Fatalf("pushed authorization URL carries more than client_id and request_uri: %v", q)
		}
		q = pushed
	}
	if msg := checkAuthzRequest(q); msg != "" {
		op.t.Fatalf("authorization request: %s", msg)
	}
	op.lastAz = q
	code := randomString(24)
	op.codes[code] = &grant{params: q, claims: claims}
	return url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer}}
}

func checkAuthzRequest(q url.Values) string {
	switch {
	case q.Get("response_type") != "code":
		return "response_type is not code"
	case q.Get("client_id") != opClientID:
		return "wrong client_id"
	case q.Get("redirect_uri") != opRedirect:
		return "wrong redirect_uri"
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		return "no PKCE S256"
	case q.Get("state") == "" || q.Get("nonce") == "":
		return "no state or nonce"
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		return "scope without openid"
	}
	return ""
}

// clientAuth checks the client's authentication by its registered method; "" when good.
func (op *testOP) clientAuth(r *http.Request) string {
	id, secret, basic := r.BasicAuth()
	switch op.authMethod {
	case AuthClientSecretBasic:
		if !basic {
			return "no Basic authorization"
		}
		uid, err1 := url.QueryUnescape(id)
		usecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || uid != opClientID || usecret != opClientSecret {
			return "Basic credentials wrong"
		}
		if r.PostForm.Has("client_secret") {
			return "secret in the body as well"
		}
	case AuthClientSecretPost:
		if basic {
			return "Basic authorization with client_secret_post"
		}
		if r.PostForm.Get("client_id") != opClientID || r.PostForm.Get("client_secret") != opClientSecret {
			return "form credentials wrong"
		}
	case AuthPrivateKeyJWT:
		if basic || r.PostForm.Has("client_secret") {
			return "a secret with private_key_jwt"
		}
		if r.PostForm.Get("client_assertion_type") != clientAssertionType {
			return "wrong client_assertion_type"
		}
		tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return "client assertion: " + err.Error()
		}
		if tok.Headers[0].KeyID != "client-key-1" {
			return "client assertion kid wrong"
		}
		var c jwt.Claims
		if err := tok.Claims(&clientKey.PublicKey, &c); err != nil {
			return "client assertion signature: " + err.Error()
		}
		now := op.clock.Now()
		switch {
		case c.Issuer != opClientID || c.Subject != opClientID:
			return "client assertion iss/sub"
		case !c.Audience.Contains(op.issuer):
			return "client assertion aud"
		case c.Expiry == nil || c.IssuedAt == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > 120*time.Second:
			return "client assertion lifetime"
		case !now.Before(c.Expiry.Time()):
			return "client assertion expired"
		case c.ID == "" || op.jtis[c.ID]:
			return "client assertion jti missing or reused"
		}
		op.jtis[c.ID] = true
	}
	return ""
}

func (op *testOP) par(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.hits["par"]++
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if msg := op.clientAuth(r); msg != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": msg})
		return
	}
	if r.PostForm.Has("request_uri") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	params := url.Values{}
	for k, v := range r.PostForm {
		switch k {
		case "client_secret", "client_assertion", "client_assertion_type":
		default:
			params[k] = v
		}
	}
	ru := "urn:ietf:params:oauth:request_uri:" + randomString(16)
	op.pars[ru] = params
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": ru, "expires_in": 60})
}

func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.hits["token"]++
	if op.tokenStatus != 0 {
		http.Error(w, "<html>gateway timeout</html>", op.tokenStatus)
		return
	}
	if op.tokenError != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": op.tokenError, "error_description": "as configured"})
		return
	}
	fail := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "form")
		return
	}
	if msg := op.clientAuth(r); msg != "" {
		fail(http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	g, ok := op.codes[r.PostForm.Get("code")]
	if !ok || g.used {
		fail(http.StatusBadRequest, "invalid_grant", "code unknown or used")
		return
	}
	g.used = true // one attempt per code, whatever comes next
	if r.PostForm.Get("redirect_uri") != g.params.Get("redirect_uri") {
		fail(http.StatusBadRequest, "invalid_grant", "redirect_uri")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.params.Get("code_challenge") {
		fail(http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}

	now := op.clock.Now()
	claims := map[string]any{
		"iss":       op.issuer,
		"sub":       "sub-" + opClientID,
		"aud":       opClientID,
		"exp":       now.Add(120 * time.Second).Unix(),
		"iat":       now.Unix(),
		"auth_time": now.Unix(),
		"nonce":     g.params.Get("nonce"),
		"sid":       "sid-1",
		"jti":       randomString(8),
	}
	maps.Copy(claims, g.claims)
	if op.idTokenEdit != nil {
		op.idTokenEdit(claims)
	}
	var idToken string
	if op.idTokenSign != nil {
		idToken = op.idTokenSign(claims)
	} else {
		idToken = signJWT(op.t, op.signer.priv, op.signer.kid, jose.RS256, claims)
	}
	resp := map[string]any{"access_token": "at-" + randomString(16), "token_type": "Bearer", "expires_in": 120}
	if !op.omitIDToken {
		resp["id_token"] = idToken
	}
	writeJSON(w, http.StatusOK, resp)
}

// signJWT signs claims as a compact JWS with key (an *rsa.PrivateKey or an HMAC secret).
func signJWT(t testing.TB, key any, kid string, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("claims: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return s
}

// unsignedJWT is the alg=none token go-jose refuses to make.
func unsignedJWT(kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// publicKeyBytes is the RSA public key as a naive verifier would use it for HS256: the classic
// algorithm-confusion secret.
func publicKeyBytes(t testing.TB, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
