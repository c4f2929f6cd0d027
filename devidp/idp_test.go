package devidp

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
)

func TestDefaultPersons(t *testing.T) {
	persons := DefaultPersons()
	if len(persons) < 5 {
		t.Fatalf("%d persons, want at least 5", len(persons))
	}
	kinds := map[identity.Kind]int{}
	seen := map[string]bool{}
	for _, p := range persons {
		kind, err := identity.ParseNationalID(p.NationalID)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if !kind.Synthetic() {
			t.Errorf("%s has a non-synthetic number (%s)", p.Name, kind)
		}
		if seen[p.NationalID] {
			t.Errorf("%s: number repeated", p.Name)
		}
		seen[p.NationalID] = true
		kinds[kind]++
	}
	if kinds[identity.KindSyntheticFNR] == 0 || kinds[identity.KindSyntheticDNR] == 0 {
		t.Errorf("kinds %v, want synthetic fødselsnumre and D-numbers", kinds)
	}
}

func TestCheckDigits(t *testing.T) {
	// Vectors of spec/PROFILE.md §8: the first nine digits give back the check digits.
	for _, v := range []string{"31129956715", "03015561903", "02013299997", "30108299920", "20914695016"} {
		k1, ok1 := checkDigit(v[:9], weightsK1)
		k2, ok2 := checkDigit(v[:9]+k1, weightsK2)
		if !ok1 || !ok2 || v[:9]+k1+k2 != v {
			t.Errorf("%s: computed %s%s", v, k1, k2)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ks := testKeys()
	good := func() Config {
		return Config{BaseURL: "http://127.0.0.1:8081", Signer: saml.Signer{Key: ks[keyIdP], Cert: testCert(t, ks[keyIdP], "idp")}, Logger: quietLogger()}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		says   []string
	}{
		{"ok/defaults", func(*Config) {}, nil},
		{"ok/base-path", func(c *Config) { c.BaseURL = "https://dev.example/eid/" }, nil},
		{"fail/everything", func(c *Config) {
			c.BaseURL = "ftp://x"
			c.Signer = saml.Signer{}
			c.InResponseTo = saml.InResponseToEither
			c.BlockAlg = "des"
			c.KeyTransportAlg = "none"
			c.Persons = []Person{{NationalID: "31129956715", Name: "Real Person"}, {NationalID: "45678901234", Name: ""}}
			c.ArtifactTTL = -time.Second
			c.LogoutTTL = -time.Second
		}, []string{"base URL", "signer", "InResponseTo", "block encryption", "key transport", "only synthetic", "person #2", "has no name", "artifact lifetime", "logout lifetime"}},
		{"fail/cert-key-mismatch", func(c *Config) { c.Signer.Key = ks[keyOther] }, []string{"does not match"}},
		{"fail/repeated-person", func(c *Config) { p := DefaultPersons()[0]; c.Persons = []Person{p, p} }, []string{"repeated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.mutate(&cfg)
			idp, err := New(cfg)
			if tt.says == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.TrimRight(cfg.BaseURL, "/") + "/idp"; idp.EntityID() != want {
					t.Errorf("entityID %q, want %q", idp.EntityID(), want)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not mention %q: %v", s, err)
				}
			}
		})
	}
}

func TestBasePathRoutes(t *testing.T) {
	ks := testKeys()
	idp, err := New(Config{BaseURL: "http://127.0.0.1:8081/eid", Signer: saml.Signer{Key: ks[keyIdP], Cert: testCert(t, ks[keyIdP], "idp")}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/eid/idp/metadata": 200, "/idp/metadata": 404, "/eid/idp/sso": 400, "/eid/idp/slo": 400, "/eid/idp/logout": 200} {
		rec := httptest.NewRecorder()
		idp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: HTTP %d, want %d", path, rec.Code, want)
		}
	}
}

func TestRegisterSP(t *testing.T) {
	e := newEnv(t, nil)
	noSigning := newTestSP(t, "https://nosign.example")
	noSigning.withoutSigning = true
	tests := []struct {
		name string
		md   string
		says string
	}{
		{"ok/artifact-and-post", string(newTestSP(t, "https://a.example").metadata()), ""},
		{"fail/no-signing-key", string(noSigning.metadata()), "no signing certificate"},
		{"fail/not-entitydescriptor", `<x xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>`, "EntityDescriptor"},
		{"fail/no-sso-descriptor", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`, "SPSSODescriptor"},
		{"fail/doctype", `<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`, "doctype"},
		{"fail/slo-response-location-relative", strings.Replace(string(newTestSP(t, "https://c.example").metadata()),
			`ResponseLocation="https://c.example/saml/slo"`, `ResponseLocation="/saml/slo"`, 1), "ResponseLocation"},
		{"fail/no-acs", strings.Replace(strings.Replace(string(newTestSP(t, "https://b.example").metadata()),
			"HTTP-Artifact", "HTTP-Redirect", 1), "HTTP-POST", "HTTP-Redirect", 1), "no AssertionConsumerService"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.idp.RegisterSP([]byte(tt.md))
			if tt.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err %v, want it to say %q", err, tt.says)
			}
		})
	}
}

// TestConcurrentLogins runs whole logins in parallel browsers, for the race detector.
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for n := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			b := &env{t: t, idp: e.idp, base: e.base, clock: e.clock, sp: e.sp, desc: e.desc, browser: &http.Client{
				Jar: jar, Timeout: 10 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}}
			r := b.fill(req{instruments: []string{identity.InstrumentPasswordOTP}})
			art, _ := b.artifactFrom(b.login(b.get(b.redirectURL(r)), DefaultPersons()[n%5].NationalID, identity.InstrumentPasswordOTP), e.sp.acsArtifact)
			if _, err := b.resolve(art, r.id, saml.InResponseToAuthnRequest); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
