package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/sqlite"
)

// memStore is the document part of a session.Store, shared by "instances" in a test.
type memStore struct {
	session.Store
	mu   sync.Mutex
	docs map[string]session.Document
	fail bool
}

func newMemStore() *memStore { return &memStore{docs: map[string]session.Document{}} }

func (m *memStore) PutDocument(_ context.Context, d *session.Document) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("store down")
	}
	c := *d
	c.Value = bytes.Clone(d.Value)
	m.docs[d.Key] = c
	return nil
}

func (m *memStore) GetDocument(_ context.Context, key string) (*session.Document, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errors.New("store down")
	}
	d, ok := m.docs[key]
	if !ok {
		return nil, session.ErrNotFound
	}
	d.Value = bytes.Clone(d.Value)
	return &d, nil
}

func (m *memStore) DeleteDocument(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.docs, key)
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start lies inside the validity of the fixtures' certificates.
var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const entityID = "https://idporten.test.example/idporten-saml"

func fixture(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "idp-idporten.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lifetime gives the fixture a validUntil and a cacheDuration.
func lifetime(t testing.TB, data []byte, validUntil time.Time, cache string) []byte {
	t.Helper()
	old := `ID="_idporten-test-metadata"`
	if !bytes.Contains(data, []byte(old)) {
		t.Fatal("fixture changed")
	}
	attrs := old + ` validUntil="` + validUntil.UTC().Format(time.RFC3339) + `"`
	if cache != "" {
		attrs += ` cacheDuration="` + cache + `"`
	}
	return bytes.Replace(data, []byte(old), []byte(attrs), 1)
}

// withSSO changes the Redirect SSO URL, so two versions can be told apart.
func withSSO(t testing.TB, data []byte, path string) []byte {
	t.Helper()
	old := "/opensso/SSORedirect/metaAlias/norge.no/idp3"
	if !bytes.Contains(data, []byte(old)) {
		t.Fatal("fixture changed")
	}
	return bytes.ReplaceAll(data, []byte(old), []byte(path))
}

func ssoOf(t testing.TB, r *Registry, name string) string {
	t.Helper()
	d, err := r.Descriptor(name)
	if err != nil {
		t.Fatalf("Descriptor(%s): %v", name, err)
	}
	e, _ := saml.EndpointFor(d.SingleSignOn, saml.BindingHTTPRedirect)
	return strings.TrimPrefix(e.Location, "https://idporten.test.example")
}

// server serves whatever doc holds; status overrides with an error.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	doc    []byte
	status int
	hits   atomic.Int32
}

