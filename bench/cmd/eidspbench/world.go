package main

import (
	"context"
	"fmt"
	"github.com/eidsp/eidsp/internal/app"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/eidsp/eidsp/bench"
	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/handlers"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
)

// WorldOptions say how to wire the SP.
type WorldOptions struct {
	Dir       string // data directory: keys, SQLite file, metadata
	Store     string // "sqlite" (default) or "redis"
	RedisAddr string // with Store "redis"
	// SyncNormal opens the SQLite store with synchronous=NORMAL (store.synchronous: normal).
	SyncNormal bool
	// CacheTTL, when set, is session.cache_ttl (0 turns the session cache off); unset, the
	// product's default.
	CacheTTL *time.Duration
	Log      *slog.Logger
}

// World is an SP and the development IdP in this process, each on its own loopback listener,
// wired to each other through metadata as `eidsp dev` does (cmd/eidsp/dev.go and app.go; that
// wiring is in package main, so the part the benchmarks need is repeated here from the same
// configuration: config.Dev with its defaults).
type World struct {
	SPURL, IdPURL string
	Config        *config.Config
	Server        *handlers.Server
	Store         session.Store
	IdP           *devidp.IdP
	stop          []func()
}

// NewWorld builds and starts the SP and the IdP. Their server goroutines carry the pprof labels
// role=sp and role=idp, so that a CPU profile splits by party.
func NewWorld(opt WorldOptions) (*World, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	spLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		spLn.Close()
		return nil, err
	}
	w := &World{SPURL: "http://" + spLn.Addr().String(), IdPURL: "http://" + idpLn.Addr().String()}
	fail := func(err error) (*World, error) {
		spLn.Close()
		idpLn.Close()
		w.Close()
		return nil, err
	}
	now := time.Now()
	if _, err := certs.EnsureDevKeyPair(opt.Dir, "sp", "eidsp benchmark SP", now); err != nil {
		return fail(err)
	}
	idpKP, err := certs.EnsureDevKeyPair(opt.Dir, "devidp", "eidsp benchmark IdP", now)
	if err != nil {
		return fail(err)
	}
	idp, err := devidp.New(devidp.Config{
		BaseURL:             w.IdPURL,
		Signer:              saml.Signer{Key: idpKP.Key, Cert: idpKP.Cert},
		InResponseTo:        saml.InResponseToAuthnRequest,
		InstrumentNamespace: config.DefaultInstrumentNamespace,
		Logger:              opt.Log.With("component", "devidp"),
	})
	if err != nil {
		return fail(err)
	}
	w.IdP = idp
	meta, err := idp.Metadata()
	if err != nil {
		return fail(err)
	}
	metaFile := filepath.Join(opt.Dir, "devidp-metadata.xml")
	if err := os.WriteFile(metaFile, meta, 0o600); err != nil {
		return fail(err)
	}
	cfg := config.Dev(opt.Dir, spLn.Addr().String(), w.SPURL, metaFile)
	if opt.Store == "redis" {
		cfg.Store.Driver = "redis"
		cfg.Store.Redis.Addr = opt.RedisAddr
		cfg.Store.Redis.KeyPrefix = "eidsp:"
	}
	if opt.SyncNormal {
		cfg.Store.Synchronous = "normal"
	}
	cfg.Session.CacheTTL = opt.CacheTTL
	if err := cfg.Validate(); err != nil {
		return fail(fmt.Errorf("configuration: %w", err))
	}
	w.Config = cfg
	// Built under the SP's label, so that the goroutines the store starts (SQLite's committer
	// and WAL syncer, Redis's subscriber) count as the SP's work in the profile.
	var built *app.App
	pprof.Do(context.Background(), pprof.Labels("role", bench.RoleSP), func(ctx context.Context) {
		built, err = app.Build(ctx, cfg, opt.Log, time.Now)
	})
	if err != nil {
		return fail(err)
	}
	srv, store := built.Server, built.Store
	w.Server, w.Store = srv, store
	// The background work of a running server (metadata refresh, the audit trail's writer) runs
	// as in production, and stops before the store closes.
	bgCtx, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	// Labelled as the SP's: its goroutines (the audit writer's among them) are the SP's work.
	go pprof.Do(bgCtx, pprof.Labels("role", bench.RoleSP), func(ctx context.Context) { built.Run(ctx); close(bgDone) })
	w.stop = append(w.stop, func() { stopBg(); <-bgDone }, func() { store.Close() })
	if err := idp.RegisterSP(srv.SPMetadataAt(time.Now())); err != nil {
		return fail(err)
	}
	w.serve(spLn, srv.Echo(), bench.RoleSP)
	w.serve(idpLn, idp.Handler(), bench.RoleIdP)
	return w, nil
}

// serve serves h on ln from a goroutine labelled role=role: net/http starts one goroutine per
// connection from there, and goroutines inherit their creator's labels.
func (w *World) serve(ln net.Listener, h http.Handler, role string) {
	hs := NewHTTPServer(h)
	go pprof.Do(context.Background(), pprof.Labels("role", role), func(context.Context) { _ = hs.Serve(ln) })
	w.stop = append([]func(){func() { hs.Close() }}, w.stop...)
}

// NewHTTPServer is an http.Server with the timeouts of `eidsp serve` (cmd/eidsp/serve.go).
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Close stops both servers and closes the store.
func (w *World) Close() {
	for _, f := range w.stop {
		f()
	}
	w.stop = nil
}
