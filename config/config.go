// Package config is eidsp's typed configuration: one YAML file plus environment overrides,
// every default in Defaults, presets for ID-porten and Buypass IPS, and Validate, which reports
// every problem at once so that an admin fixes a file in one pass.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eidsp/eidsp/identity"
)

// Config is the whole configuration.
type Config struct {
	Listen string `yaml:"listen"`
	// MetricsListen, when set, serves GET /metrics on its own listener (e.g. 127.0.0.1:9090)
	// and not on Listen, where the public, a portal's users, could read it.
	MetricsListen string        `yaml:"metrics_listen"`
	BaseURL       string        `yaml:"base_url"`
	DataDir       string        `yaml:"data_dir"`
	Store         StoreConfig   `yaml:"store"`
	SP            SPConfig      `yaml:"sp"`
	Session       SessionConfig `yaml:"session"`
	SAML          SAMLConfig    `yaml:"saml"`
	Log           LogConfig     `yaml:"log"`
	IdPs          []IdPConfig   `yaml:"idps"`
	// OIDC are OpenID Connect providers (ID-porten OIDC, BankID); a profile's idp may name one.
	OIDC     []OIDCConfig    `yaml:"oidc_providers"`
	Profiles []ProfileConfig `yaml:"profiles"`
	// UI is the login chooser's look.
	UI UIConfig `yaml:"ui"`
	// Proxy turns on reverse-proxy mode in front of a portal.
	Proxy ProxyConfig `yaml:"proxy"`
	// Admin turns on the admin pages (/admin/) and their JSON API.
	Admin AdminConfig `yaml:"admin"`
}

// AdminConfig says who may use /admin/: people who log in through eidsp with an eID at level 4
// whose national identity number is on the list, and automation holding the bearer token.
// Neither set: the admin pages are off (404).
type AdminConfig struct {
	// NationalIDs are the admins' national identity numbers (fødselsnummer or D-number).
	NationalIDs []string `yaml:"national_ids"`
	// Profile is the login admins use; it must give level 4. Default: the first such profile.
	Profile string `yaml:"profile"`
	// TokenFile holds the bearer token of the JSON API (/admin/api/), at least 32 characters;
	// empty: no API token.
	TokenFile string `yaml:"token_file"`
}

// Enabled reports whether any admin is configured.
func (a *AdminConfig) Enabled() bool { return len(a.NationalIDs) > 0 || a.TokenFile != "" }

// ProxyConfig is reverse-proxy mode: eidsp forwards authenticated requests to the portal with
// the X-Eid-* headers, stripping any the client sent.
type ProxyConfig struct {
	Upstream       string `yaml:"upstream"`        // empty: off
	DefaultProfile string `yaml:"default_profile"` // the login for unauthenticated visitors
}

// StoreConfig selects the session store: SQLite (embedded, one host) or Redis (shared by many
// instances behind a load balancer).
type StoreConfig struct {
	Driver string `yaml:"driver"` // sqlite (default) or redis
	Path   string `yaml:"path"`   // sqlite file; default DataDir/eidsp.db
	// Synchronous is SQLite's durability: full (default; every commit survives a power loss)
	// or normal (survives a crash of eidsp, not of the machine: a replay-cache entry lost to a
	// power cut could let that assertion be replayed within its remaining minutes).
	Synchronous string      `yaml:"synchronous"`
	Redis       RedisConfig `yaml:"redis"`
}

// RedisConfig reaches the shared Redis. The password is a file path, never inline.
type RedisConfig struct {
	Addr         string `yaml:"addr"` // host:port
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"`
	TLS          bool   `yaml:"tls"`
	KeyPrefix    string `yaml:"key_prefix"` // default "eidsp:"
}

// SPConfig is our own identity towards IdPs. Keys are file paths, never inline.
type SPConfig struct {
	EntityID string `yaml:"entity_id"` // default BaseURL + "/saml/metadata"
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// NextCertFile and NextKeyFile are the key pair that replaces the current one (key
	// rollover): published in metadata and used for decryption at once, used for signing from
	// RolloverAt. Both or neither.
	NextCertFile string `yaml:"next_cert_file"`
	NextKeyFile  string `yaml:"next_key_file"`
	// RolloverAt is when signing switches from the current key to the next (RFC 3339 in YAML);
	// zero: the current key keeps signing.
	RolloverAt time.Time `yaml:"rollover_at"`
	// Metadata shapes the SP metadata admins upload to the IdP.
	Metadata SPMetadataConfig `yaml:"metadata"`
}

