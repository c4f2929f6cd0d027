package app

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/handlers"
	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/metadata/registry"
	"github.com/eidsp/eidsp/metrics"
	"github.com/eidsp/eidsp/oidc"
	"github.com/eidsp/eidsp/session"
)

// metadataObserver forwards refresh outcomes to the metrics, which are built after the registry.
type metadataObserver struct{ m *metrics.Metrics }

func (o *metadataObserver) observe(idp string, ok bool) {
	if o.m != nil {
		o.m.MetadataRefresh(idp, ok)
	}
}

// newRegistry loads every IdP's metadata (an upload in the store, the configured file or URL,
// or the last good copy) and fails, naming each IdP, when one has none that may be used.
func newRegistry(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time, store session.Store, obs *metadataObserver) (*registry.Registry, error) {
	var sources []registry.Source
	for _, p := range cfg.IdPs {
		trusted, err := loadCertificates(p.MetadataSigningCertFiles)
		if err != nil {
			return nil, fmt.Errorf("idp %s: metadata signing certificate: %w", p.Name, err)
		}
		sources = append(sources, registry.Source{Name: p.Name, EntityID: p.EntityID, File: p.MetadataFile, URL: p.MetadataURL,
			TrustedCerts: trusted, AllowInsecure: p.AllowInsecureMetadata, Refresh: p.MetadataRefresh})
	}
	reg := registry.New(registry.Options{Store: store, Now: now, Log: log, Observe: obs.observe,
		// No redirect is followed: metadata_url is checked to be https, and a 30x to http:// (or
		// to an internal host) would hand an attacker the IdP's keys.
		HTTP: &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}, sources)
	if err := reg.Load(ctx); err != nil {
		return nil, fmt.Errorf("IdP metadata:\n%w", err)
	}
	return reg, nil
}

func loadCertificates(files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c, err := certs.ParseCertificatePEMOrBase64(string(pem))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// spMetadata builds the SP metadata served at a time. validUntil is counted from the start of
// the UTC day, so every instance serves the same bytes all day (an IdP that fetches from behind
// a load balancer sees one document), and the document is built again when the day changes.
type spMetadata struct {
	before   metadata.SP
	after    *metadata.SP // as it reads after the key rollover; nil without a next key
	validFor time.Duration
	log      *slog.Logger

	mu    sync.Mutex
	day   time.Time
	cache [2][]byte
}

func (m *spMetadata) build(now time.Time, rolledOver bool) ([]byte, error) {
	sp := m.before
	if rolledOver && m.after != nil {
		sp = *m.after
	}
	day := now.UTC().Truncate(24 * time.Hour)
	sp.ValidUntil = sp.ValidUntilFor(day, m.validFor)
	return sp.Build()
}

// at returns the document for now; it never fails after the check at start-up (the settings do
// not change), and logs should it ever.
func (m *spMetadata) at(now time.Time, rolledOver bool) []byte {
	i := 0
	if rolledOver && m.after != nil {
		i = 1
	}
	day := now.UTC().Truncate(24 * time.Hour)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.day.Equal(day) {
		m.day, m.cache = day, [2][]byte{}
	}
	if m.cache[i] == nil {
		b, err := m.build(now, i == 1)
		if err != nil {
			m.log.Error("building SP metadata", "err", err)
			return nil
		}
		m.cache[i] = b
	}
	return m.cache[i]
}

// RolloverKey is the store document that records an operator's switch of signing to the next
// key ahead of sp.rollover_at (eidsp rollover, or the admin pages).
const RolloverKey = "sp/rollover"

// rolloverSwitch is that document as this instance last read it.
type rolloverSwitch struct {
	store session.Store
	log   *slog.Logger
	on    atomic.Bool
}

func (r *rolloverSwitch) forced() bool { return r.on.Load() }

func (r *rolloverSwitch) poll(ctx context.Context) {
	_, err := r.store.GetDocument(ctx, RolloverKey)
	switch {
	case err == nil:
		if !r.on.Swap(true) {
			r.log.Info("key rollover switched on by an operator: signing uses the next key")
		}
	case errors.Is(err, session.ErrNotFound):
		r.on.Store(false)
	default:
		r.log.Warn("reading the rollover switch", "err", err) // keep the last known state
	}
}

// ForceRollover records the switch in the store; every instance reads it within a poll interval.
func ForceRollover(ctx context.Context, store session.Store, by string, now time.Time) error {
	return store.PutDocument(ctx, &session.Document{Key: RolloverKey, Value: []byte(now.UTC().Format(time.RFC3339)),
		UpdatedAt: now, UpdatedBy: by})
}

// auditWriter writes the audit trail in the background, so a login never waits for it; when
// the store is slow and the queue is full, events are dropped and counted in the log (the log
// line of the event itself is always written).
type auditWriter struct {
	store   session.Store
	log     *slog.Logger
	ch      chan *session.AuditEvent
	mu      sync.RWMutex // held for reading by add, for writing by close
	closed  bool
	dropped atomic.Int64
}

func newAuditWriter(store session.Store, log *slog.Logger) *auditWriter {
	return &auditWriter{store: store, log: log, ch: make(chan *session.AuditEvent, 1024)}
}

func (w *auditWriter) add(e *session.AuditEvent) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return // after shutdown: the log line of the event is the record
	}
	select {
	case w.ch <- e:
	default:
		if n := w.dropped.Add(1); n == 1 || n%100 == 0 {
			w.log.Warn("audit trail queue full; events dropped from the admin pages' list", "dropped", n)
		}
	}
}

// auditBatch bounds the events one store write carries, and auditLinger how long the writer
// waits after an event for others to join it: the admin pages see an event that much later, and
// under load the trail costs a commit (and a trim) per batch instead of per event.
const (
	auditBatch  = 64
	auditLinger = 50 * time.Millisecond
)

