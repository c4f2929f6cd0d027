// Package registry keeps every configured IdP's metadata as it currently stands, and changes it
// safely: it reads the configured file or URL, refreshes it in the background as the document's
// cacheDuration and the configured interval say, takes admin uploads, and shares what it accepts
// through the session store so that every instance behind the load balancer uses the same copy.
//
// The rules, in order of precedence:
//
//   - An admin upload (stored in the store) wins over the configured source while it is valid;
//     removing it returns to the configured source.
//   - A refresh that fails keeps the last good copy. A copy from a URL is also kept in the store,
//     so an instance that starts while the URL is down uses it.
//   - Expired metadata is never used: once the copy in use is past its validUntil and nothing
//     newer can be had, Descriptor returns ErrExpired and logins to that IdP fail with a clear
//     page; every failed refresh is logged at error level and counted (the alert).
//
// Every document goes through metadata.ParseIdP with the IdP's configured rules (entity ID,
// signature certificates, https endpoints), whichever way it came in.
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
)

// Origins of a copy in use.
const (
	OriginFile     = "file"      // the configured metadata_file
	OriginURL      = "url"       // fetched from the configured metadata_url
	OriginLastGood = "last-good" // the last copy fetched from the URL, kept in the store
	OriginUpload   = "upload"    // uploaded by an admin
)

// ErrExpired means the IdP's metadata has expired and no valid copy could be had.
var ErrExpired = errors.New("the IdP's metadata has expired and no valid copy could be fetched")

// ErrUnknownIdP is returned for a name that is not configured.
var ErrUnknownIdP = errors.New("no IdP with that name is configured")

// minInterval bounds how often a source is read, whatever the document's cacheDuration says.
const minInterval = time.Minute

// expiryLead is how long before a copy's validUntil it is read again at the latest.
const expiryLead = 10 * time.Minute

// maxRetry is the longest wait between attempts after a failed refresh.
const maxRetry = 15 * time.Minute

// Source is one configured IdP and where its metadata comes from.
type Source struct {
	Name     string // the IdP's name in the configuration
	EntityID string // required of the document when set; selects the entity in an aggregate
	File     string // exactly one of File and URL
	URL      string
	// TrustedCerts, when set, require a valid XML signature by one of them on every document,
	// uploads included.
	TrustedCerts  []*x509.Certificate
	AllowInsecure bool          // http:// endpoints on loopback hosts only (development)
	Refresh       time.Duration // longest time between reads; a shorter cacheDuration wins
}

// Options are the registry's dependencies.
type Options struct {
	// Store shares uploads and last good copies between instances; nil: none (eidsp
	// check-config reads the configured sources only).
	Store session.Store
	HTTP  *http.Client // for URLs; nil: a client with a 15 s timeout
	Now   func() time.Time
	Log   *slog.Logger
	// Observe, when set, is told the outcome of every refresh attempt (for metrics).
	Observe func(idp string, ok bool)
}

// Entry is one accepted copy of an IdP's metadata.
type Entry struct {
	Desc      *saml.IdPDescriptor
	Origin    string
	Raw       []byte
	SHA256    string    // hex, of Raw
	LoadedAt  time.Time // when this instance accepted it
	UpdatedBy string    // for uploads: who uploaded it
	UpdatedAt time.Time // for uploads and last-good copies: when it was stored
}

// Status is what the admin pages and /readyz show of one IdP.
type Status struct {
	Name        string
	Source      string // the configured file path or URL
	Current     *Entry // nil: none usable
	Expired     bool   // Current is past its validUntil
	Uploaded    bool   // an admin upload is in use
	LastAttempt time.Time
	LastError   string // of the last failed refresh; empty after a success
	NextRefresh time.Time
}

// Registry holds the IdPs' metadata. It is safe for concurrent use.
type Registry struct {
	opt     Options
	sources map[string]Source
	names   []string

	mu    sync.RWMutex
	state map[string]*state
}

type state struct {
	// op serializes the operations that change this IdP's copies (upload, removal, the poll of
	// the store, a refresh), so that a poll that read the store before a removal cannot put the
	// removed upload back, nor a failed refresh replace what a concurrent one just loaded.
	op          sync.Mutex
	current     *Entry // from the configured source or the last-good copy
	upload      *Entry // an admin upload, which wins while valid
	lastAttempt time.Time
	lastError   string
	nextRefresh time.Time
	failures    int
}

// New returns a registry for the given sources; Load reads them.
func New(opt Options, sources []Source) *Registry {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect could lead from https to http
		}}
	}
	r := &Registry{opt: opt, sources: map[string]Source{}, state: map[string]*state{}}
	for _, s := range sources {
		r.sources[s.Name] = s
		r.names = append(r.names, s.Name)
		r.state[s.Name] = &state{}
	}
	sort.Strings(r.names)
	return r
}