func newServer(t *testing.T, doc []byte) *server {
	s := &server{doc: doc, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			http.Error(w, "down", s.status)
			return
		}
		w.Write(s.doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(doc []byte, status int) {
	s.mu.Lock()
	s.doc, s.status = doc, status
	s.mu.Unlock()
}

// logBuf collects log output to check for the alert lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type world struct {
	clock   *clock
	store   *memStore
	log     *logBuf
	results []bool
	mu      sync.Mutex
}

func newWorld() *world {
	return &world{clock: &clock{t: start}, store: newMemStore(), log: &logBuf{}}
}

func (w *world) registry(sources ...Source) *Registry {
	return New(Options{Store: w.store, Now: w.clock.Now, Log: slog.New(slog.NewTextHandler(w.log, nil)),
		Observe: func(_ string, ok bool) { w.mu.Lock(); w.results = append(w.results, ok); w.mu.Unlock() }}, sources)
}

func TestLoadFromFileAndRefresh(t *testing.T) {
	w := newWorld()
	path := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(path, fixture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.registry(Source{Name: "idporten", EntityID: entityID, File: path, Refresh: time.Hour})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ssoOf(t, r, "idporten"); got != "/opensso/SSORedirect/metaAlias/norge.no/idp3" {
		t.Fatalf("SSO %q", got)
	}
	st := r.Status()[0]
	if st.Current.Origin != OriginFile || st.Uploaded || st.Expired || st.NextRefresh != start.Add(time.Hour) {
		t.Fatalf("status %+v", st)
	}
	// A changed file is read at the next refresh, not before.
	if err := os.WriteFile(path, withSSO(t, fixture(t), "/v2/sso"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(59 * time.Minute)
	r.Tick(context.Background())
	if got := ssoOf(t, r, "idporten"); got == "/v2/sso" {
		t.Fatal("refreshed before the interval")
	}
	w.clock.Advance(time.Minute)
	r.Tick(context.Background())
	if got := ssoOf(t, r, "idporten"); got != "/v2/sso" {
		t.Fatalf("not refreshed at the interval: %q", got)
	}
	// A broken file keeps the last good copy and raises the alert.
	if err := os.WriteFile(path, []byte("<md:EntityDescriptor"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Hour)
	r.Tick(context.Background())
	if got := ssoOf(t, r, "idporten"); got != "/v2/sso" {
		t.Fatalf("a broken file replaced the good copy: %q", got)
	}
	if st := r.Status()[0]; st.LastError == "" || st.NextRefresh != w.clock.Now().Add(time.Minute) {
		t.Fatalf("failure not recorded or retried late: %+v", st)
	}
	if !strings.Contains(w.log.String(), "level=ERROR msg=\"idp metadata refresh failed\"") {
		t.Fatalf("no error-level log line for the failed refresh:\n%s", w.log)
	}
	if n := len(w.results); n != 3 || w.results[2] {
		t.Fatalf("observed %v", w.results)
	}
}

func TestURLCacheDurationLastGoodAndExpiry(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	doc := lifetime(t, fixture(t), start.Add(3*time.Hour), "PT10M")
	srv := newServer(t, doc)
	src := Source{Name: "idporten", EntityID: entityID, URL: srv.URL, Refresh: time.Hour}
	r := w.registry(src)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Status()[0]; st.Current.Origin != OriginURL || st.NextRefresh != start.Add(10*time.Minute) {
		t.Fatalf("cacheDuration not honoured: %+v", st)
	}
	if _, err := w.store.GetDocument(ctx, lastGoodKey("idporten")); err != nil {
		t.Fatalf("last good copy not kept in the store: %v", err)
	}
	w.clock.Advance(5 * time.Minute)
	r.Tick(ctx)
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("fetched %d times before cacheDuration", n)
	}
	w.clock.Advance(5 * time.Minute)
	r.Tick(ctx)
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetched %d times at cacheDuration, want 2", n)
	}

	// The URL goes down: the copy in use stays while it is valid, with back-off.
	srv.set(nil, http.StatusServiceUnavailable)
	w.clock.Advance(10 * time.Minute)
	r.Tick(ctx)
	if _, err := r.Descriptor("idporten"); err != nil {
		t.Fatalf("lost the good copy on a failed refresh: %v", err)
	}
	retry1 := r.Status()[0].NextRefresh.Sub(w.clock.Now())
	w.clock.Advance(retry1)
	r.Tick(ctx)
	retry2 := r.Status()[0].NextRefresh.Sub(w.clock.Now())
	if retry1 != time.Minute || retry2 != 2*time.Minute {
		t.Fatalf("back-off %s then %s, want 1m then 2m", retry1, retry2)
	}

	// A second instance starting while the URL is down uses the store's last good copy.
	r2 := w.registry(src)
	if err := r2.Load(ctx); err != nil {
		t.Fatalf("start with the URL down and a last good copy: %v", err)
	}
	if st := r2.Status()[0]; st.Current.Origin != OriginLastGood {
		t.Fatalf("origin %q", st.Current.Origin)
	}

	// Past validUntil nothing is used: never run on expired metadata.
	w.clock.Advance(3 * time.Hour)
	r.Tick(ctx)
	if _, err := r.Descriptor("idporten"); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired metadata still in use: %v", err)
	}
	if st := r.Status()[0]; !st.Expired {
		t.Fatalf("status does not say expired: %+v", st)
	}
	// An instance starting now cannot start on the expired last good copy.
	if err := w.registry(src).Load(ctx); err == nil {
		t.Fatal("started on expired metadata")
	}
	// The IdP publishes a new document: it is used at the next attempt.
	srv.set(lifetime(t, withSSO(t, fixture(t), "/v2/sso"), w.clock.Now().Add(48*time.Hour), ""), http.StatusOK)
	w.clock.Advance(r.Status()[0].NextRefresh.Sub(w.clock.Now()))
	r.Tick(ctx)
	if got := ssoOf(t, r, "idporten"); got != "/v2/sso" {
		t.Fatalf("recovered to %q", got)
	}
}

func TestURLRefusals(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	good := fixture(t)
	for name, body := range map[string][]byte{
		"doctype":      append([]byte(`<!DOCTYPE x [<!ENTITY a "b">]>`), good...),
		"huge":         append(bytes.Repeat([]byte(" "), saml.MetadataLimits().MaxBytes), good...),
		"other entity": bytes.ReplaceAll(good, []byte(entityID), []byte("https://evil.example/idp")),
		"http":         bytes.ReplaceAll(good, []byte("https://idporten.test.example/opensso/SSO"), []byte("http://idporten.test.example/opensso/SSO")),
		"expired":      lifetime(t, good, start.Add(-time.Second), ""),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, body)
			r := w.registry(Source{Name: "idporten", EntityID: entityID, URL: srv.URL, Refresh: time.Hour})
			if err := r.Load(ctx); err == nil {
				t.Fatal("accepted")
			}
			if _, err := r.Descriptor("idporten"); !errors.Is(err, ErrExpired) {
				t.Fatalf("Descriptor: %v", err)
			}
		})
	}
}