// SPMetadataConfig is what GET /saml/metadata announces besides keys and endpoints.
type SPMetadataConfig struct {
	// ValidFor sets validUntil to the time the metadata is built plus this (default 8760h, one
	// year), never later than the signing certificate's expiry.
	ValidFor time.Duration `yaml:"valid_for"`
	// CacheDuration is how long an IdP may cache the metadata before fetching it again
	// (default 24h).
	CacheDuration time.Duration `yaml:"cache_duration"`
	// Sign adds an enveloped XML signature by the SP's current signing key.
	Sign bool `yaml:"sign"`
	// Organization, all three or none: shown by IdPs that display it.
	OrganizationName        string `yaml:"organization_name"`
	OrganizationDisplayName string `yaml:"organization_display_name"`
	OrganizationURL         string `yaml:"organization_url"`
}

// The session cache's default and largest TTL (session.cache_ttl).
const (
	DefaultSessionCacheTTL = time.Second
	MaxSessionCacheTTL     = 10 * time.Second
)

// SessionConfig bounds the portal session.
type SessionConfig struct {
	CookieName  string        `yaml:"cookie_name"`
	IdleTimeout time.Duration `yaml:"idle_timeout"` // Digdir test 8: never more than 30 min
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// LoggedOutURL is where a finished logout sends the user (the portal's front page, say);
	// empty shows eidsp's own "logged out" page.
	LoggedOutURL string `yaml:"logged_out_url"`
	// CacheTTL is how long an instance answers /auth, /session and proxied requests for a
	// session from memory (session.Cache) before reading the store again: a logout that ends
	// the session at another instance is seen here within this time (at this instance, at
	// once). Default 1s; 0s turns the cache off; at most 10s.
	CacheTTL *time.Duration `yaml:"cache_ttl"`
}

// SessionCacheTTL is session.cache_ttl, DefaultSessionCacheTTL when unset.
func (s SessionConfig) SessionCacheTTL() time.Duration {
	if s.CacheTTL == nil {
		return DefaultSessionCacheTTL
	}
	return *s.CacheTTL
}

// SAMLConfig holds protocol limits shared by every IdP.
type SAMLConfig struct {
	ClockSkew      time.Duration `yaml:"clock_skew"`
	MaxResponseAge time.Duration `yaml:"max_response_age"`
	PendingTTL     time.Duration `yaml:"pending_ttl"`  // how long a user may stay at the IdP
	SOAPTimeout    time.Duration `yaml:"soap_timeout"` // artifact resolution back channel
	MaxSOAPBytes   int64         `yaml:"max_soap_bytes"`
	MaxPostBytes   int64         `yaml:"max_post_bytes"` // POST binding body
}

// LogConfig selects the log format.
type LogConfig struct {
	Format string `yaml:"format"` // json or text
	Level  string `yaml:"level"`  // debug, info, warn, error
	// HashKeyFile holds the key for the keyed hash that correlates national identity numbers in
	// logs without revealing them; generated in DataDir when empty.
	HashKeyFile string `yaml:"hash_key_file"`
}

// UIConfig is the portal's look on our pages: name, logo, colours (checked for WCAG AA
// contrast at start-up) and replacement texts per language (message key → text).
type UIConfig struct {
	PortalName string                       `yaml:"portal_name"`
	LogoFile   string                       `yaml:"logo_file"` // PNG, JPEG, GIF, WebP or SVG, ≤ 100 KiB
	LogoAlt    string                       `yaml:"logo_alt"`
	Colors     UIColors                     `yaml:"colors"`
	Texts      map[string]map[string]string `yaml:"texts"`
}

// UIColors are "#rrggbb" values.
type UIColors struct {
	Accent           string `yaml:"accent"`
	HeaderBackground string `yaml:"header_background"`
	HeaderText       string `yaml:"header_text"`
}