func uploadKey(name string) string   { return "idp-metadata/upload/" + name }
func lastGoodKey(name string) string { return "idp-metadata/last-good/" + name }

// Load reads every IdP's metadata: an upload in the store, then the configured source, then (for a
// URL that cannot be read) the last good copy in the store. It fails when an IdP ends up with no
// usable metadata, naming each such IdP.
func (r *Registry) Load(ctx context.Context) error {
	var errs []error
	for _, name := range r.names {
		r.pollUpload(ctx, name)
		if err := r.refresh(ctx, name); err != nil && !r.usable(name) {
			errs = append(errs, fmt.Errorf("idp %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// usable reports whether Descriptor would return metadata for name now.
func (r *Registry) usable(name string) bool {
	_, err := r.Descriptor(name)
	return err == nil
}

// Descriptor returns the IdP's metadata in force now: a valid upload, else the configured
// source's copy. ErrExpired when neither is valid.
func (r *Registry) Descriptor(name string) (*saml.IdPDescriptor, error) {
	e, err := r.entry(name)
	if err != nil {
		return nil, err
	}
	return e.Desc, nil
}

func (r *Registry) entry(name string) (*Entry, error) {
	r.mu.RLock()
	st, ok := r.state[name]
	var up, cur *Entry
	if ok {
		up, cur = st.upload, st.current
	}
	r.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownIdP
	}
	now := r.opt.Now()
	if valid(up, now) {
		return up, nil
	}
	if valid(cur, now) {
		return cur, nil
	}
	return nil, ErrExpired
}

func valid(e *Entry, now time.Time) bool {
	return e != nil && (e.Desc.ValidUntil.IsZero() || now.Before(e.Desc.ValidUntil))
}

// Check parses data with the IdP's rules and reports every problem; nothing is changed.
func (r *Registry) Check(name string, data []byte) (*saml.IdPDescriptor, error) {
	src, ok := r.sources[name]
	if !ok {
		return nil, ErrUnknownIdP
	}
	return r.parse(src, data)
}

func (r *Registry) parse(src Source, data []byte) (*saml.IdPDescriptor, error) {
	desc, err := metadata.ParseIdP(data, metadata.ParseOptions{EntityID: src.EntityID, AllowInsecure: src.AllowInsecure,
		Now: r.opt.Now(), TrustedCerts: src.TrustedCerts})
	if err != nil {
		return nil, err
	}
	if _, ok := saml.EndpointFor(desc.SingleSignOn, saml.BindingHTTPRedirect); !ok {
		return nil, &metadata.InvalidError{Subject: "IdP metadata",
			Problems: []string{"it has no SingleSignOnService with the HTTP-Redirect binding"}}
	}
	return desc, nil
}

func newEntry(desc *saml.IdPDescriptor, origin string, raw []byte, now time.Time) *Entry {
	sum := sha256.Sum256(raw)
	return &Entry{Desc: desc, Origin: origin, Raw: raw, SHA256: hex.EncodeToString(sum[:]), LoadedAt: now}
}

// Upload checks data with the IdP's rules and, when it passes, stores it as the IdP's metadata
// for every instance and uses it at once. by says who uploaded it (for the admin pages).
func (r *Registry) Upload(ctx context.Context, name string, data []byte, by string) (*Entry, error) {
	if len(data) > session.MaxDocumentBytes {
		return nil, &metadata.InvalidError{Subject: "upload", Problems: []string{
			fmt.Sprintf("the document is %d bytes; an upload may be at most %d bytes", len(data), session.MaxDocumentBytes)}}
	}
	desc, err := r.Check(name, data)
	if err != nil {
		return nil, err
	}
	if r.opt.Store == nil {
		return nil, errors.New("no store to keep the upload in")
	}
	st := r.state[name]
	st.op.Lock()
	defer st.op.Unlock()
	now := r.opt.Now()
	doc := &session.Document{Key: uploadKey(name), Value: bytes.Clone(data), UpdatedAt: now, UpdatedBy: by}
	if err := r.opt.Store.PutDocument(ctx, doc); err != nil {
		return nil, fmt.Errorf("storing the upload: %w", err)
	}
	e := newEntry(desc, OriginUpload, doc.Value, now)
	e.UpdatedBy, e.UpdatedAt = by, now
	r.mu.Lock()
	r.state[name].upload = e
	r.mu.Unlock()
	r.opt.Log.Info("idp metadata uploaded", "idp", name, "sha256", e.SHA256, "by", by)
	return e, nil
}

// RemoveUpload deletes the IdP's upload from the store; the configured source applies again.
func (r *Registry) RemoveUpload(ctx context.Context, name, by string) error {
	if _, ok := r.sources[name]; !ok {
		return ErrUnknownIdP
	}
	if r.opt.Store == nil {
		return errors.New("no store")
	}
	st := r.state[name]
	st.op.Lock()
	defer st.op.Unlock()
	if err := r.opt.Store.DeleteDocument(ctx, uploadKey(name)); err != nil {
		return err
	}
	r.mu.Lock()
	r.state[name].upload = nil
	r.mu.Unlock()
	r.opt.Log.Info("idp metadata upload removed", "idp", name, "by", by)
	return nil
}

// pollUpload reads the IdP's upload from the store and applies it when it changed: this is how
// an upload made on another instance arrives here. An upload that no longer passes the checks
// (it expired, say) is dropped from use and logged; it stays in the store for the admin to see.
func (r *Registry) pollUpload(ctx context.Context, name string) {
	if r.opt.Store == nil {
		return
	}
	st := r.state[name]
	st.op.Lock()
	defer st.op.Unlock()
	doc, err := r.opt.Store.GetDocument(ctx, uploadKey(name))
	if errors.Is(err, session.ErrNotFound) {
		r.mu.Lock()
		r.state[name].upload = nil
		r.mu.Unlock()
		return
	}
	if err != nil {
		r.opt.Log.Warn("reading uploaded idp metadata", "idp", name, "err", err)
		return // keep what we have
	}
	sum := sha256.Sum256(doc.Value)
	r.mu.RLock()
	up := r.state[name].upload
	r.mu.RUnlock()
	if up != nil && up.SHA256 == hex.EncodeToString(sum[:]) {
		return
	}
	desc, err := r.Check(name, doc.Value)
	if err != nil {
		r.opt.Log.Error("uploaded idp metadata is not usable; using the configured source", "idp", name, "err", err)
		r.mu.Lock()
		r.state[name].upload = nil
		r.mu.Unlock()
		return
	}
	e := newEntry(desc, OriginUpload, doc.Value, r.opt.Now())
	e.UpdatedBy, e.UpdatedAt = doc.UpdatedBy, doc.UpdatedAt
	r.mu.Lock()
	r.state[name].upload = e
	r.mu.Unlock()
	r.opt.Log.Info("idp metadata upload applied", "idp", name, "sha256", e.SHA256)
}

// RefreshNow reads the IdP's configured source now, whatever its schedule.
func (r *Registry) RefreshNow(ctx context.Context, name string) error {
	if _, ok := r.sources[name]; !ok {
		return ErrUnknownIdP
	}
	return r.refresh(ctx, name)
}

// refresh reads the configured source and, when the document passes, makes it current. On
// failure the current copy stays; a URL source falls back to the store's last good copy when
// this instance has none.
func (r *Registry) refresh(ctx context.Context, name string) error {
	op := &r.state[name].op
	op.Lock()
	defer op.Unlock()
	src := r.sources[name]
	now := r.opt.Now()
	var (
		data   []byte
		err    error
		origin = OriginFile
	)
	if src.File != "" {
		data, err = os.ReadFile(src.File)
	} else {
		origin = OriginURL
		data, err = r.fetch(ctx, src.URL)
	}
	var desc *saml.IdPDescriptor
	if err == nil {
		desc, err = r.parse(src, data)
	}
	if err != nil {
		r.failed(ctx, name, now, err)
		return err
	}
	e := newEntry(desc, origin, data, now)
	r.mu.Lock()
	st := r.state[name]
	changed := st.current == nil || st.current.SHA256 != e.SHA256
	if changed {
		st.current = e
	}
	st.lastAttempt, st.lastError, st.failures = now, "", 0
	st.nextRefresh = now.Add(interval(src, desc))
	// Read again before the copy expires, not only when the interval says: an IdP that
	// publishes a fresh document shortly before validUntil must not be unusable until then.
	if vu := desc.ValidUntil; !vu.IsZero() && vu.Add(-expiryLead).Before(st.nextRefresh) {
		st.nextRefresh = vu.Add(-expiryLead)
		if earliest := now.Add(minInterval); st.nextRefresh.Before(earliest) {
			st.nextRefresh = earliest
		}
	}
	r.mu.Unlock()
	if origin == OriginURL && changed && r.opt.Store != nil {
		doc := &session.Document{Key: lastGoodKey(name), Value: data, UpdatedAt: now, UpdatedBy: "refresh"}
		if err := r.opt.Store.PutDocument(ctx, doc); err != nil {
			r.opt.Log.Warn("keeping the last good idp metadata in the store", "idp", name, "err", err)
		}
	}
	if changed {
		attrs := []any{"idp", name, "origin", origin, "sha256", e.SHA256, "signing_certs", len(desc.SigningCerts)}
		if !desc.ValidUntil.IsZero() {
			attrs = append(attrs, "valid_until", desc.ValidUntil)
		}
		r.opt.Log.Info("idp metadata loaded", attrs...)
	}
	if r.opt.Observe != nil {
		r.opt.Observe(name, true)
	}
	return nil
}

// failed records a failed refresh: the error is logged at error level (the alert), the next
// attempt is scheduled with a growing back-off, and a URL source with nothing usable falls back
// to the store's last good copy.
func (r *Registry) failed(ctx context.Context, name string, now time.Time, err error) {
	src := r.sources[name]
	r.mu.Lock()
	st := r.state[name]
	st.lastAttempt, st.lastError = now, err.Error()
	st.failures++
	wait := minInterval << min(st.failures-1, 4)
	st.nextRefresh = now.Add(min(wait, maxRetry, src.Refresh))
	cur := st.current
	r.mu.Unlock()
	if r.opt.Observe != nil {
		r.opt.Observe(name, false)
	}
	attrs := []any{"idp", name, "err", err}
	if cur != nil {
		attrs = append(attrs, "keeping", cur.SHA256, "valid_until", cur.Desc.ValidUntil)
	}
	r.opt.Log.Error("idp metadata refresh failed", attrs...)
	if src.URL == "" || valid(cur, now) || r.opt.Store == nil {
		return
	}
	doc, gerr := r.opt.Store.GetDocument(ctx, lastGoodKey(name))
	if gerr != nil {
		return
	}
	desc, perr := r.parse(src, doc.Value)
	if perr != nil {
		r.opt.Log.Error("the last good idp metadata in the store is not usable either", "idp", name, "err", perr)
		return
	}
	e := newEntry(desc, OriginLastGood, doc.Value, now)
	e.UpdatedAt = doc.UpdatedAt
	r.mu.Lock()
	r.state[name].current = e
	r.mu.Unlock()
	r.opt.Log.Warn("using the last good idp metadata from the store", "idp", name, "fetched_at", doc.UpdatedAt,
		"valid_until", desc.ValidUntil)
}

// interval is how long until the next read: the configured interval, shortened by the
// document's cacheDuration, never under a minute.
func interval(src Source, desc *saml.IdPDescriptor) time.Duration {
	d := src.Refresh
	if d <= 0 {
		d = time.Hour
	}
	if desc.CacheDuration > 0 && desc.CacheDuration < d {
		d = desc.CacheDuration
	}
	return max(d, minInterval)
}

func (r *Registry) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	resp, err := r.opt.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the metadata URL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the metadata URL answered HTTP %d", resp.StatusCode)
	}
	lim := int64(saml.MetadataLimits().MaxBytes)
	data, err := io.ReadAll(io.LimitReader(resp.Body, lim+1))
	if err != nil {
		return nil, fmt.Errorf("reading the metadata URL: %w", err)
	}
	if int64(len(data)) > lim {
		return nil, fmt.Errorf("the metadata at the URL is larger than %d bytes", lim)
	}
	return data, nil
}

// Tick does what is due: reads every IdP's upload from the store, and refreshes every source
// whose time has come. Run calls it periodically; tests call it with their own clock.
func (r *Registry) Tick(ctx context.Context) {
	now := r.opt.Now()
	for _, name := range r.names {
		r.pollUpload(ctx, name)
		r.mu.RLock()
		due := !now.Before(r.state[name].nextRefresh)
		r.mu.RUnlock()
		if due {
			_ = r.refresh(ctx, name) // failures are logged and scheduled by refresh
		}
	}
}

// Run calls Tick every poll interval until ctx ends. The poll interval (30 s is sensible) is how
// soon an upload made on another instance is used here.
func (r *Registry) Run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Tick(ctx)
		}
	}
}

// Names returns the configured IdPs' names in order.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }

// Status reports every IdP, sorted by name.
func (r *Registry) Status() []Status {
	now := r.opt.Now()
	out := make([]Status, 0, len(r.names))
	for _, name := range r.names {
		src := r.sources[name]
		r.mu.RLock()
		p := r.state[name]
		s := Status{Name: name, Source: src.File + src.URL, LastAttempt: p.lastAttempt, LastError: p.lastError,
			NextRefresh: p.nextRefresh}
		upload, current := p.upload, p.current
		r.mu.RUnlock()
		switch {
		case valid(upload, now):
			s.Current, s.Uploaded = upload, true
		case current != nil:
			s.Current, s.Expired = current, !valid(current, now)
		}
		out = append(out, s)
	}
	return out
}
