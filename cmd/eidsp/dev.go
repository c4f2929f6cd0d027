package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/saml"
)

// devEnv is the SP and the development IdP wired to each other.
type devEnv struct {
	cfg    *config.Config
	app    *app
	idp    *devidp.IdP
	spBase string
}

// baseURL names a listener as a browser reaches it.
func baseURL(ln net.Listener) string {
	return fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
}

// newDevEnv makes development keys in dataDir (once), starts nothing, and wires the SP to the
// development IdP through metadata, as an admin would with real ones.
func newDevEnv(ctx context.Context, dataDir string, spLn, idpLn net.Listener, log *slog.Logger, now func() time.Time) (*devEnv, error) {
	spBase, idpBase := baseURL(spLn), baseURL(idpLn)
	if _, err := certs.EnsureDevKeyPair(dataDir, "sp", "eidsp development SP", now()); err != nil {
		return nil, err
	}
	idpKP, err := certs.EnsureDevKeyPair(dataDir, "devidp", "eidsp development IdP", now())
	if err != nil {
		return nil, err
	}
	idp, err := devidp.New(devidp.Config{
		BaseURL: idpBase,
		Signer:  saml.Signer{Key: idpKP.Key, Cert: idpKP.Cert},
		// The AuthnRequest ID, so that the answer is bound to the browser's pending login. (The
		// ArtifactResolve ID that ID-porten documented cannot be; see README.)
		InResponseTo:        saml.InResponseToAuthnRequest,
		InstrumentNamespace: config.DefaultInstrumentNamespace,
		Now:                 now,
		Logger:              log.With("component", "devidp"),
	})
	if err != nil {
		return nil, err
	}
	meta, err := idp.Metadata()
	if err != nil {
		return nil, err
	}
	metaFile := filepath.Join(dataDir, "devidp-metadata.xml")
	if err := os.WriteFile(metaFile, meta, 0o644); err != nil {
		return nil, err
	}
	cfg := config.Dev(dataDir, spLn.Addr().String(), spBase, metaFile)
	cfg.SP.CertFile, cfg.SP.KeyFile = filepath.Join(dataDir, "sp.crt"), filepath.Join(dataDir, "sp.key")
	// One synthetic test person is an admin, logging in at level 4 like a real one.
	cfg.Admin = config.AdminConfig{NationalIDs: []string{DevAdmin().NationalID}, Profile: "idporten-high"}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("development configuration: %w", err)
	}
	a, err := buildApp(ctx, cfg, log, now)
	if err != nil {
		return nil, err
	}
	if err := idp.RegisterSP(a.server.SPMetadataAt(now())); err != nil {
		a.store.Close()
		return nil, fmt.Errorf("register SP at the development IdP: %w", err)
	}
	return &devEnv{cfg: cfg, app: a, idp: idp, spBase: spBase}, nil
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	listen := fs.String("listen", "localhost:8080", "SP address")
	idpListen := fs.String("idp-listen", "localhost:8081", "development IdP address")
	dataDir := fs.String("data", envOr("EIDSP_DATA_DIR", ".eidsp-dev"), "data directory: development keys and the SQLite store")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, "text", "info")
	spLn, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	idpLn, err := net.Listen("tcp", *idpListen)
	if err != nil {
		spLn.Close()
		return err
	}
	env, err := newDevEnv(ctx, *dataDir, spLn, idpLn, log, time.Now)
	if err != nil {
		spLn.Close()
		idpLn.Close()
		return err
	}
	defer env.app.store.Close()
	idpSrv := &http.Server{Handler: env.idp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	defer idpSrv.Close()
	fmt.Fprintf(stdout, `eidsp development mode — test keys and synthetic test persons only

  Service provider:  %s/        (log in here)
  Session as JSON:   %s/session
  SP metadata:       %s/saml/metadata
  Admin pages:       %s/admin/    (log in as %s, ID-porten level 4)
  Development IdP:   %s/idp/metadata    (SP self-service: /idp/admin/)
  Data directory:    %s

Press Ctrl-C to stop.
`, env.spBase, env.spBase, env.spBase, env.spBase, DevAdmin().Name, baseURL(idpLn), *dataDir)
	return serveUntilDone(ctx, log, env.app, spLn)
}

// DevAdmin is the synthetic test person who may use /admin/ in `eidsp dev`.
func DevAdmin() devidp.Person { return devidp.DefaultPersons()[2] }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
