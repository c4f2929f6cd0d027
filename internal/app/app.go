// Package app wires a service provider from a validated configuration: keys, IdP metadata,
// store, templates, metrics and the handlers. It is the one place that knows every package;
// `cmd/eidsp` and the benchmarks both build the server through it, so that what is measured is
// what runs.
package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/handlers"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/metadata/registry"
	"github.com/eidsp/eidsp/metrics"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/redis"
	"github.com/eidsp/eidsp/session/sqlite"
	"github.com/eidsp/eidsp/templates"
	goredis "github.com/redis/go-redis/v9"
)

// App is a wired service provider.
type App struct {
	Server *handlers.Server
	// Store is what the handlers use: the store behind the session cache (session.cache_ttl);
	// closing it stops the cache and closes the store.
	Store session.Store
	SPKey *certs.KeyPair
	// NextSPKey is the key pair that takes over at sp.rollover_at; nil when none is configured.
	NextSPKey *certs.KeyPair
	// Registry holds the IdPs' metadata as it stands; Run refreshes it.
	Registry *registry.Registry
	rollover *rolloverSwitch
	trail    *auditWriter
	log      *slog.Logger
}

// Run does the background work until ctx ends: refreshing IdP metadata and reading uploads
// from other instances, reading the rollover switch, and writing the audit trail. It returns
// when all of it has stopped (the audit trail is flushed).
func (a *App) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.trail.run(); close(done) }()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.trail.close()
			<-done
			return
		case <-t.C:
			a.Registry.Tick(ctx)
			a.rollover.poll(ctx)
		}
	}
}

// pollInterval is how soon an upload or a rollover made on another instance is used here.
const pollInterval = 30 * time.Second

// attributeMap is the preset's map with the configuration's overrides.
func attributeMap(p *config.IdPConfig) identity.AttributeMap {
	m := identity.PresetGeneric()
	switch p.Preset {
	case config.PresetIDPorten:
		m = identity.PresetIDPorten()
	case config.PresetIPS:
		m = identity.PresetIPS()
	}
	o := p.Attributes
	for dst, v := range map[*string]string{&m.NationalID: o.NationalID, &m.Level: o.Level, &m.AuthMethod: o.AuthMethod,
		&m.Culture: o.Culture, &m.OnBehalfOf: o.OnBehalfOf, &m.Instrument: o.Instrument} {
		if v != "" {
			*dst = v
		}
	}
	return m
}

// loadHashKey reads (or creates) the key of the keyed hash that correlates national identity
// numbers in logs.
func loadHashKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return b, os.WriteFile(path, b, 0o600)
}

// OpenStore opens the configured session store (eidsp rollover writes to it without a server).
func OpenStore(ctx context.Context, cfg *config.Config, now func() time.Time) (session.Store, error) {
	return openStore(ctx, cfg, now)
}

// CheckMetadata reads every IdP's configured metadata source with the IdP's rules (no store:
// uploads are not seen) and returns the registry's status, for eidsp check-config.
func CheckMetadata(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) ([]registry.Status, error) {
	var obs metadataObserver
	reg, err := newRegistry(ctx, cfg, log, now, nil, &obs)
	if err != nil {
		return nil, err
	}
	return reg.Status(), nil
}

// openStore opens the configured session store.
func openStore(ctx context.Context, cfg *config.Config, now func() time.Time) (session.Store, error) {
	if cfg.Store.Driver != "redis" {
		sync := sqlite.SyncFull
		if cfg.Store.Synchronous == "normal" {
			sync = sqlite.SyncNormal
		}
		return sqlite.Open(cfg.Store.Path, sqlite.Options{Now: now, Synchronous: sync})
	}
	r := cfg.Store.Redis
	opt := redis.Options{Addr: r.Addr, Username: r.Username, DB: r.DB, KeyPrefix: r.KeyPrefix, Now: now}
	if r.PasswordFile != "" {
		pw, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis password: %w", err)
		}
		opt.Password = strings.TrimRight(string(pw), "\r\n")
	}
	if r.TLS {
		host, _, _ := net.SplitHostPort(r.Addr)
		opt.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return redis.Open(ctx, opt)
}