func TestUploadSharedAndRemoved(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(path, fixture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	src := Source{Name: "idporten", EntityID: entityID, File: path, Refresh: time.Hour}
	a, b := w.registry(src), w.registry(src)
	for _, r := range []*Registry{a, b} {
		if err := r.Load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A bad upload changes nothing, here or in the store.
	bad := bytes.ReplaceAll(fixture(t), []byte(entityID), []byte("https://evil.example/idp"))
	if _, err := a.Upload(ctx, "idporten", bad, "admin"); err == nil {
		t.Fatal("bad upload accepted")
	}
	if _, err := w.store.GetDocument(ctx, uploadKey("idporten")); !errors.Is(err, session.ErrNotFound) {
		t.Fatal("a refused upload was stored")
	}
	up := lifetime(t, withSSO(t, fixture(t), "/uploaded"), start.Add(24*time.Hour), "")
	e, err := a.Upload(ctx, "idporten", up, "admin 0101** *****")
	if err != nil {
		t.Fatal(err)
	}
	if e.Origin != OriginUpload || ssoOf(t, a, "idporten") != "/uploaded" {
		t.Fatal("upload not in use on the instance that took it")
	}
	if ssoOf(t, b, "idporten") == "/uploaded" {
		t.Fatal("test is wrong: b saw the upload before polling")
	}
	b.Tick(ctx)
	if got := ssoOf(t, b, "idporten"); got != "/uploaded" {
		t.Fatalf("the other instance does not see the upload: %q", got)
	}
	if st := b.Status()[0]; !st.Uploaded || st.Current.UpdatedBy != "admin 0101** *****" {
		t.Fatalf("status %+v", st)
	}
	// The upload wins over file refreshes while valid...
	w.clock.Advance(2 * time.Hour)
	b.Tick(ctx)
	if got := ssoOf(t, b, "idporten"); got != "/uploaded" {
		t.Fatalf("refresh replaced the upload: %q", got)
	}
	// ...and once it expires the configured source applies again.
	w.clock.Advance(23 * time.Hour)
	b.Tick(ctx)
	if got := ssoOf(t, b, "idporten"); got != "/opensso/SSORedirect/metaAlias/norge.no/idp3" {
		t.Fatalf("expired upload still in use: %q", got)
	}
	// Removing an upload on one instance reaches the other.
	w.clock.t = start
	if _, err := a.Upload(ctx, "idporten", up, "admin"); err != nil {
		t.Fatal(err)
	}
	b.Tick(ctx)
	if err := a.RemoveUpload(ctx, "idporten", "admin"); err != nil {
		t.Fatal(err)
	}
	b.Tick(ctx)
	for _, r := range []*Registry{a, b} {
		if got := ssoOf(t, r, "idporten"); got != "/opensso/SSORedirect/metaAlias/norge.no/idp3" {
			t.Fatalf("removed upload still in use: %q", got)
		}
	}
	// A store that cannot take the upload leaves everything as it was.
	w.store.fail = true
	if _, err := a.Upload(ctx, "idporten", up, "admin"); err == nil {
		t.Fatal("upload reported success without the store")
	}
	w.store.fail = false
	if got := ssoOf(t, a, "idporten"); got == "/uploaded" {
		t.Fatal("an upload the store refused is in use")
	}
	if _, err := a.Upload(ctx, "nope", up, "admin"); !errors.Is(err, ErrUnknownIdP) {
		t.Fatalf("unknown IdP: %v", err)
	}
}

func TestSignatureRequiredForUploads(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	certPEM, err := os.ReadFile(filepath.Join("..", "testdata", "idp-signing.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(path, fixture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.registry(Source{Name: "idporten", EntityID: entityID, File: path, TrustedCerts: []*x509.Certificate{cert}, Refresh: time.Hour})
	err = r.Load(ctx)
	if err == nil || saml.ReasonOf(err) != saml.ReasonSignature {
		t.Fatalf("unsigned metadata with a configured certificate: %v", err)
	}
	_, err = r.Upload(ctx, "idporten", fixture(t), "admin")
	if err == nil || saml.ReasonOf(err) != saml.ReasonSignature {
		t.Fatalf("unsigned upload with a configured certificate: %v", err)
	}
}

func TestPreviewDiff(t *testing.T) {
	w := newWorld()
	path := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(path, fixture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.registry(Source{Name: "idporten", EntityID: entityID, File: path, Refresh: time.Hour})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	same, err := r.Preview("idporten", fixture(t))
	if err != nil || len(same.Changes) != 0 {
		t.Fatalf("same document: %v %+v", err, same)
	}
	p, err := r.Preview("idporten", lifetime(t, withSSO(t, fixture(t), "/v2/sso"), start.Add(time.Hour), "PT1H"))
	if err != nil {
		t.Fatal(err)
	}
	var what []string
	for _, c := range p.Changes {
		what = append(what, c.What)
	}
	want := "SingleSignOnService (HTTP-Redirect),validUntil,cacheDuration"
	if got := strings.Join(what, ","); got != want {
		t.Fatalf("changes %q, want %q", got, want)
	}
	if _, err := r.Preview("idporten", []byte("<x/>")); err == nil {
		t.Fatal("preview of a non-metadata document")
	} else {
		var inv *metadata.InvalidError
		if !errors.As(err, &inv) || len(inv.Problems) == 0 {
			t.Fatalf("problems not listed: %v", err)
		}
	}
	// A certificate swap shows one added and one removed.
	a, _ := r.Descriptor("idporten")
	b := *a
	b.SigningCerts = a.SigningCerts[1:]
	if ch := Diff(a, &b); len(ch) != 1 || ch[0].Before == "" || ch[0].After != "" {
		t.Fatalf("removed certificate: %+v", ch)
	}
}

// FuzzPreview: whatever an admin uploads, Preview answers with a list of problems or a
// preview, never a panic, and never changes what is in force.
func FuzzPreview(f *testing.F) {
	good := fixture(f)
	f.Add(good)
	f.Add(withSSO(f, good, "/v2/sso"))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`))
	path := filepath.Join(f.TempDir(), "idp.xml")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		f.Fatal(err)
	}
	w := newWorld()
	r := w.registry(Source{Name: "idporten", EntityID: entityID, File: path, Refresh: time.Hour})
	if err := r.Load(context.Background()); err != nil {
		f.Fatal(err)
	}
	before, _ := r.Descriptor("idporten")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := r.Preview("idporten", data)
		if (err == nil) == (p == nil) {
			t.Fatalf("preview %v with error %v", p, err)
		}
		if err == nil && p.Desc.EntityID != entityID {
			t.Fatalf("preview accepted entity %q", p.Desc.EntityID)
		}
		if now, _ := r.Descriptor("idporten"); now != before {
			t.Fatal("a preview changed the metadata in force")
		}
	})
}

// TestUploadThroughSQLite: two instances on one SQLite file (two store handles) — an upload on one
// is in force on the other after its next tick, and survives a restart of both.
func TestUploadThroughSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(path, fixture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: start}
	open := func() (*Registry, session.Store) {
		st, err := sqlite.Open(filepath.Join(dir, "eidsp.db"), sqlite.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		r := New(Options{Store: st, Now: clk.Now, Log: slog.New(slog.DiscardHandler)},
			[]Source{{Name: "idporten", EntityID: entityID, File: path, Refresh: time.Hour}})
		if err := r.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return r, st
	}
	a, _ := open()
	b, _ := open()
	if _, err := a.Upload(ctx, "idporten", withSSO(t, fixture(t), "/uploaded"), "admin"); err != nil {
		t.Fatal(err)
	}
	b.Tick(ctx)
	if got := ssoOf(t, b, "idporten"); got != "/uploaded" {
		t.Fatalf("the other instance: %q", got)
	}
	c, _ := open() // a restart
	if got := ssoOf(t, c, "idporten"); got != "/uploaded" || c.Status()[0].Current.UpdatedBy != "admin" {
		t.Fatalf("after a restart: %q", got)
	}
}
