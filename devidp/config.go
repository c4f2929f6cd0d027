package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/eidsp/eidsp/devidp/internal/devkit"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/saml/xenc"
)

// DefaultInstrumentNamespace is the namespace of the InstrumentAttribute elements the development
// IdP accepts unless configured otherwise. Buypass publishes no SAML carriage for instruments
// (spec/PROFILE.md §3), so this is our own URI, the same as config.DefaultInstrumentNamespace.
const DefaultInstrumentNamespace = "urn:eidsp:buypass:ips"

// Defaults of Config.
const (
	DefaultInstrumentAttribute = "Instrument"
	DefaultSessionTTL          = 120 * time.Minute // ID-porten's maximum IdP session
	DefaultArtifactTTL         = 60 * time.Second
	DefaultLoginTTL            = 10 * time.Minute
	DefaultLogoutTTL           = 5 * time.Minute
	assertionLifetime          = 5 * time.Minute
)

// Config configures the development IdP. Zero values take the defaults named on each field.
type Config struct {
	BaseURL  string // e.g. http://127.0.0.1:8081; every endpoint hangs below BaseURL + "/idp"
	EntityID string // default BaseURL + "/idp"
	// Signer is the IdP key and certificate; Alg is the signature algorithm of everything the IdP
	// signs (ID-porten: saml.AlgRSASHA1; default RSA-SHA256).
	Signer saml.Signer
	// Persons are the test persons offered; default DefaultPersons(). Only synthetic numbers
	// (month + 80) are accepted, so that nothing this IdP asserts passes a production config.
	Persons []Person
	// InResponseTo says what the Response, Assertion and SubjectConfirmationData answer: the
	// AuthnRequest ID (saml.InResponseToAuthnRequest, the default) or, on the artifact binding,
	// the ArtifactResolve ID (saml.InResponseToArtifactResolve, what ID-porten documented).
	InResponseTo saml.InResponseToRule
	// BlockAlg and KeyTransportAlg encrypt the assertion; default aes128-cbc and rsa-oaep-mgf1p as
	// ID-porten.
	BlockAlg, KeyTransportAlg string
	// InstrumentNamespace is the namespace of the InstrumentAttribute elements accepted in
	// AuthnRequest Extensions; default DefaultInstrumentNamespace.
	InstrumentNamespace string
	// InstrumentAttribute names the attribute carrying the Buypass instrument used; default
	// "Instrument" (identity.PresetIPS).
	InstrumentAttribute string
	// SessionIndexTTL is the lifetime of the IdP SSO session and its SessionIndex; default 120 min.
	SessionIndexTTL time.Duration
	// ArtifactTTL is how long an artifact can be resolved (once); default 60 s.
	ArtifactTTL time.Duration
	// LoginTTL is how long a login page stays usable; default 10 min.
	LoginTTL time.Duration
	// LogoutTTL is how long single logout waits for one SP's LogoutResponse before the walk
	// through the session's SPs is forgotten; default 5 min.
	LogoutTTL time.Duration
	Now       func() time.Time
	Rand      io.Reader // default crypto/rand; used behind a lock, so any reader will do
	Logger    *slog.Logger
}

// withDefaults returns cfg with every zero value replaced by its default.
func (cfg Config) withDefaults() Config {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.EntityID == "" && cfg.BaseURL != "" {
		cfg.EntityID = cfg.BaseURL + "/idp"
	}
	if cfg.Persons == nil {
		cfg.Persons = DefaultPersons()
	}
	if cfg.InResponseTo == "" {
		cfg.InResponseTo = saml.InResponseToAuthnRequest
	}
	if cfg.BlockAlg == "" {
		cfg.BlockAlg = xenc.AES128CBC
	}
	if cfg.KeyTransportAlg == "" {
		cfg.KeyTransportAlg = xenc.RSAOAEPMGF1P
	}
	if cfg.InstrumentNamespace == "" {
		cfg.InstrumentNamespace = DefaultInstrumentNamespace
	}
	if cfg.InstrumentAttribute == "" {
		cfg.InstrumentAttribute = DefaultInstrumentAttribute
	}
	if cfg.SessionIndexTTL == 0 {
		cfg.SessionIndexTTL = DefaultSessionTTL
	}
	if cfg.ArtifactTTL == 0 {
		cfg.ArtifactTTL = DefaultArtifactTTL
	}
	if cfg.LoginTTL == 0 {
		cfg.LoginTTL = DefaultLoginTTL
	}
	if cfg.LogoutTTL == 0 {
		cfg.LogoutTTL = DefaultLogoutTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Rand = devkit.NewLockedReader(cfg.Rand)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports every problem of a configuration (after defaults) at once.
func (cfg Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add("base URL %q is not an absolute http(s) URL without query", cfg.BaseURL)
	}
	if cfg.Signer.Key == nil || cfg.Signer.Cert == nil {
		add("signer needs a key and a certificate")
	} else if pub, ok := cfg.Signer.Cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(cfg.Signer.Key.Public()) {
		add("signer certificate does not match its key")
	}
	switch cfg.Signer.Alg {
	case "", saml.AlgRSASHA1, saml.AlgRSASHA256, saml.AlgRSASHA512:
	default:
		add("signature algorithm %q is not supported", cfg.Signer.Alg)
	}
	switch cfg.InResponseTo {
	case saml.InResponseToAuthnRequest, saml.InResponseToArtifactResolve:
	default:
		add("InResponseTo rule %q: an IdP answers either the AuthnRequest or the ArtifactResolve", cfg.InResponseTo)
	}
	switch cfg.BlockAlg {
	case xenc.AES128CBC, xenc.AES256CBC, xenc.AES128GCM, xenc.AES256GCM:
	default:
		add("block encryption algorithm %q is not supported", cfg.BlockAlg)
	}
	switch cfg.KeyTransportAlg {
	case xenc.RSAOAEPMGF1P, xenc.RSAOAEP11, xenc.RSA15:
	default:
		add("key transport algorithm %q is not supported", cfg.KeyTransportAlg)
	}
	if len(cfg.Persons) == 0 {
		add("no test persons")
	}
	seen := map[string]bool{}
	for i, p := range cfg.Persons {
		kind, err := identity.ParseNationalID(p.NationalID)
		switch {
		case err != nil:
			add("person #%d: %v", i+1, err)
		case !kind.Synthetic():
			add("person #%d: only synthetic test persons (month + 80) are allowed", i+1)
		case seen[p.NationalID]:
			add("person #%d: national identity number repeated", i+1)
		}
		seen[p.NationalID] = true
		if strings.TrimSpace(p.Name) == "" {
			add("person #%d has no name", i+1)
		}
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"session", cfg.SessionIndexTTL}, {"artifact", cfg.ArtifactTTL}, {"login", cfg.LoginTTL}, {"logout", cfg.LogoutTTL}} {
		if d.d < 0 {
			add("%s lifetime %s is negative", d.name, d.d)
		}
	}
	return errors.Join(errs...)
}