// redisLog sends go-redis's own messages (dial failures, retries) through our one logger.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// Options are what a caller may give Build besides the configuration.
type Options struct {
	// OIDCHTTP, when set, is the HTTP client for the OpenID providers (discovery, JWKS, token):
	// `eidsp dev` routes it to its in-process development provider, which is not listening yet
	// when the SP starts.
	OIDCHTTP *http.Client
}

// Build wires a service provider from a validated configuration.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (*App, error) {
	return BuildWith(ctx, cfg, log, now, Options{})
}

// BuildWith is Build with options.
func BuildWith(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time, opt Options) (*App, error) {
	kp, err := certs.LoadKeyPair(cfg.SP.CertFile, cfg.SP.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("SP key pair: %w", err)
	}
	var next *certs.KeyPair
	if cfg.SP.NextCertFile != "" {
		if next, err = certs.LoadKeyPair(cfg.SP.NextCertFile, cfg.SP.NextKeyFile); err != nil {
			return nil, fmt.Errorf("next SP key pair: %w", err)
		}
	}
	hashKey, err := loadHashKey(cfg.Log.HashKeyFile)
	if err != nil {
		return nil, fmt.Errorf("log hash key: %w", err)
	}
	pages, err := templates.Load()
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	theme := templates.Theme{LogoAlt: cfg.UI.LogoAlt, Accent: cfg.UI.Colors.Accent,
		HeaderBackground: cfg.UI.Colors.HeaderBackground, HeaderText: cfg.UI.Colors.HeaderText, Texts: cfg.UI.Texts}
	if cfg.UI.LogoFile != "" {
		if theme.Logo, err = os.ReadFile(cfg.UI.LogoFile); err != nil {
			return nil, fmt.Errorf("ui.logo_file: %w", err)
		}
	}
	if err := pages.ApplyTheme(theme); err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	if cfg.Store.Driver == "redis" {
		goredis.SetLogger(redisLog{log})
	}
	store, err := openStore(ctx, cfg, now)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			store.Close()
		}
	}()
	var obs metadataObserver
	reg, err := newRegistry(ctx, cfg, log, now, store, &obs)
	if err != nil {
		return nil, err
	}
	idps := map[string]*handlers.IdP{}
	anyPost := false
	for i := range cfg.IdPs {
		p := &cfg.IdPs[i]
		desc, err := reg.Descriptor(p.Name)
		if err != nil {
			return nil, fmt.Errorf("idp %s: metadata: %w", p.Name, err)
		}
		sso, ok := saml.EndpointFor(desc.SingleSignOn, saml.BindingHTTPRedirect)
		if !ok {
			return nil, fmt.Errorf("idp %s: metadata has no HTTP-Redirect SingleSignOnService", p.Name)
		}
		algs := saml.DefaultAlgorithms()
		if *p.AllowSHA1 {
			algs = algs.WithSHA1()
		}
		sigAlg := saml.AlgRSASHA256
		if p.SignatureAlgorithm == "rsa-sha1" {
			sigAlg = saml.AlgRSASHA1
		}
		binding := saml.BindingHTTPArtifact
		if p.Binding == config.BindingPost {
			binding, anyPost = saml.BindingHTTPPost, true
		}
		am := attributeMap(p)
		if err := am.Validate(); err != nil {
			return nil, fmt.Errorf("idp %s: attributes: %w", p.Name, err)
		}
		var nextSigner *saml.Signer
		if next != nil {
			nextSigner = &saml.Signer{Key: next.Key, Cert: next.Cert, Alg: sigAlg}
		}
		idps[p.Name] = &handlers.IdP{
			Name: p.Name,
			Policy: &saml.IdP{
				Name: p.Name, Descriptor: desc, Algorithms: algs,
				InResponseTo:              saml.InResponseToRule(p.InResponseTo),
				RequireEncryptedAssertion: *p.RequireEncryptedAssertion,
				AttributeMap:              am,
				AllowSynthetic:            p.AllowTestPersons,
			},
			SSOURL: sso.Location, Binding: binding,
			Signer:              saml.Signer{Key: kp.Key, Cert: kp.Cert, Alg: sigAlg},
			InstrumentNamespace: p.InstrumentNamespace,
			NextSigner:          nextSigner,
			Live:                reg,
		}
	}
	sp := metadata.SP{
		EntityID: cfg.SP.EntityID, SigningCert: kp.Cert, EncryptionCerts: []*x509.Certificate{kp.Cert},
		ACSArtifact: cfg.BaseURL + "/saml/acs", SLO: cfg.BaseURL + "/saml/slo",
		CacheDuration:    cfg.SP.Metadata.CacheDuration,
		OrganizationName: cfg.SP.Metadata.OrganizationName, OrganizationDisplayName: cfg.SP.Metadata.OrganizationDisplayName,
		OrganizationURL: cfg.SP.Metadata.OrganizationURL,
	}
	if anyPost {
		sp.ACSPost = cfg.BaseURL + "/saml/acs"
	}
	if cfg.SP.Metadata.Sign {
		sp.Signer = &saml.Signer{Key: kp.Key, Cert: kp.Cert, Alg: saml.AlgRSASHA256}
	}
	decryptionKeys := []*rsa.PrivateKey{kp.Key}
	var after *metadata.SP
	if next != nil {
		decryptionKeys = append(decryptionKeys, next.Key)
		// After the rollover the metadata reads as it will once next is promoted to current:
		// IdPs that refresh it stop trusting, and encrypting for, the old key.
		a := sp
		a.SigningCert, a.EncryptionCerts = next.Cert, []*x509.Certificate{next.Cert}
		if a.Signer != nil {
			a.Signer = &saml.Signer{Key: next.Key, Cert: next.Cert, Alg: saml.AlgRSASHA256}
		}
		after = &a
		sp.NextSigningCert, sp.EncryptionCerts = next.Cert, []*x509.Certificate{kp.Cert, next.Cert}
	}
	spMeta := &spMetadata{before: sp, after: after, validFor: cfg.SP.Metadata.ValidFor, log: log}
	// Build once now, so that a setting that cannot make metadata stops the start.
	if _, err := spMeta.build(now(), false); err != nil {
		return nil, fmt.Errorf("SP metadata: %w", err)
	}
	if after != nil {
		if _, err := spMeta.build(now(), true); err != nil {
			return nil, fmt.Errorf("SP metadata after rollover: %w", err)
		}
	}
	rollover := &rolloverSwitch{store: store, log: log}
	rollover.poll(ctx)
	trail := newAuditWriter(store, log)
	srvMetrics := newMetrics(cfg, log, now, store, kp, next, reg)
	obs.m = srvMetrics
	var upstream *url.URL
	if cfg.Proxy.Upstream != "" {
		if upstream, err = url.Parse(cfg.Proxy.Upstream); err != nil {
			return nil, fmt.Errorf("proxy.upstream: %w", err)
		}
	}
	oidcProviders, err := newOIDC(ctx, cfg, now, opt.OIDCHTTP)
	if err != nil {
		return nil, err
	}
	var profiles []handlers.Profile
	for _, p := range cfg.Profiles {
		profiles = append(profiles, handlers.Profile{Name: p.Name, Label: p.Label, IdP: p.IdP,
			Instruments: p.Instruments, MinLevel: p.MinLevel, ForceAuthn: p.ForceAuthn, OnBehalfOf: p.OnBehalfOf})
	}
	srv := &handlers.Server{
		Opt: handlers.Options{
			BaseURL: cfg.BaseURL, EntityID: cfg.SP.EntityID, PortalName: cfg.UI.PortalName,
			CookieName: cfg.Session.CookieName, IdleTimeout: cfg.Session.IdleTimeout,
			MaxLifetime: cfg.Session.MaxLifetime, PendingTTL: cfg.SAML.PendingTTL,
			SOAPTimeout: cfg.SAML.SOAPTimeout, MaxPostBytes: cfg.SAML.MaxPostBytes, HashKey: hashKey,
			LoggedOutURL: cfg.Session.LoggedOutURL,
			Upstream:     upstream, DefaultProfile: cfg.Proxy.DefaultProfile,
			MetricsElsewhere: cfg.MetricsListen != "",
		},
		// The handlers read sessions through the short-lived cache of session.cache_ttl (/auth
		// and the reverse proxy read one session per request of a page); everything else, the
		// store itself.
		Store: session.NewCache(store, session.CacheOptions{TTL: cfg.Session.SessionCacheTTL(),
			IdleTimeout: cfg.Session.IdleTimeout, Now: now}),
		Pages: pages, Log: log, Now: now,
		Verifier: saml.Verifier{
			EntityID: cfg.SP.EntityID, DecryptionKeys: decryptionKeys,
			Skew: cfg.SAML.ClockSkew, MaxAge: cfg.SAML.MaxResponseAge, Limits: saml.DefaultLimits(),
		},
		SOAP:     saml.NewSOAPClient(cfg.SAML.SOAPTimeout, cfg.SAML.MaxSOAPBytes),
		IdPs:     idps,
		OIDC:     oidcProviders,
		Profiles: profiles,
		Metrics:  srvMetrics,
		// Judged on the injected clock at each request: signing and the served metadata
		// switch at rollover_at (or when an operator forces it) without a restart.
		RolloverAt:     cfg.SP.RolloverAt,
		RolloverForced: rollover.forced,
		SPMetadataFunc: spMeta.at,
		AuditTrail:     trail.add,
		Expiring:       expiring(kp, next, reg),
		Warnings:       oidcWarnings(oidcProviders),
	}
	if cfg.Admin.Enabled() {
		if srv.Admin, err = newAdmin(cfg, srv, reg, kp, next, rollover); err != nil {
			return nil, err
		}
	}
	ok = true
	return &App{Server: srv, Store: srv.Store, SPKey: kp, NextSPKey: next, Registry: reg, rollover: rollover, trail: trail, log: log}, nil
}

