package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/sqlite"
	"github.com/eidsp/eidsp/templates"
)

var (
	keyOnce sync.Once
	testKey *certs.KeyPair
	keyErr  error
)

// keyPair is one RSA key pair for the whole package: generating keys under the race detector
// is slow.
func keyPair(t testing.TB) *certs.KeyPair {
	t.Helper()
	keyOnce.Do(func() { testKey, keyErr = certs.Generate("handlers test", 24*time.Hour, time.Now(), rand.Reader) })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return testKey
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer is safe for the concurrent writes of a server.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records returns the log records with message msg.
func (l *logBuffer) records(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// countingStore counts created sessions.
type countingStore struct {
	session.Store
	mu      sync.Mutex
	created int
}

func (s *countingStore) CreateSession(ctx context.Context, sess *session.Session) error {
	s.mu.Lock()
	s.created++
	s.mu.Unlock()
	return s.Store.CreateSession(ctx, sess)
}

func (s *countingStore) ClaimAndCreateSession(ctx context.Context, key string, until time.Time, sess *session.Session) error {
	err := s.Store.ClaimAndCreateSession(ctx, key, until, sess)
	if err == nil {
		s.mu.Lock()
		s.created++
		s.mu.Unlock()
	}
	return err
}

func (s *countingStore) sessionsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

const (
	testIdPEntityID = "https://idp.example/idp"
	testSSO         = "https://idp.example/idp/sso"
)

type fixture struct {
	srv   *Server
	store *countingStore
	clock *clock
	logs  *logBuffer
}

type fixtureOption func(*Server)

func withBaseURL(u string) fixtureOption { return func(s *Server) { s.Opt.BaseURL = u } }

// newFixture builds a Server over a SQLite store in a temporary directory, with one artifact IdP
// "idp" (its resolution service unreachable) and one POST IdP "post", and profiles at level 3
// and 4.
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	kp := keyPair(t)
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "eidsp.db"), sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pages, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	desc := &saml.IdPDescriptor{
		EntityID:           testIdPEntityID,
		SingleSignOn:       []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: testSSO}},
		ArtifactResolution: []saml.Endpoint{{Binding: saml.BindingSOAP, Location: "http://127.0.0.1:1/ars", Index: 0, IsDefault: true}},
		SigningCerts:       nil,
	}
	desc.SigningCerts = append(desc.SigningCerts, kp.Cert)
	idp := func(name, binding string) *IdP {
		return &IdP{
			Name: name,
			Policy: &saml.IdP{Name: name, Descriptor: desc, Algorithms: saml.DefaultAlgorithms(),
				InResponseTo: saml.InResponseToAuthnRequest, RequireEncryptedAssertion: true,
				AttributeMap: identity.PresetIPS(), AllowSynthetic: true},
			SSOURL: testSSO, Binding: binding,
			Signer:              saml.Signer{Key: kp.Key, Cert: kp.Cert},
			InstrumentNamespace: "urn:eidsp:buypass:ips",
		}
	}
	cs := &countingStore{Store: st}
	s := &Server{
		Opt: Options{
			BaseURL: "http://localhost:8080", EntityID: "http://localhost:8080/saml/metadata", PortalName: "test portal",
			CookieName: "eidsp_session", IdleTimeout: 30 * time.Minute, MaxLifetime: 120 * time.Minute,
			PendingTTL: 15 * time.Minute, SOAPTimeout: 2 * time.Second, MaxPostBytes: 64 << 10,
			HashKey: bytes.Repeat([]byte{7}, 32),
		},
		Store: cs, Pages: pages, Log: slog.New(slog.NewJSONHandler(logs, nil)), Now: clk.Now,
		Verifier: saml.Verifier{EntityID: "http://localhost:8080/saml/metadata", DecryptionKeys: []*rsa.PrivateKey{kp.Key},
			Skew: 3 * time.Minute, MaxAge: time.Minute, Limits: saml.DefaultLimits()},
		SOAP: saml.SOAPClient{HTTP: &http.Client{Timeout: 2 * time.Second}, MaxBytes: 1 << 20},
		IdPs: map[string]*IdP{"idp": idp("idp", saml.BindingHTTPArtifact), "post": idp("post", saml.BindingHTTPPost)},
		Profiles: []Profile{
			{Name: "p3", Label: "profile.idporten", IdP: "idp", MinLevel: 3},
			{Name: "p4", Label: "profile.idporten-high", IdP: "idp", MinLevel: 4},
			{Name: "mobile", Label: "profile.buypass-mobile", IdP: "idp", MinLevel: 4, Instruments: []string{"ips:OTP1PKI", "ips:CC2PKI"}},
			{Name: "post", Label: "profile.buypass", IdP: "post", MinLevel: 4},
			{Name: "broken", Label: "profile.buypass", IdP: "gone", MinLevel: 4},
		},
		SPMetadata: []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://localhost:8080/saml/metadata"/>`),
	}
	for _, o := range opts {
		o(s)
	}
	if strings.HasPrefix(s.Opt.BaseURL, "https://") {
		s.Opt.EntityID = s.Opt.BaseURL + "/saml/metadata"
		s.Verifier.EntityID = s.Opt.EntityID
	}
	return &fixture{srv: s, store: cs, clock: clk, logs: logs}
}

// request sends one request through the Echo router.
func (f *fixture) request(method, target string, body string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.srv.Echo().ServeHTTP(rec, req)
	return rec
}

// newSession stores a session of level lvl and returns its cookie.
func (f *fixture) newSession(t testing.TB, lvl int, lastSeen time.Time) *http.Cookie {
	t.Helper()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	sess := &session.Session{
		ID: id, Profile: "p3", CreatedAt: lastSeen, LastSeen: lastSeen, ExpiresAt: now.Add(time.Hour),
		Identity: identity.Identity{
			NationalID: "15819010290", Kind: identity.KindSyntheticFNR, Instrument: identity.InstrumentUnknown,
			Level: lvl, LoA: identity.LoAForLevel(lvl), AuthMethod: "Minid-PIN", IdP: "idp", SessionIndex: "_idx1",
			NameID: "_name", Culture: "nb", AuthenticatedAt: lastSeen,
		},
	}
	if err := f.store.Store.CreateSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: f.srv.Opt.CookieName, Value: id}
}

// pendingFor starts a login through GET /login and returns its RelayState and binding cookie.
func (f *fixture) pendingFor(t testing.TB, profile string) (string, *http.Cookie) {
	t.Helper()
	rec := f.request(http.MethodGet, "/login?profile="+profile, "")
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /login: %d\n%s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	relay := loc.Query().Get("RelayState")
	for _, c := range rec.Result().Cookies() {
		if c.Name == bindingCookie(relay) {
			return relay, &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatalf("GET /login set no binding cookie")
	return "", nil
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
