package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/devidp/oidcop"
	wiring "github.com/eidsp/eidsp/internal/app"
	"github.com/eidsp/eidsp/saml"
)

// devEnv is the SP and the development IdP wired to each other.
type devEnv struct {
	cfg *config.Config
	app *app
	idp *devidp.IdP
	// ops are the development OpenID providers (ID-porten OIDC, BankID) on the IdP's listener.
	ops        map[string]*oidcop.Provider
	idpHandler http.Handler // the development IdP and the OpenID providers, for the IdP listener
	spBase     string
	wiringOpt  wiring.Options // reaches the in-process OpenID providers
}

// rebuild builds another SP with cfg in this environment (tests that change the configuration).
func (e *devEnv) rebuild(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (*app, error) {
	return buildAppWith(ctx, cfg, log, now, e.wiringOpt)
}

// baseURL names a listener as a browser reaches it.
func baseURL(ln net.Listener) string {
	return fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
}

// newDevEnv makes development keys in dataDir (once), starts nothing, and wires the SP to the
// development IdP through metadata, as an admin would with real ones.
func newDevEnv(ctx context.Context, dataDir string, spLn, idpLn net.Listener, log *slog.Logger, now func() time.Time) (*devEnv, error) {
	spBase, idpBase := baseURL(spLn), baseURL(idpLn)
	spKP, err := certs.EnsureDevKeyPair(dataDir, "sp", "eidsp development SP", now())
	if err != nil {
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
	ops, mux, err := devOIDC(cfg, dataDir, spBase, idpBase, spKP, idpKP, idp, log, now)
	if err != nil {
		return nil, err
	}
	// One synthetic test person is an admin, logging in at level 4 like a real one.
	cfg.Admin = config.AdminConfig{NationalIDs: []string{DevAdmin().NationalID}, Profile: "idporten-high"}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("development configuration: %w", err)
	}
	// The SP reads the providers' discovery before anything listens: in process.
	opt := wiring.Options{OIDCHTTP: &http.Client{Timeout: 10 * time.Second,
		Transport: inProcess{host: idpLn.Addr().String(), alias: strings.TrimPrefix(idpBase, "http://"), h: mux}}}
	a, err := buildAppWith(ctx, cfg, log, now, opt)
	if err != nil {
		return nil, err
	}
	if err := idp.RegisterSP(a.server.SPMetadataAt(now())); err != nil {
		a.store.Close()
		return nil, fmt.Errorf("register SP at the development IdP: %w", err)
	}
	return &devEnv{cfg: cfg, app: a, idp: idp, ops: ops, idpHandler: mux, spBase: spBase, wiringOpt: opt}, nil
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
	idpSrv := &http.Server{Handler: env.idpHandler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	defer idpSrv.Close()
	fmt.Fprintf(stdout, `eidsp development mode — test keys and synthetic test persons only

  Service provider:  %s/        (log in here)
  Session as JSON:   %s/session
  SP metadata:       %s/saml/metadata
  Admin pages:       %s/admin/    (log in as %s, ID-porten level 4)
  Development IdP:   %s/idp/metadata    (SP self-service: /idp/admin/; OpenID providers: /oidc/idporten, /oidc/bankid)
  Data directory:    %s

Press Ctrl-C to stop.
`, env.spBase, env.spBase, env.spBase, env.spBase, DevAdmin().Name, baseURL(idpLn), *dataDir)
	return serveUntilDone(ctx, log, env.app, spLn, nil)
}

// DevAdmin is the synthetic test person who may use /admin/ in `eidsp dev`.
func DevAdmin() devidp.Person { return devidp.DefaultPersons()[2] }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// devOIDC starts the development OpenID providers (ID-porten OIDC with client_secret_basic,
// BankID with private_key_jwt by the SP key spKP and the nnin_altsub entitlement), registers the SP
// as their client, adds them and their profiles to cfg, and returns the IdP listener's handler.
func devOIDC(cfg *config.Config, dataDir, spBase, idpBase string, spKP, idpKP *certs.KeyPair, idp *devidp.IdP, log *slog.Logger, now func() time.Time) (map[string]*oidcop.Provider, http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/idp/", idp.Handler())
	ops := map[string]*oidcop.Provider{}
	secret, err := devSecret(filepath.Join(dataDir, "oidc-client.secret"))
	if err != nil {
		return nil, nil, err
	}
	for _, preset := range []string{oidcop.PresetIDPorten, oidcop.PresetBankID} {
		op, err := oidcop.New(oidcop.Config{BaseURL: idpBase, Preset: preset, Signer: idpKP.Key, Now: now,
			Logger: log.With("component", "devidp-oidc-"+preset), AllowInsecure: true})
		if err != nil {
			return nil, nil, err
		}
		client := oidcop.Client{ID: "eidsp-dev", RedirectURIs: []string{spBase + "/oidc/callback"},
			PostLogoutRedirectURIs: []string{spBase + "/oidc/logged-out"}, FrontchannelLogoutURI: spBase + "/oidc/frontchannel-logout"}
		oc := config.OIDCConfig{Name: preset + "-oidc", Preset: preset, Issuer: op.Issuer(), ClientID: "eidsp-dev",
			AllowTestPersons: true, AllowInsecure: true}
		if preset == oidcop.PresetIDPorten {
			client.AuthMethod, client.Secret = oidcop.AuthClientSecretBasic, secret
			oc.AuthMethod, oc.ClientSecretFile = "client_secret_basic", filepath.Join(dataDir, "oidc-client.secret")
			oc.Scopes = []string{"profile"}
		} else {
			client.AuthMethod, client.PublicKey, client.NNINAltsub = oidcop.AuthPrivateKeyJWT, &spKP.Key.PublicKey, true
			oc.AuthMethod, oc.PrivateKeyFile, oc.KeyID = "private_key_jwt", cfg.SP.KeyFile, "sp"
			oc.Scopes = []string{"nnin_altsub"}
		}
		if err := op.RegisterClient(client); err != nil {
			return nil, nil, err
		}
		ops[preset] = op
		mux.Handle("/oidc/"+preset+"/", op.Handler())
		cfg.OIDC = append(cfg.OIDC, oc)
	}
	cfg.Profiles = append(cfg.Profiles,
		config.ProfileConfig{Name: "idporten-oidc", Label: "profile.idporten-oidc", IdP: "idporten-oidc", MinLevel: 3},
		config.ProfileConfig{Name: "idporten-oidc-high", Label: "profile.idporten-oidc-high", IdP: "idporten-oidc", MinLevel: 4},
		config.ProfileConfig{Name: "bankid", Label: "profile.bankid", IdP: "bankid-oidc", MinLevel: 4})
	cfg.Defaults()
	return ops, mux, nil
}

// devSecret reads, or makes once, the development OIDC client secret.
func devSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// inProcess sends the SP's requests to the development providers straight to their handler:
// the SP reads discovery while it starts, before the IdP listener serves.
type inProcess struct {
	host, alias string
	h           http.Handler
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host && req.URL.Host != t.alias {
		return nil, fmt.Errorf("development OIDC client: %s is not the development provider", req.URL.Host)
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	res := rec.Result()
	res.Request = req
	return res, nil
}