var _ handlers.Observer = (*metrics.Metrics)(nil)

// newMetrics builds the Prometheus metrics: login and logout counters, latencies, the store's
// session count where the store can count, and the expiry of our (current and next) and the
// IdPs' certificates.
func newMetrics(cfg *config.Config, log *slog.Logger, now func() time.Time, store session.Store, kp, next *certs.KeyPair, reg *registry.Registry) *metrics.Metrics {
	var instruments []string
	for _, p := range cfg.Profiles {
		instruments = append(instruments, p.Instruments...)
	}
	watched := []metrics.Certificate{{Name: "sp", Cert: kp.Cert}}
	if next != nil {
		watched = append(watched, metrics.Certificate{Name: "sp-next", Cert: next.Cert})
	}
	// The IdPs' certificates are read at every scrape: refreshed and uploaded metadata count.
	certsNow := func() []metrics.Certificate {
		out := slices.Clone(watched)
		for _, st := range reg.Status() {
			if st.Current != nil {
				out = append(out, metrics.IdPCertificates(st.Name, st.Current.Desc.SigningCerts)...)
			}
		}
		return out
	}
	metadataNow := func() []metrics.Metadata {
		var out []metrics.Metadata
		for _, st := range reg.Status() {
			m := metrics.Metadata{IdP: st.Name, Usable: st.Current != nil && !st.Expired}
			if st.Current != nil {
				m.ValidUntil = st.Current.Desc.ValidUntil
			}
			out = append(out, m)
		}
		return out
	}
	sessions, _ := store.(metrics.SessionCounter)
	return metrics.New(metrics.Options{Instruments: instruments, Sessions: sessions,
		Certificates: certsNow, Metadata: metadataNow, Now: now, Log: log})
}