func (w *auditWriter) run() {
	batch := make([]*session.AuditEvent, 0, auditBatch)
	linger := time.NewTimer(auditLinger)
	linger.Stop()
	for e := range w.ch {
		batch = append(batch[:0], e)
		linger.Reset(auditLinger)
	fill:
		for len(batch) < auditBatch {
			select {
			case e, ok := <-w.ch:
				if !ok {
					break fill // closed: write what there is, and the loop ends
				}
				batch = append(batch, e)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := w.store.AppendAudit(ctx, batch...); err != nil {
			w.log.Warn("writing the audit trail", "err", err, "events", len(batch))
		}
		cancel()
		clear(batch)
	}
}

func (w *auditWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}

// newAdmin configures the admin pages: the admins' national identity numbers as keyed hashes,
// the API token's hash, our certificates and the rollover switch.
func newAdmin(cfg *config.Config, srv *handlers.Server, reg *registry.Registry, kp, next *certs.KeyPair, rollover *rolloverSwitch) (*handlers.Admin, error) {
	a := &handlers.Admin{Registry: reg, Admins: map[string]bool{}, Profile: cfg.Admin.Profile,
		Certificates: []handlers.NamedCertificate{{Name: "sp", Cert: kp.Cert}}}
	for _, nid := range cfg.Admin.NationalIDs {
		a.Admins[srv.NIDHash(nid)] = true
	}
	if cfg.Admin.TokenFile != "" {
		b, err := os.ReadFile(cfg.Admin.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin.token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return nil, fmt.Errorf("admin.token_file: the token must be at least 32 characters (eidsp admin-token makes one)")
		}
		sum := sha256.Sum256([]byte(tok))
		a.TokenSHA256 = sum[:]
	}
	if next != nil {
		a.Certificates = append(a.Certificates, handlers.NamedCertificate{Name: "sp-next", Cert: next.Cert})
		a.Rollover = func(ctx context.Context, by string) error {
			if err := ForceRollover(ctx, srv.Store, by, srv.Now()); err != nil {
				return err
			}
			rollover.on.Store(true)
			return nil
		}
	}
	return a, nil
}

// expiring lists, for /readyz, our certificates and every IdP's signing certificates and
// metadata as they stand at the call.
func expiring(kp, next *certs.KeyPair, reg *registry.Registry) func() []handlers.Expiring {
	return func() []handlers.Expiring {
		out := []handlers.Expiring{{What: "sp certificate", NotAfter: kp.Cert.NotAfter}}
		if next != nil {
			out = append(out, handlers.Expiring{What: "sp next certificate", NotAfter: next.Cert.NotAfter})
		}
		for _, st := range reg.Status() {
			if st.Current == nil {
				out = append(out, handlers.Expiring{What: "idp " + st.Name + " metadata", Unusable: true})
				continue
			}
			d := st.Current.Desc
			out = append(out, handlers.Expiring{What: "idp " + st.Name + " metadata", NotAfter: d.ValidUntil, Unusable: st.Expired})
			for _, c := range d.SigningCerts {
				out = append(out, handlers.Expiring{What: fmt.Sprintf("idp %s signing certificate %q (SHA-256 %s…)", st.Name,
					c.Subject.CommonName, registry.Fingerprint(c)[:16]), NotAfter: c.NotAfter})
			}
		}
		return out
	}
}

// newOIDC builds the OpenID Connect providers: discovery is read now, so a wrong issuer stops
// the start, as wrong SAML metadata does.
func newOIDC(ctx context.Context, cfg *config.Config, now func() time.Time, client *http.Client) (map[string]handlers.OIDCClient, error) {
	out := map[string]handlers.OIDCClient{}
	for _, o := range cfg.OIDC {
		c := oidc.Config{Name: o.Name, Preset: o.Preset, Issuer: o.Issuer, ClientID: o.ClientID, AuthMethod: o.AuthMethod,
			KeyID: o.KeyID, RedirectURL: cfg.BaseURL + "/oidc/callback", Scopes: o.Scopes, UsePAR: o.UsePAR,
			AllowSynthetic: o.AllowTestPersons, AllowInsecure: o.AllowInsecure, Now: now, Skew: cfg.SAML.ClockSkew,
			DiscoveryRefresh: o.DiscoveryRefresh, HTTP: client}
		if o.ClientSecretFile != "" {
			b, err := os.ReadFile(o.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("oidc %s: client secret: %w", o.Name, err)
			}
			c.ClientSecret = strings.TrimRight(string(b), "\r\n")
		}
		if o.PrivateKeyFile != "" {
			key, err := certs.LoadPrivateKey(o.PrivateKeyFile)
			if err != nil {
				return nil, fmt.Errorf("oidc %s: private key: %w", o.Name, err)
			}
			c.PrivateKey = key
		}
		p, err := oidc.New(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("oidc %s: %w", o.Name, err)
		}
		out[o.Name] = p
	}
	return out, nil
}

// oidcWarnings reports, for /readyz, every OpenID provider whose discovery or keys could not be
// read again: logins go on with the last good copy, but a key rotation would not be seen.
func oidcWarnings(ops map[string]handlers.OIDCClient) func() []string {
	return func() []string {
		var out []string
		for name, op := range ops {
			p, ok := op.(*oidc.Provider)
			if !ok {
				continue
			}
			if fetched, err := p.DiscoveryStatus(); err != nil {
				out = append(out, fmt.Sprintf("oidc %s: discovery could not be read again (using the copy of %s): %v",
					name, fetched.UTC().Format(time.RFC3339), err))
			}
		}
		sort.Strings(out)
		return out
	}
}
