package oidcop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/internal/leakcheck"
)

// Test keys, made once: RSA key generation is slow under the race detector.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
})

func signerKey() *rsa.PrivateKey  { return testKeys()[0] }
func rotatedKey() *rsa.PrivateKey { return testKeys()[1] }
func clientKey() *rsa.PrivateKey  { return testKeys()[2] }
func otherKey() *rsa.PrivateKey   { return testKeys()[3] }

// clock is the injected clock, shared by the providers and the go-oidc verifiers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is both presets on one test server; RPs are only redirect URIs under /rp/ that the test
// browser does not follow.
type env struct {
	t     testing.TB
	clock *clock
	srv   *httptest.Server
	ops   map[string]*Provider
	logs  *syncBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().Truncate(time.Second)}, ops: map[string]*Provider{}, logs: &syncBuffer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/rp/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "rp") })
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	// A fuzz target's inputs may contain anything, so its log is neither kept nor checked.
	_, fuzzing := t.(*testing.F)
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if fuzzing {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, preset := range []string{PresetIDPorten, PresetBankID} {
		op, err := New(Config{
			BaseURL:       e.srv.URL,
			Preset:        preset,
			Signer:        signerKey(),
			Now:           e.clock.Now,
			Logger:        logger,
			AllowInsecure: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		e.ops[preset] = op
		mux.Handle("/oidc/"+preset+"/", op.Handler())
	}
	// What the log must never carry: a national identity number or a JWT.
	t.Cleanup(func() {
		if fuzzing {
			return
		}
		logs := e.logs.String()
		for _, p := range devidp.DefaultPersons() {
			if strings.Contains(logs, p.NationalID) {
				t.Errorf("log carries a national identity number:\n%s", logs)
			}
		}
		if leakcheck.JWTLike(logs) {
			t.Errorf("log carries a JWT:\n%s", logs)
		}
	})
	return e
}

func (e *env) ctx() context.Context {
	return oidc.ClientContext(context.Background(), e.srv.Client())
}

// browser is a user agent with a cookie jar that stops at the RPs.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.Path, "/rp/") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// rp is a relying party built from the standard client libraries.
type rp struct {
	e        *env
	op       *Provider
	client   Client
	key      *rsa.PrivateKey // private_key_jwt
	conf     *oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func (e *env) newRP(preset, id, method string, mutate ...func(*Client)) *rp {
	e.t.Helper()
	op := e.ops[preset]
	c := Client{
		ID:                     id,
		AuthMethod:             method,
		RedirectURIs:           []string{e.srv.URL + "/rp/" + id + "/callback"},
		PostLogoutRedirectURIs: []string{e.srv.URL + "/rp/" + id + "/logged-out"},
		FrontchannelLogoutURI:  e.srv.URL + "/rp/" + id + "/frontchannel-logout",
	}
	r := &rp{e: e, op: op}
	if method == AuthPrivateKeyJWT {
		r.key = clientKey()
		c.PublicKey = &r.key.PublicKey
	} else {
		// Characters that Basic authentication must form-encode (RFC 6749 §2.3.1).
		c.Secret = "secret-of-" + id + ":+/ %&"
	}
	for _, m := range mutate {
		m(&c)
	}
	if err := op.RegisterClient(c); err != nil {
		e.t.Fatal(err)
	}
	r.client = c
	provider, err := oidc.NewProvider(e.ctx(), op.Issuer())
	if err != nil {
		e.t.Fatal(err)
	}
	r.provider = provider
	ep := provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	if method == AuthClientSecretBasic {
		ep.AuthStyle = oauth2.AuthStyleInHeader
	}
	r.conf = &oauth2.Config{ClientID: id, ClientSecret: c.Secret, Endpoint: ep, RedirectURL: c.RedirectURIs[0], Scopes: []string{oidc.ScopeOpenID, "profile"}}
	r.verifier = provider.Verifier(&oidc.Config{ClientID: id, Now: e.clock.Now})
	return r
}

// flow is one authorization request's secrets.
type flow struct {
	state, nonce, verifier string
}

func newFlow() flow {
	return flow{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
}

func (r *rp) authURL(f flow, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	return r.conf.AuthCodeURL(f.state, opts...)
}

// page is a login page as the browser saw it.
type page struct {
	body   string
	action string
	token  string
	eIDs   []string
}

var (
	reAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	reToken  = regexp.MustCompile(`name="login" value="([^"]+)"`)
	reEID    = regexp.MustCompile(`name="eid" value="([^"]+)"`)
)

// get fetches u in browser b and returns the response with its body read.
func (e *env) get(b *http.Client, u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// loginPage expects the login page at u.
func (e *env) loginPage(b *http.Client, u string) page {
	e.t.Helper()
	resp, body := e.get(b, u)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET authorize: HTTP %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	p := page{body: body}
	if m := reAction.FindStringSubmatch(body); m != nil {
		p.action = m[1]
	}
	if m := reToken.FindStringSubmatch(body); m != nil {
		p.token = m[1]
	}
	for _, m := range reEID.FindAllStringSubmatch(body, -1) {
		p.eIDs = append(p.eIDs, m[1])
	}
	if p.action == "" || p.token == "" {
		e.t.Fatalf("no login form:\n%s", body)
	}
	return p
}

// submit answers the login page and returns the redirect's query.
func (e *env) submit(b *http.Client, p page, form url.Values) (*http.Response, url.Values) {
	e.t.Helper()
	form.Set("login", p.token)
	resp, err := b.PostForm(e.srv.URL+p.action, form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp, redirectQuery(e.t, resp)
}

// redirectQuery is the query of a redirect to an RP.
func redirectQuery(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

var defaultPerson = devidp.DefaultPersons()[0]

// login runs the page with the first test person and eid and returns the code, checking state
// and iss.
func (e *env) login(b *http.Client, r *rp, f flow, eid string, extra ...oauth2.AuthCodeOption) string {
	e.t.Helper()
	p := e.loginPage(b, r.authURL(f, extra...))
	_, q := e.submit(b, p, url.Values{"person": {defaultPerson.NationalID}, "eid": {eid}})
	return e.checkCode(r, f, q)
}

func (e *env) checkCode(r *rp, f flow, q url.Values) string {
	e.t.Helper()
	if q == nil || q.Get("code") == "" {
		e.t.Fatalf("no code in redirect: %v", q)
	}
	if q.Get("state") != f.state || q.Get("iss") != r.op.Issuer() {
		e.t.Fatalf("state %q iss %q", q.Get("state"), q.Get("iss"))
	}
	return q.Get("code")
}

// assertion is a private_key_jwt client assertion for r signed by key.
func (r *rp) assertion(key *rsa.PrivateKey, aud, jti string, lifetime time.Duration) string {
	r.e.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		r.e.t.Fatal(err)
	}
	now := r.e.clock.Now()
	if jti == "" {
		jti = oauth2.GenerateVerifier()
	}
	s, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: r.client.ID, Subject: r.client.ID, Audience: jwt.Audience{aud}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(lifetime)),
	}).Serialize()
	if err != nil {
		r.e.t.Fatal(err)
	}
	return s
}

func assertionOpts(a string) []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("client_assertion_type", clientAssertionType),
		oauth2.SetAuthURLParam("client_assertion", a),
	}
}

// exchange redeems code with oauth2 (PKCE verifier, a fresh assertion for private_key_jwt) and
// verifies the ID token with go-oidc and the nonce.
func (r *rp) exchange(f flow, code string) (*oauth2.Token, *oidc.IDToken, error) {
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(f.verifier)}
	if r.key != nil {
		opts = append(opts, assertionOpts(r.assertion(r.key, r.op.Issuer(), "", time.Minute))...)
	}
	tok, err := r.conf.Exchange(r.e.ctx(), code, opts...)
	if err != nil {
		return nil, nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.e.ctx(), raw)
	if err != nil {
		return tok, nil, err
	}
	if idt.Nonce != f.nonce {
		r.e.t.Fatalf("nonce %q, want %q", idt.Nonce, f.nonce)
	}
	return tok, idt, nil
}

// claims is the ID token's claims this package sets.
type claims struct {
	Sub        string   `json:"sub"`
	ACR        string   `json:"acr"`
	AMR        []string `json:"amr"`
	AuthTime   int64    `json:"auth_time"`
	SID        string   `json:"sid"`
	PID        string   `json:"pid"`
	Locale     string   `json:"locale"`
	NNINAltsub string   `json:"nnin_altsub"`
	IAT        int64    `json:"iat"`
	EXP        int64    `json:"exp"`
}

func tokenClaims(t testing.TB, idt *oidc.IDToken) claims {
	t.Helper()
	var c claims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// oauthErrorCode is the OAuth error code of an oauth2 exchange error.
func oauthErrorCode(t testing.TB, err error) string {
	t.Helper()
	re, ok := err.(*oauth2.RetrieveError)
	if !ok {
		t.Fatalf("error %v is not an OAuth error", err)
	}
	return re.ErrorCode
}

// postForm posts a raw form with optional Basic credentials and returns status and JSON body.
func (e *env) postForm(u string, form url.Values, basicUser, basicPass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// jwtHeader is the protected header of a compact JWS.
func jwtHeader(t testing.TB, s string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(s, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}