// IdP presets.
const (
	PresetIDPorten = "idporten"
	PresetIPS      = "ips"
	PresetGeneric  = "generic"
)

// Bindings for the answer.
const (
	BindingArtifact = "artifact"
	BindingPost     = "post"
)

// DefaultInstrumentNamespace is our decision for the InstrumentAttribute namespace: no public
// SAML carriage of Buypass instruments exists (spec/PROFILE.md §3), so it is configurable per IdP.
const DefaultInstrumentNamespace = "urn:eidsp:buypass:ips"

// IdPConfig is one identity provider.
type IdPConfig struct {
	Name         string `yaml:"name"`
	Preset       string `yaml:"preset"` // idporten, ips, generic
	MetadataFile string `yaml:"metadata_file"`
	MetadataURL  string `yaml:"metadata_url"`
	EntityID     string `yaml:"entity_id"` // required for aggregates; checked when set
	// SignatureAlgorithm signs our requests: rsa-sha256 (default) or rsa-sha1 (ID-porten).
	SignatureAlgorithm string `yaml:"signature_algorithm"`
	// AllowSHA1 accepts RSA-SHA1 / SHA-1 in the IdP's signatures.
	AllowSHA1 *bool  `yaml:"allow_sha1"`
	Binding   string `yaml:"binding"` // artifact (default) or post
	// InResponseTo: authn_request, artifact_resolve or either.
	InResponseTo              string `yaml:"in_response_to"`
	RequireEncryptedAssertion *bool  `yaml:"require_encrypted_assertion"`
	InstrumentNamespace       string `yaml:"instrument_namespace"`
	// Attributes overrides the preset's attribute names.
	Attributes AttributeNames `yaml:"attributes"`
	// AllowTestPersons accepts synthetic national identity numbers. Never in production.
	AllowTestPersons bool `yaml:"allow_test_persons"`
	// AllowInsecureMetadata accepts http:// endpoints on loopback addresses (development).
	AllowInsecureMetadata bool `yaml:"allow_insecure_metadata"`
	// MetadataSigningCertFiles, when set, require the IdP metadata to carry a valid XML
	// signature by one of these certificates (several: the federation's key rollover).
	MetadataSigningCertFiles []string `yaml:"metadata_signing_cert_files"`
	// MetadataRefresh is the longest time between two reads of the metadata (URL or file;
	// default 1h). A shorter cacheDuration in the document wins; never less than 1 minute.
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`
}

// OIDC presets.
const (
	OIDCPresetIDPorten = "idporten"
	OIDCPresetBankID   = "bankid"
)

// OIDCConfig is one OpenID Connect provider. Secrets and keys are file paths, never inline.
type OIDCConfig struct {
	Name   string `yaml:"name"`
	Preset string `yaml:"preset"` // idporten or bankid
	// Issuer is the provider's issuer URL; discovery is read from it (https; http only on
	// loopback with allow_insecure).
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// AuthMethod is the client authentication: client_secret_basic (default),
	// client_secret_post or private_key_jwt.
	AuthMethod       string `yaml:"auth_method"`
	ClientSecretFile string `yaml:"client_secret_file"` // client_secret_*
	PrivateKeyFile   string `yaml:"private_key_file"`   // private_key_jwt: PEM RSA key
	KeyID            string `yaml:"key_id"`             // private_key_jwt: the kid registered with the provider
	// Scopes beyond openid, e.g. profile; bankid: nnin_altsub when the client is entitled.
	Scopes []string `yaml:"scopes"`
	// Environment is informational for bankid: current (test) or prod.
	Environment      string        `yaml:"environment"`
	UsePAR           bool          `yaml:"use_par"`
	DiscoveryRefresh time.Duration `yaml:"discovery_refresh"` // default 1h
	AllowTestPersons bool          `yaml:"allow_test_persons"`
	AllowInsecure    bool          `yaml:"allow_insecure"` // http issuer on loopback (development)
}

// AttributeNames overrides attribute names; empty fields keep the preset's.
type AttributeNames struct {
	NationalID string `yaml:"national_id"`
	Level      string `yaml:"level"`
	AuthMethod string `yaml:"auth_method"`
	Culture    string `yaml:"culture"`
	OnBehalfOf string `yaml:"on_behalf_of"`
	Instrument string `yaml:"instrument"`
}

// ProfileConfig is one login button: which IdP, which instruments, which level.
type ProfileConfig struct {
	Name        string   `yaml:"name"`
	Label       string   `yaml:"label"` // message key or literal text
	IdP         string   `yaml:"idp"`
	Instruments []string `yaml:"instruments"`
	MinLevel    int      `yaml:"min_level"`
	ForceAuthn  bool     `yaml:"force_authn"`
	OnBehalfOf  string   `yaml:"on_behalf_of"`
}

// Defaults fills every unset field. It is the one place defaults live.
func (c *Config) Defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defD := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Listen, ":8080")
	def(&c.BaseURL, "http://localhost:8080")
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	def(&c.DataDir, "./data")
	def(&c.Store.Driver, "sqlite")
	def(&c.Store.Path, c.DataDir+"/eidsp.db")
	def(&c.Store.Synchronous, "full")
	def(&c.SP.EntityID, c.BaseURL+"/saml/metadata")
	def(&c.Session.CookieName, "eidsp_session")
	defD(&c.Session.IdleTimeout, 30*time.Minute)
	defD(&c.Session.MaxLifetime, 120*time.Minute)
	defD(&c.SAML.ClockSkew, 180*time.Second)
	defD(&c.SAML.MaxResponseAge, 60*time.Second)
	defD(&c.SAML.PendingTTL, 15*time.Minute)
	defD(&c.SAML.SOAPTimeout, 10*time.Second)
	if c.SAML.MaxSOAPBytes == 0 {
		c.SAML.MaxSOAPBytes = 256 << 10
	}
	if c.SAML.MaxPostBytes == 0 {
		c.SAML.MaxPostBytes = 256 << 10
	}
	def(&c.Log.Format, "json")
	def(&c.Log.Level, "info")
	def(&c.Log.HashKeyFile, c.DataDir+"/log-hash.key")
	def(&c.UI.PortalName, "eidsp")
	defD(&c.SP.Metadata.ValidFor, 8760*time.Hour)
	defD(&c.SP.Metadata.CacheDuration, 24*time.Hour)
	if c.Admin.Enabled() && c.Admin.Profile == "" {
		for _, p := range c.Profiles {
			if p.MinLevel == 4 {
				c.Admin.Profile = p.Name
				break
			}
		}
	}
	for i := range c.IdPs {
		c.IdPs[i].defaults()
	}
	for i := range c.OIDC {
		o := &c.OIDC[i]
		def(&o.AuthMethod, "client_secret_basic")
		defD(&o.DiscoveryRefresh, time.Hour)
		if o.Preset == OIDCPresetBankID {
			def(&o.Environment, "current")
		}
	}
}

func (p *IdPConfig) defaults() {
	yes, no := true, false
	if p.Preset == "" {
		p.Preset = PresetGeneric
	}
	if p.Binding == "" {
		p.Binding = BindingArtifact
	}
	if p.InstrumentNamespace == "" {
		p.InstrumentNamespace = DefaultInstrumentNamespace
	}
	if p.MetadataRefresh == 0 {
		p.MetadataRefresh = time.Hour
	}
	if p.RequireEncryptedAssertion == nil {
		p.RequireEncryptedAssertion = &yes
	}
	switch p.Preset {
	case PresetIDPorten:
		// ID-porten documented RSA-SHA1 only, and InResponseTo = the ArtifactResolve ID
		// (OPEN against live traffic, so either of our two IDs is accepted).
		if p.SignatureAlgorithm == "" {
			p.SignatureAlgorithm = "rsa-sha1"
		}
		if p.AllowSHA1 == nil {
			p.AllowSHA1 = &yes
		}
		if p.InResponseTo == "" {
			p.InResponseTo = "either"
		}
	default:
		if p.SignatureAlgorithm == "" {
			p.SignatureAlgorithm = "rsa-sha256"
		}
		if p.AllowSHA1 == nil {
			p.AllowSHA1 = &no
		}
		if p.InResponseTo == "" {
			p.InResponseTo = "authn_request"
		}
	}
}

var (
	nameRe       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	onBehalfRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	instruments  = []string{"ips:BPSC", "ips:OTP1PKI", "ips:CC2PKI"}
	presets      = []string{PresetIDPorten, PresetIPS, PresetGeneric}
	inResponseTo = []string{"authn_request", "artifact_resolve", "either"}
)

// Validate reports every problem, one per line.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		add("base_url %q must be an absolute http(s) URL without a path", c.BaseURL)
	} else if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		add("base_url %q must use https (http only for localhost)", c.BaseURL)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			add("metrics_listen %q must be host:port", c.MetricsListen)
		} else if c.MetricsListen == c.Listen {
			add("metrics_listen %q is listen: leave it empty to serve /metrics there", c.MetricsListen)
		}
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.Synchronous != "full" && c.Store.Synchronous != "normal" {
			add("store.synchronous %q must be full or normal", c.Store.Synchronous)
		}
	case "redis":
		if _, _, err := net.SplitHostPort(c.Store.Redis.Addr); err != nil {
			add("store.redis.addr %q must be host:port", c.Store.Redis.Addr)
		}
	default:
		add("store.driver %q must be sqlite or redis", c.Store.Driver)
	}
	if c.SP.CertFile == "" || c.SP.KeyFile == "" {
		add("sp.cert_file and sp.key_file are required (eidsp keygen makes a pair for test environments)")
	}
	if (c.SP.NextCertFile == "") != (c.SP.NextKeyFile == "") {
		add("sp.next_cert_file and sp.next_key_file go together (both or neither)")
	}
	if !c.SP.RolloverAt.IsZero() && c.SP.NextCertFile == "" && c.SP.NextKeyFile == "" {
		add("sp.rollover_at needs the next key pair (sp.next_cert_file and sp.next_key_file)")
	}
	if c.Session.IdleTimeout <= 0 || c.Session.IdleTimeout > 30*time.Minute {
		add("session.idle_timeout %s must be between 0 and 30m (Digdir verification test 8)", c.Session.IdleTimeout)
	}
	if ttl := c.Session.SessionCacheTTL(); ttl < 0 || ttl > MaxSessionCacheTTL {
		add("session.cache_ttl %s must be between 0s (off) and %s: a logout at another instance takes up to this long to be seen", ttl, MaxSessionCacheTTL)
	}
	if c.Session.MaxLifetime < c.Session.IdleTimeout {
		add("session.max_lifetime %s is shorter than session.idle_timeout", c.Session.MaxLifetime)
	}
	if l := c.Session.LoggedOutURL; l != "" {
		if lu, err := url.Parse(l); err != nil || !(strings.HasPrefix(l, "/") && !strings.HasPrefix(l, "//") || lu.Scheme == "https") {
			add("session.logged_out_url %q must be a path on this site or an https URL", l)
		}
	}
	if c.SAML.ClockSkew < 0 || c.SAML.ClockSkew > 10*time.Minute {
		add("saml.clock_skew %s must be between 0 and 10m", c.SAML.ClockSkew)
	}
	if c.SAML.MaxResponseAge <= 0 || c.SAML.MaxResponseAge > 10*time.Minute {
		add("saml.max_response_age %s must be between 0 and 10m", c.SAML.MaxResponseAge)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		add("log.format %q must be json or text", c.Log.Format)
	}
	idps := map[string]bool{}
	for i, p := range c.IdPs {
		where := fmt.Sprintf("idps[%d] (%s)", i, p.Name)
		if !nameRe.MatchString(p.Name) {
			add("%s: name must be lower-case letters, digits and dashes", where)
		}
		if idps[p.Name] {
			add("%s: name used twice", where)
		}
		idps[p.Name] = true
		if !slices.Contains(presets, p.Preset) {
			add("%s: preset %q is not one of %v", where, p.Preset, presets)
		}
		if (p.MetadataFile == "") == (p.MetadataURL == "") {
			add("%s: give exactly one of metadata_file and metadata_url", where)
		}
		if p.MetadataURL != "" {
			if mu, err := url.Parse(p.MetadataURL); err != nil || !(mu.Scheme == "https" || (mu.Scheme == "http" && p.AllowInsecureMetadata && isLoopback(mu.Hostname()))) {
				add("%s: metadata_url must be https", where)
			}
		}
		if p.SignatureAlgorithm != "rsa-sha256" && p.SignatureAlgorithm != "rsa-sha1" {
			add("%s: signature_algorithm %q must be rsa-sha256 or rsa-sha1", where, p.SignatureAlgorithm)
		}
		if p.SignatureAlgorithm == "rsa-sha1" && (p.AllowSHA1 == nil || !*p.AllowSHA1) {
			add("%s: signature_algorithm rsa-sha1 needs allow_sha1", where)
		}
		if p.Binding != BindingArtifact && p.Binding != BindingPost {
			add("%s: binding %q must be artifact or post", where, p.Binding)
		}
		if !slices.Contains(inResponseTo, p.InResponseTo) {
			add("%s: in_response_to %q must be one of %v", where, p.InResponseTo, inResponseTo)
		}
		if u, err := url.Parse(p.InstrumentNamespace); err != nil || u.Scheme == "" {
			add("%s: instrument_namespace %q must be a URI", where, p.InstrumentNamespace)
		}
		if p.MetadataRefresh < time.Minute {
			add("%s: metadata_refresh %s must be at least 1m", where, p.MetadataRefresh)
		}
	}
	if m := c.SP.Metadata; m.ValidFor < time.Hour || m.CacheDuration < time.Minute || m.CacheDuration > m.ValidFor {
		add("sp.metadata: valid_for (%s) must be at least 1h and cache_duration (%s) between 1m and valid_for", m.ValidFor, m.CacheDuration)
	}
	if m := c.SP.Metadata; m.OrganizationName != "" || m.OrganizationDisplayName != "" || m.OrganizationURL != "" {
		if m.OrganizationName == "" || m.OrganizationDisplayName == "" || m.OrganizationURL == "" {
			add("sp.metadata: organization_name, organization_display_name and organization_url go together")
		} else if ou, err := url.Parse(m.OrganizationURL); err != nil || (ou.Scheme != "https" && ou.Scheme != "http") || ou.Host == "" {
			add("sp.metadata.organization_url %q must be an absolute http(s) URL", m.OrganizationURL)
		}
	}
	for i, o := range c.OIDC {
		where := fmt.Sprintf("oidc_providers[%d] (%s)", i, o.Name)
		if !nameRe.MatchString(o.Name) {
			add("%s: name must be lower-case letters, digits and dashes", where)
		}
		if idps[o.Name] {
			add("%s: name used twice (names are shared with idps)", where)
		}
		idps[o.Name] = true
		if o.Preset != OIDCPresetIDPorten && o.Preset != OIDCPresetBankID {
			add("%s: preset %q must be idporten or bankid", where, o.Preset)
		}
		if iu, err := url.Parse(o.Issuer); err != nil || iu.Host == "" || !(iu.Scheme == "https" || (iu.Scheme == "http" && o.AllowInsecure && isLoopback(iu.Hostname()))) {
			add("%s: issuer %q must be an https URL", where, o.Issuer)
		}
		if o.ClientID == "" {
			add("%s: client_id is required", where)
		}
		switch o.AuthMethod {
		case "client_secret_basic", "client_secret_post":
			if o.ClientSecretFile == "" {
				add("%s: auth_method %s needs client_secret_file", where, o.AuthMethod)
			}
		case "private_key_jwt":
			if o.PrivateKeyFile == "" {
				add("%s: auth_method private_key_jwt needs private_key_file", where)
			}
		default:
			add("%s: auth_method %q must be client_secret_basic, client_secret_post or private_key_jwt", where, o.AuthMethod)
		}
		if o.Preset == OIDCPresetBankID && o.Environment != "current" && o.Environment != "prod" {
			add("%s: environment %q must be current or prod", where, o.Environment)
		}
		if o.DiscoveryRefresh < time.Minute {
			add("%s: discovery_refresh %s must be at least 1m", where, o.DiscoveryRefresh)
		}
	}
	if c.Proxy.Upstream != "" {
		if u, err := url.Parse(c.Proxy.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
			u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			add("proxy.upstream %q must be an absolute http(s) URL without query or fragment", c.Proxy.Upstream)
		}
		if _, ok := c.Profile(c.Proxy.DefaultProfile); !ok {
			add("proxy.default_profile %q is not a configured profile", c.Proxy.DefaultProfile)
		}
	} else if c.Proxy.DefaultProfile != "" {
		add("proxy.default_profile needs proxy.upstream")
	}
	if len(c.Profiles) == 0 {
		add("profiles: at least one login profile is required")
	}
	for i, nid := range c.Admin.NationalIDs {
		// The number itself is never repeated in a message: configuration errors are logged.
		if _, err := identity.ParseNationalID(nid); err != nil {
			add("admin.national_ids[%d] is not a valid national identity number", i)
		}
	}
	if len(c.Admin.NationalIDs) > 0 {
		if p, ok := c.Profile(c.Admin.Profile); !ok {
			add("admin.profile %q is not a configured profile (admins log in at level 4)", c.Admin.Profile)
		} else if p.MinLevel != 4 {
			add("admin.profile %q must have min_level 4 (admins log in at level 4)", c.Admin.Profile)
		}
	} else if c.Admin.Profile != "" && c.Admin.TokenFile == "" {
		add("admin.profile needs admin.national_ids")
	}
	profiles := map[string]bool{}
	for i, p := range c.Profiles {
		where := fmt.Sprintf("profiles[%d] (%s)", i, p.Name)
		if !nameRe.MatchString(p.Name) {
			add("%s: name must be lower-case letters, digits and dashes", where)
		}
		if profiles[p.Name] {
			add("%s: name used twice", where)
		}
		profiles[p.Name] = true
		if !idps[p.IdP] {
			add("%s: idp %q is not configured", where, p.IdP)
		}
		if p.MinLevel != 0 && p.MinLevel != 3 && p.MinLevel != 4 {
			add("%s: min_level %d must be 3 or 4", where, p.MinLevel)
		}
		if _, isOIDC := c.OIDCProvider(p.IdP); isOIDC && len(p.Instruments) > 0 {
			add("%s: instruments are a Buypass IPS (SAML) choice; OIDC provider %q takes none", where, p.IdP)
		}
		for _, in := range p.Instruments {
			if !slices.Contains(instruments, in) {
				add("%s: instrument %q is not one of %v", where, in, instruments)
			}
		}
		if p.OnBehalfOf != "" && !onBehalfRe.MatchString(p.OnBehalfOf) {
			add("%s: on_behalf_of may hold only A-Z a-z 0-9 - _", where)
		}
	}
	return errors.Join(errs...)
}

// IdP returns the named IdP configuration.
func (c *Config) IdP(name string) (*IdPConfig, bool) {
	for i := range c.IdPs {
		if c.IdPs[i].Name == name {
			return &c.IdPs[i], true
		}
	}
	return nil, false
}

// OIDCProvider returns the named OpenID Connect provider configuration.
func (c *Config) OIDCProvider(name string) (*OIDCConfig, bool) {
	for i := range c.OIDC {
		if c.OIDC[i].Name == name {
			return &c.OIDC[i], true
		}
	}
	return nil, false
}

// Profile returns the named login profile.
func (c *Config) Profile(name string) (*ProfileConfig, bool) {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i], true
		}
	}
	return nil, false
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Load reads a YAML file (unknown keys are an error), applies environment overrides
// (EIDSP_LISTEN, EIDSP_BASE_URL, EIDSP_DATA_DIR), then defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.applyEnv(os.Getenv)
	c.Defaults()
	return &c, nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	for key, dst := range map[string]*string{
		"EIDSP_LISTEN":         &c.Listen,
		"EIDSP_METRICS_LISTEN": &c.MetricsListen,
		"EIDSP_BASE_URL":       &c.BaseURL,
		"EIDSP_DATA_DIR":       &c.DataDir,
	} {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
}
