package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	wiring "github.com/eidsp/eidsp/internal/app"
)

func loadConfig(args []string, name string) (*config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "eidsp.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s is not valid:\n%w", *path, err)
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := loadConfig(args, "serve")
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	a, err := buildApp(ctx, cfg, log, time.Now)
	if err != nil {
		return err
	}
	defer a.store.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("metrics_listen: %w", err)
		}
		log.Info("metrics listening", "addr", metricsLn.Addr().String())
	}
	log.Info("eidsp listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL)
	return serveUntilDone(ctx, log, a, ln, metricsLn)
}

// newHTTPServer is an http.Server with eidsp's timeouts and header limit.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// metricsOnly serves GET /metrics and nothing else: the metrics listener (metrics_listen).
func metricsOnly(m http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	return mux
}

// serveUntilDone serves until ctx ends, sweeps expired records in the background, then shuts
// down gracefully: in-flight logins get up to 20 s to finish. metricsLn, when not nil, serves
// GET /metrics alone (metrics_listen).
func serveUntilDone(ctx context.Context, log *slog.Logger, a *app, ln, metricsLn net.Listener) error {
	if metricsLn != nil && a.server.Metrics == nil {
		// Both listeners are the caller's to give up: neither is served.
		ln.Close()
		metricsLn.Close()
		return errors.New("metrics_listen is set but the server has no metrics")
	}
	srv := newHTTPServer(a.server.Echo())
	var metricsSrv *http.Server
	if metricsLn != nil {
		metricsSrv = newHTTPServer(metricsOnly(a.server.Metrics.Handler()))
		go func() {
			if err := metricsSrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener failed", "err", err)
			}
		}()
		defer metricsSrv.Close() // after the main server: scrapes until the last login is done
	}
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { a.wired.Run(bgCtx); close(bgDone) }()
	defer func() { stopBg(); <-bgDone }() // after the HTTP server: the last audit events are written
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.store.Sweep(ctx); err != nil && ctx.Err() == nil {
					log.Warn("sweep failed", "err", err)
				}
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runCheckConfig(args []string, stdout io.Writer) error {
	cfg, err := loadConfig(args, "check-config")
	if err != nil {
		return err
	}
	kp, err := certs.LoadKeyPair(cfg.SP.CertFile, cfg.SP.KeyFile)
	if err != nil {
		return err
	}
	if kp.ExpiresWithin(30*24*time.Hour, time.Now()) {
		fmt.Fprintf(stdout, "warning: SP certificate expires %s (within 30 days)\n", kp.Cert.NotAfter.Format(time.DateOnly))
	}
	if cfg.SP.NextCertFile != "" {
		next, err := certs.LoadKeyPair(cfg.SP.NextCertFile, cfg.SP.NextKeyFile)
		if err != nil {
			return fmt.Errorf("next SP key pair: %w", err)
		}
		if next.ExpiresWithin(30*24*time.Hour, time.Now()) {
			fmt.Fprintf(stdout, "warning: next SP certificate expires %s (within 30 days)\n", next.Cert.NotAfter.Format(time.DateOnly))
		}
	}
	statuses, err := wiring.CheckMetadata(context.Background(), cfg, newLogger(io.Discard, "text", "error"), time.Now)
	if err != nil {
		return err
	}
	soon := time.Now().Add(30 * 24 * time.Hour)
	for _, st := range statuses {
		d := st.Current.Desc
		if !d.ValidUntil.IsZero() && d.ValidUntil.Before(soon) {
			fmt.Fprintf(stdout, "warning: idp %s: metadata validUntil %s is within 30 days; it must be refreshed before then\n",
				st.Name, d.ValidUntil.UTC().Format(time.DateOnly))
		}
		for _, c := range d.SigningCerts {
			if c.NotAfter.Before(soon) {
				fmt.Fprintf(stdout, "warning: idp %s: signing certificate %q expires %s (within 30 days)\n",
					st.Name, c.Subject.CommonName, c.NotAfter.UTC().Format(time.DateOnly))
			}
		}
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return nil
}

// runRollover switches signing to the next key pair now, for every instance sharing the store
// (each reads the switch within 30 s); the metadata they serve switches with it.
func runRollover(args []string, stdout io.Writer) error {
	cfg, err := loadConfig(args, "rollover")
	if err != nil {
		return err
	}
	if cfg.SP.NextCertFile == "" {
		return errors.New("no next key pair is configured (sp.next_cert_file and sp.next_key_file)")
	}
	if _, err := certs.LoadKeyPair(cfg.SP.NextCertFile, cfg.SP.NextKeyFile); err != nil {
		return fmt.Errorf("next SP key pair: %w", err)
	}
	ctx := context.Background()
	store, err := wiring.OpenStore(ctx, cfg, time.Now)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := wiring.ForceRollover(ctx, store, "command", time.Now()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "signing switches to the next key on every instance within 30 seconds; publish the new SP metadata to the IdP if it does not fetch it")
	return nil
}

// runAdminToken writes a new random bearer token for the admin API to a file (mode 0600).
func runAdminToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin-token", flag.ContinueOnError)
	out := fs.String("out", "admin.token", "file to write the token to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, tok); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a new admin API token to %s; set admin.token_file to it\n", *out)
	return nil
}

func runMetadata(args []string, stdout io.Writer) error {
	cfg, err := loadConfig(args, "metadata")
	if err != nil {
		return err
	}
	a, err := buildApp(context.Background(), cfg, newLogger(io.Discard, "text", "error"), time.Now)
	if err != nil {
		return err
	}
	defer a.store.Close()
	_, err = stdout.Write(a.server.SPMetadataAt(time.Now()))
	return err
}

func runKeygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	cn := fs.String("cn", "eidsp test SP", "certificate common name")
	out := fs.String("out", "sp", "output prefix: writes PREFIX.crt and PREFIX.key")
	days := fs.Int("days", 730, "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range []string{*out + ".crt", *out + ".key"} {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists; not overwriting", f)
		}
	}
	kp, err := certs.Generate(*cn, time.Duration(*days)*24*time.Hour, time.Now(), rand.Reader)
	if err != nil {
		return err
	}
	if err := kp.WritePEM(*out+".crt", *out+".key"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.crt and %s.key (self-signed, for test environments only; production uses an enterprise certificate)\n", *out, *out)
	return nil
}
