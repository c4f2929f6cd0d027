package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "eidsp.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const validYAML = `
base_url: https://login.example.no
sp:
  cert_file: /etc/eidsp/sp.crt
  key_file: /etc/eidsp/sp.key
idps:
  - name: idporten
    preset: idporten
    metadata_url: https://idporten.no/idporten-saml/metadata.xml
  - name: ips
    preset: ips
    metadata_file: /etc/eidsp/ips.xml
profiles:
  - name: idporten
    idp: idporten
    min_level: 3
  - name: buypass-mobile
    idp: ips
    min_level: 4
    instruments: [ips:OTP1PKI, ips:CC2PKI]
`

func TestValidateReportsEveryProblem(t *testing.T) {
	no := false
	c := &Config{
		BaseURL: "http://login.example.no/path",
		Store:   StoreConfig{Driver: "postgres"},
		Session: SessionConfig{IdleTimeout: 45 * time.Minute, MaxLifetime: 10 * time.Minute},
		SAML:    SAMLConfig{ClockSkew: 11 * time.Minute, MaxResponseAge: -time.Second},
		Log:     LogConfig{Format: "xml"},
		IdPs: []IdPConfig{
			{Name: "Bad Name", Preset: "azure", MetadataFile: "a.xml", MetadataURL: "http://idp.example/md",
				SignatureAlgorithm: "rsa-md5", Binding: "soap", InResponseTo: "whatever", InstrumentNamespace: "not a uri"},
			{Name: "dup", MetadataURL: "http://idp.example/md"},
			{Name: "dup", MetadataFile: "b.xml", SignatureAlgorithm: "rsa-sha1", AllowSHA1: &no},
		},
		Profiles: []ProfileConfig{
			{Name: "p", IdP: "nope", MinLevel: 2, Instruments: []string{"ips:FAX"}, OnBehalfOf: "no spaces allowed"},
			{Name: "p", IdP: "dup"},
			{Name: "UPPER", IdP: "dup"},
		},
	}
	// What Defaults would fill stays unset where the test wants a problem; fill the rest.
	for i := range c.IdPs {
		c.IdPs[i].defaults()
	}
	c.IdPs[0].SignatureAlgorithm, c.IdPs[0].Binding, c.IdPs[0].InResponseTo = "rsa-md5", "soap", "whatever"
	c.Admin = AdminConfig{NationalIDs: []string{"45678901234"}, Profile: "nope"}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken configuration")
	}
	msg := err.Error()
	for _, want := range []string{
		`base_url "http://login.example.no/path" must be an absolute http(s) URL without a path`,
		`store.driver "postgres" must be sqlite or redis`,
		`sp.cert_file and sp.key_file are required`,
		`session.idle_timeout 45m0s must be between 0 and 30m`,
		`session.max_lifetime 10m0s is shorter than session.idle_timeout`,
		`saml.clock_skew 11m0s must be between 0 and 10m`,
		`saml.max_response_age -1s must be between 0 and 10m`,
		`log.format "xml" must be json or text`,
		`idps[0] (Bad Name): name must be lower-case letters, digits and dashes`,
		`idps[0] (Bad Name): preset "azure" is not one of`,
		`idps[0] (Bad Name): give exactly one of metadata_file and metadata_url`,
		`idps[0] (Bad Name): metadata_url must be https`,
		`idps[0] (Bad Name): signature_algorithm "rsa-md5" must be rsa-sha256 or rsa-sha1`,
		`idps[0] (Bad Name): binding "soap" must be artifact or post`,
		`idps[0] (Bad Name): in_response_to "whatever" must be one of`,
		`idps[0] (Bad Name): instrument_namespace "not a uri" must be a URI`,
		`idps[1] (dup): metadata_url must be https`,
		`idps[2] (dup): name used twice`,
		`idps[2] (dup): signature_algorithm rsa-sha1 needs allow_sha1`,
		`profiles[0] (p): idp "nope" is not configured`,
		`profiles[0] (p): min_level 2 must be 3 or 4`,
		`profiles[0] (p): instrument "ips:FAX" is not one of`,
		`profiles[0] (p): on_behalf_of may hold only A-Z a-z 0-9 - _`,
		`profiles[1] (p): name used twice`,
		`profiles[2] (UPPER): name must be lower-case letters, digits and dashes`,
		`sp.metadata: valid_for (0s) must be at least 1h`,
		`admin.national_ids[0] is not a valid national identity number`,
		`admin.profile "nope" is not a configured profile`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate does not report %q", want)
		}
	}
	if strings.Contains(msg, "45678901234") {
		t.Error("Validate repeats an admin's national identity number")
	}
	if n := len(strings.Split(msg, "\n")); n != 28 {
		t.Errorf("Validate reported %d problems, want 28:\n%s", n, msg)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "ok/valid file"},
		{name: "ok/http on localhost", edit: func(c *Config) { c.BaseURL = "http://localhost:8080" }},
		{name: "ok/http on 127.0.0.1", edit: func(c *Config) { c.BaseURL = "http://127.0.0.1:8080" }},
		{name: "ok/post binding", edit: func(c *Config) { c.IdPs[1].Binding = BindingPost }},
		{name: "ok/insecure metadata URL on loopback when allowed", edit: func(c *Config) {
			c.IdPs[0].MetadataURL, c.IdPs[0].AllowInsecureMetadata = "http://127.0.0.1:8081/idp/metadata", true
		}},
		{name: "ok/idle timeout exactly 30m", edit: func(c *Config) { c.Session.IdleTimeout = 30 * time.Minute }},
		{name: "ok/metrics on a listener of their own", edit: func(c *Config) { c.MetricsListen = "127.0.0.1:9090" }},
		{name: "fail/metrics_listen not host:port", edit: func(c *Config) { c.MetricsListen = "9090" },
			wantErr: `metrics_listen "9090" must be host:port`},
		{name: "fail/metrics_listen is listen", edit: func(c *Config) { c.Listen, c.MetricsListen = ":8080", ":8080" },
			wantErr: `metrics_listen ":8080" is listen`},
		{name: "fail/http elsewhere", edit: func(c *Config) { c.BaseURL = "http://login.example.no" },
			wantErr: `base_url "http://login.example.no" must use https (http only for localhost)`},
		{name: "fail/http on a name that starts like loopback", edit: func(c *Config) { c.BaseURL = "http://127.evil.example" },
			wantErr: `must use https`},
		{name: "fail/insecure metadata URL off loopback", edit: func(c *Config) {
			c.IdPs[0].MetadataURL, c.IdPs[0].AllowInsecureMetadata = "http://idp.example/md", true
		}, wantErr: "metadata_url must be https"},
		{name: "fail/no profiles", edit: func(c *Config) { c.Profiles = nil },
			wantErr: "profiles: at least one login profile is required"},
		{name: "fail/base URL with a query", edit: func(c *Config) { c.BaseURL = "https://login.example.no?x=1" },
			wantErr: "must be an absolute http(s) URL without a path"},
		{name: "fail/idle timeout zero", edit: func(c *Config) { c.Session.IdleTimeout = -time.Second },
			wantErr: "session.idle_timeout"},
		{name: "ok/next key pair without a rollover date", edit: func(c *Config) {
			c.SP.NextCertFile, c.SP.NextKeyFile = "/etc/eidsp/next.crt", "/etc/eidsp/next.key"
		}},
		{name: "ok/next key pair with a rollover date", edit: func(c *Config) {
			c.SP.NextCertFile, c.SP.NextKeyFile = "/etc/eidsp/next.crt", "/etc/eidsp/next.key"
			c.SP.RolloverAt = time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)
		}},
		{name: "fail/next certificate without its key", edit: func(c *Config) { c.SP.NextCertFile = "/etc/eidsp/next.crt" },
			wantErr: "sp.next_cert_file and sp.next_key_file go together (both or neither)"},
		{name: "fail/next key without its certificate", edit: func(c *Config) { c.SP.NextKeyFile = "/etc/eidsp/next.key" },
			wantErr: "sp.next_cert_file and sp.next_key_file go together (both or neither)"},
		{name: "fail/rollover date without a next key pair", edit: func(c *Config) {
			c.SP.RolloverAt = time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)
		}, wantErr: "sp.rollover_at needs the next key pair (sp.next_cert_file and sp.next_key_file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeYAML(t, validYAML))
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(c)
			}
			err = c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestLoadRollover reads the rollover settings from YAML: rollover_at is an RFC 3339 time.
func TestLoadRollover(t *testing.T) {
	body := strings.Replace(validYAML, "  key_file: /etc/eidsp/sp.key\n",
		"  key_file: /etc/eidsp/sp.key\n  next_cert_file: /etc/eidsp/next.crt\n  next_key_file: /etc/eidsp/next.key\n"+
			"  rollover_at: 2026-06-01T08:00:00+02:00\n", 1)
	c, err := Load(writeYAML(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)
	if c.SP.NextCertFile != "/etc/eidsp/next.crt" || c.SP.NextKeyFile != "/etc/eidsp/next.key" || !c.SP.RolloverAt.Equal(want) {
		t.Errorf("sp = %+v, want next pair and rollover_at %s", c.SP, want)
	}
	if _, err := Load(writeYAML(t, strings.Replace(body, "2026-06-01T08:00:00+02:00", "next tuesday", 1))); err == nil {
		t.Error("Load accepted rollover_at that is not a time")
	}
}

func TestDevValidates(t *testing.T) {
	dir := t.TempDir()
	c := Dev(dir, "127.0.0.1:8080", "http://localhost:8080", filepath.Join(dir, "devidp-metadata.xml"))
	if err := c.Validate(); err != nil {
		t.Fatalf("Dev configuration: %v", err)
	}
	if c.Store.Path != dir+"/eidsp.db" || c.SP.EntityID != "http://localhost:8080/saml/metadata" {
		t.Errorf("store %q entityID %q", c.Store.Path, c.SP.EntityID)
	}
	for _, name := range []string{"buypass", "buypass-smartcard", "buypass-mobile", "idporten", "idporten-high"} {
		if _, ok := c.Profile(name); !ok {
			t.Errorf("no profile %s", name)
		}
	}
	for _, p := range c.IdPs {
		if !p.AllowTestPersons {
			t.Errorf("idp %s refuses the development IdP's test persons", p.Name)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
		check   func(*testing.T, *Config)
	}{
		{name: "ok/defaults", yaml: validYAML, check: func(t *testing.T, c *Config) {
			if c.Listen != ":8080" || c.DataDir != "./data" || c.Store.Driver != "sqlite" || c.Store.Path != "./data/eidsp.db" {
				t.Errorf("listen %q data %q store %+v", c.Listen, c.DataDir, c.Store)
			}
			if c.SP.EntityID != "https://login.example.no/saml/metadata" || c.Session.CookieName != "eidsp_session" {
				t.Errorf("entityID %q cookie %q", c.SP.EntityID, c.Session.CookieName)
			}
			if c.Session.IdleTimeout != 30*time.Minute || c.Session.MaxLifetime != 120*time.Minute ||
				c.SAML.ClockSkew != 180*time.Second || c.SAML.MaxResponseAge != time.Minute ||
				c.SAML.PendingTTL != 15*time.Minute || c.SAML.SOAPTimeout != 10*time.Second ||
				c.SAML.MaxSOAPBytes != 256<<10 || c.SAML.MaxPostBytes != 256<<10 {
				t.Errorf("session %+v saml %+v", c.Session, c.SAML)
			}
			if c.Log.Format != "json" || c.Log.Level != "info" || c.Log.HashKeyFile != "./data/log-hash.key" {
				t.Errorf("log %+v", c.Log)
			}
		}},
		{name: "ok/ID-porten preset", yaml: validYAML, check: func(t *testing.T, c *Config) {
			p, _ := c.IdP("idporten")
			if p.SignatureAlgorithm != "rsa-sha1" || p.AllowSHA1 == nil || !*p.AllowSHA1 || p.InResponseTo != "either" ||
				p.Binding != BindingArtifact || !*p.RequireEncryptedAssertion || p.InstrumentNamespace != DefaultInstrumentNamespace {
				t.Errorf("idporten preset: %+v", p)
			}
		}},
		{name: "ok/IPS preset", yaml: validYAML, check: func(t *testing.T, c *Config) {
			p, _ := c.IdP("ips")
			if p.SignatureAlgorithm != "rsa-sha256" || p.AllowSHA1 == nil || *p.AllowSHA1 || p.InResponseTo != "authn_request" ||
				p.Binding != BindingArtifact || !*p.RequireEncryptedAssertion {
				t.Errorf("ips preset: %+v", p)
			}
		}},
		{name: "ok/one more profile", yaml: validYAML + `
  - name: generic
    idp: ips
`, check: func(t *testing.T, c *Config) {
			if _, ok := c.Profile("generic"); !ok {
				t.Error("profile generic missing")
			}
		}},
		{name: "ok/explicit values kept", yaml: strings.Replace(validYAML, "    preset: idporten\n",
			"    preset: idporten\n    signature_algorithm: rsa-sha256\n    allow_sha1: false\n    in_response_to: artifact_resolve\n    require_encrypted_assertion: false\n", 1),
			check: func(t *testing.T, c *Config) {
				p, _ := c.IdP("idporten")
				if p.SignatureAlgorithm != "rsa-sha256" || *p.AllowSHA1 || p.InResponseTo != "artifact_resolve" || *p.RequireEncryptedAssertion {
					t.Errorf("explicit settings overwritten: %+v", p)
				}
			}},
		{name: "ok/environment overrides", yaml: validYAML + "listen: :9000\ndata_dir: /var/lib/x\n",
			env: map[string]string{"EIDSP_LISTEN": "127.0.0.1:7000", "EIDSP_BASE_URL": "https://other.example.no/", "EIDSP_DATA_DIR": "/srv/eidsp"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:7000" || c.BaseURL != "https://other.example.no" || c.DataDir != "/srv/eidsp" {
					t.Errorf("listen %q base %q data %q", c.Listen, c.BaseURL, c.DataDir)
				}
				// Defaults derive from the overridden values.
				if c.Store.Path != "/srv/eidsp/eidsp.db" || c.SP.EntityID != "https://other.example.no/saml/metadata" {
					t.Errorf("store %q entityID %q", c.Store.Path, c.SP.EntityID)
				}
			}},
		{name: "ok/durations", yaml: validYAML + "session:\n  idle_timeout: 15m\n  max_lifetime: 1h\n",
			check: func(t *testing.T, c *Config) {
				if c.Session.IdleTimeout != 15*time.Minute || c.Session.MaxLifetime != time.Hour {
					t.Errorf("session %+v", c.Session)
				}
			}},
		{name: "fail/unknown top-level key", yaml: validYAML + "listn: :9000\n", wantErr: "field listn not found"},
		{name: "fail/unknown nested key", yaml: strings.Replace(validYAML, "    preset: ips\n", "    preset: ips\n    metadata: x\n", 1),
			wantErr: "field metadata not found"},
		{name: "fail/inline key instead of a file", yaml: validYAML + "sp_key: |\n  -----BEGIN PRIVATE KEY-----\n", wantErr: "field sp_key not found"},
		{name: "fail/not YAML", yaml: "base_url: [", wantErr: "eidsp.yaml"},
		{name: "fail/wrong type", yaml: validYAML + "session:\n  idle_timeout: soon\n", wantErr: "time.Duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"EIDSP_LISTEN", "EIDSP_BASE_URL", "EIDSP_DATA_DIR"} {
				t.Setenv(k, tt.env[k])
			}
			c, err := Load(writeYAML(t, tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			tt.check(t, c)
		})
	}
	t.Run("fail/missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
			t.Error("Load of a missing file succeeded")
		}
	})
}

func TestValidateOIDC(t *testing.T) {
	base := func() *Config {
		c := &Config{BaseURL: "https://login.example.no", SP: SPConfig{CertFile: "c", KeyFile: "k"},
			IdPs:     []IdPConfig{{Name: "idporten", Preset: PresetIDPorten, MetadataFile: "m.xml"}},
			OIDC:     []OIDCConfig{{Name: "idporten-oidc", Preset: OIDCPresetIDPorten, Issuer: "https://idporten.no", ClientID: "c", ClientSecretFile: "s"}},
			Profiles: []ProfileConfig{{Name: "oidc", IdP: "idporten-oidc", MinLevel: 3}},
		}
		c.Defaults()
		return c
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("valid OIDC configuration refused: %v", err)
	}
	for name, tt := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"http issuer": {func(c *Config) { c.OIDC[0].Issuer = "http://idporten.no" }, "must be an https URL"},
		"http loopback ok": {func(c *Config) {
			c.OIDC[0].Issuer, c.OIDC[0].AllowInsecure = "http://127.0.0.1:8081/oidc/idporten", true
		}, ""},
		"name shared":        {func(c *Config) { c.OIDC[0].Name = "idporten" }, "name used twice"},
		"no secret":          {func(c *Config) { c.OIDC[0].ClientSecretFile = "" }, "needs client_secret_file"},
		"jwt without key":    {func(c *Config) { c.OIDC[0].AuthMethod = "private_key_jwt" }, "needs private_key_file"},
		"bad method":         {func(c *Config) { c.OIDC[0].AuthMethod = "none" }, "must be client_secret_basic"},
		"bad preset":         {func(c *Config) { c.OIDC[0].Preset = "azure" }, "must be idporten or bankid"},
		"bankid environment": {func(c *Config) { c.OIDC[0].Preset, c.OIDC[0].Environment = OIDCPresetBankID, "staging" }, "must be current or prod"},
		"instruments":        {func(c *Config) { c.Profiles[0].Instruments = []string{"ips:BPSC"} }, "takes none"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
