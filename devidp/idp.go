package devidp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/internal/xmlout"
	"github.com/eidsp/eidsp/saml"
)

// IdP is the development identity provider. It is safe for concurrent use.
type IdP struct {
	cfg     Config
	prefix  string // path of BaseURL + "/idp"
	urls    struct{ metadata, sso, login, ars, slo, logout string }
	csrfKey []byte // keys the form tokens of the admin page
	// personRows are the login page's person choices, rendered once: [n][0] unchecked, [n][1]
	// checked.
	personRows [][2]template.HTML
	loginPages *loginPages

	mu        sync.Mutex
	sps       map[string]*serviceProvider // by entityID
	pending   map[string]*pendingLogin    // by form token
	sessions  map[string]*ssoSession      // by cookie value
	artifacts map[[20]byte]*issuedArtifact
	walks     map[string]*logoutWalk // by the RelayState of the LogoutRequest out

	sessionsSwept time.Time // when expired sessions were last deleted (sweepSessionsLocked)
}

// serviceProvider is what the IdP knows of one SP, from its metadata only.
type serviceProvider struct {
	entityID     string
	signingCerts []*x509.Certificate
	encryptCert  *x509.Certificate // the first encryption key: the SP's current one
	acs          []saml.Endpoint
	slo          []saml.Endpoint
}

// New checks cfg and returns an IdP without any registered SP.
func New(cfg Config) (*IdP, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("devidp: invalid configuration: %w", err)
	}
	u, _ := url.Parse(cfg.BaseURL)
	csrfKey := make([]byte, 32)
	if _, err := io.ReadFull(cfg.Rand, csrfKey); err != nil {
		return nil, fmt.Errorf("devidp: form token key: %w", err)
	}
	i := &IdP{
		cfg:       cfg,
		prefix:    strings.TrimRight(u.Path, "/") + "/idp",
		csrfKey:   csrfKey,
		sps:       map[string]*serviceProvider{},
		pending:   map[string]*pendingLogin{},
		sessions:  map[string]*ssoSession{},
		artifacts: map[[20]byte]*issuedArtifact{},
		walks:     map[string]*logoutWalk{},
	}
	marker, err := randomMarker(cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("devidp: login page: %w", err)
	}
	i.loginPages = &loginPages{marker: marker, pages: map[loginPageKey]string{}}
	if i.personRows, err = renderPersonRows(cfg.Persons); err != nil {
		return nil, fmt.Errorf("devidp: login page: %w", err)
	}
	base := cfg.BaseURL + "/idp"
	i.urls.metadata = base + "/metadata"
	i.urls.sso = base + "/sso"
	i.urls.login = base + "/sso/login"
	i.urls.ars = base + "/ars"
	i.urls.slo = base + "/slo"
	i.urls.logout = base + "/logout"
	return i, nil
}

// EntityID is the IdP's entityID.
func (i *IdP) EntityID() string { return i.cfg.EntityID }

// Handler serves the IdP endpoints below BaseURL's path: /idp/metadata, /idp/sso (Redirect
// binding), /idp/sso/login (the login form), /idp/ars (SOAP artifact resolution), /idp/slo (the
// SingleLogoutService, Redirect binding: LogoutRequests from SPs and their LogoutResponses during
// a logout), /idp/logout (the user logs out at the IdP itself), and the self-service page for SP
// metadata: /idp/admin/ (the registered SPs and an upload form) and /idp/admin/sps (the upload).
func (i *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+i.prefix+"/metadata", i.serveMetadata)
	mux.HandleFunc("GET "+i.prefix+"/sso", i.serveSSORedirect)
	mux.HandleFunc("POST "+i.prefix+"/sso/login", i.serveLogin)
	mux.HandleFunc("POST "+i.prefix+"/ars", i.serveArtifactResolve)
	mux.HandleFunc("GET "+i.prefix+"/slo", i.serveSLO)
	mux.HandleFunc("GET "+i.prefix+"/logout", i.serveLogout)
	mux.HandleFunc("GET "+i.prefix+"/admin/{$}", i.serveAdmin)
	mux.HandleFunc("POST "+i.prefix+"/admin/sps", i.serveAdminUpload)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// SAML endpoints must not be cached (spec/PROFILE.md §5), nor framed.
		h := w.Header()
		h.Set("Cache-Control", "no-cache, no-store, must-revalidate, private")
		h.Set("Pragma", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// RegisterSP reads an SP's metadata (an md:EntityDescriptor with an SPSSODescriptor) and trusts
// its signing keys for AuthnRequests, ArtifactResolves and logout messages, encrypts for its
// (first) encryption key, answers only at its AssertionConsumerService endpoints and sends logout
// messages only to its SingleLogoutService (Location for requests, ResponseLocation, else
// Location, for responses). Registering the same entityID again replaces the earlier
// registration.
//
// RegisterSP is the lenient path for programs and tests: it takes whatever the IdP can work with.
// The admin page (/idp/admin/) registers only what metadata.CheckSP accepts, as ID-porten's
// self-service would.
func (i *IdP) RegisterSP(metadata []byte) error {
	doc, err := saml.ParseUntrusted(metadata, saml.MetadataLimits())
	if err != nil {
		return fmt.Errorf("devidp: SP metadata: %w", err)
	}
	sp, err := readSPMetadata(doc.Root())
	if err != nil {
		return fmt.Errorf("devidp: SP metadata: %w", err)
	}
	i.register(sp, "RegisterSP")
	return nil
}

// register trusts sp from now on, in place of any earlier registration of its entityID.
func (i *IdP) register(sp *serviceProvider, via string) {
	i.mu.Lock()
	i.sps[sp.entityID] = sp
	i.mu.Unlock()
	i.cfg.Logger.Info("devidp: service provider registered", "sp", sp.entityID, "via", via, "acs", len(sp.acs), "slo", len(sp.slo))
}

func readSPMetadata(ed *etree.Element) (*serviceProvider, error) {
	if ed.Tag != "EntityDescriptor" || ed.NamespaceURI() != saml.NSMetadata {
		return nil, errors.New("root element is not an md:EntityDescriptor")
	}
	sp := &serviceProvider{entityID: ed.SelectAttrValue("entityID", "")}
	var errs []error
	if sp.entityID == "" {
		errs = append(errs, errors.New("entityID is missing"))
	}
	var ssos []*etree.Element
	for _, c := range ed.ChildElements() {
		if c.Tag == "SPSSODescriptor" && c.NamespaceURI() == saml.NSMetadata {
			ssos = append(ssos, c)
		}
	}
	if len(ssos) != 1 {
		return nil, errors.Join(append(errs, fmt.Errorf("%d SPSSODescriptors, want 1", len(ssos)))...)
	}
	for _, c := range ssos[0].ChildElements() {
		if c.NamespaceURI() != saml.NSMetadata {
			continue
		}
		switch c.Tag {
		case "KeyDescriptor":
			use := c.SelectAttrValue("use", "")
			for _, el := range c.FindElements("./KeyInfo/X509Data/X509Certificate") {
				if el.NamespaceURI() != saml.NSDSig {
					continue
				}
				cert, err := parseCert(el.Text())
				if err != nil {
					errs = append(errs, fmt.Errorf("KeyDescriptor use=%q: %w", use, err))
					continue
				}
				if use == "" || use == "signing" {
					sp.signingCerts = append(sp.signingCerts, cert)
				}
				if (use == "" || use == "encryption") && sp.encryptCert == nil {
					sp.encryptCert = cert
				}
			}
		case "AssertionConsumerService", "SingleLogoutService":
			e := saml.Endpoint{
				Binding:          c.SelectAttrValue("Binding", ""),
				Location:         c.SelectAttrValue("Location", ""),
				ResponseLocation: c.SelectAttrValue("ResponseLocation", ""),
				IsDefault:        c.SelectAttrValue("isDefault", "") == "true" || c.SelectAttrValue("isDefault", "") == "1",
			}
			if u, err := url.Parse(e.Location); err != nil || !u.IsAbs() {
				errs = append(errs, fmt.Errorf("%s Location %q is not an absolute URL", c.Tag, e.Location))
				continue
			}
			if c.Tag == "SingleLogoutService" {
				if u, err := url.Parse(e.ResponseLocation); e.ResponseLocation != "" && (err != nil || !u.IsAbs()) {
					errs = append(errs, fmt.Errorf("SingleLogoutService ResponseLocation %q is not an absolute URL", e.ResponseLocation))
					continue
				}
				sp.slo = append(sp.slo, e)
				continue
			}
			idx, err := strconv.Atoi(c.SelectAttrValue("index", ""))
			if err != nil || idx < 0 || idx > 0xffff {
				errs = append(errs, fmt.Errorf("AssertionConsumerService %q has no valid index", e.Location))
				continue
			}
			e.Index = idx
			if e.Binding == saml.BindingHTTPArtifact || e.Binding == saml.BindingHTTPPost {
				sp.acs = append(sp.acs, e)
			}
		}
	}
	if len(sp.signingCerts) == 0 {
		errs = append(errs, errors.New("no signing certificate"))
	}
	if sp.encryptCert == nil {
		errs = append(errs, errors.New("no encryption certificate"))
	} else if _, ok := sp.encryptCert.PublicKey.(*rsa.PublicKey); !ok {
		errs = append(errs, errors.New("encryption certificate has no RSA key"))
	}
	if len(sp.acs) == 0 {
		errs = append(errs, errors.New("no AssertionConsumerService with the HTTP-Artifact or HTTP-POST binding"))
	}
	return sp, errors.Join(errs...)
}

func parseCert(b64 string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return nil, errors.New("certificate is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return cert, nil
}

// lookupSP returns the registered SP, or nil.
func (i *IdP) lookupSP(entityID string) *serviceProvider {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.sps[entityID]
}

// Metadata returns the IdP's metadata: an IDPSSODescriptor with the signing (and, as ID-porten
// publishes, encryption) key, the SOAP ArtifactResolutionService, the Redirect
// SingleLogoutService, the transient NameID format and the Redirect SingleSignOnService, in the
// order the metadata schema requires. The POST binding for AuthnRequests is not offered: ID-porten
// took requests over Redirect only.
func (i *IdP) Metadata() ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", saml.NSMetadata)
	ed.CreateAttr("xmlns:ds", saml.NSDSig)
	ed.CreateAttr("entityID", i.cfg.EntityID)
	d := ed.CreateElement("md:IDPSSODescriptor")
	d.CreateAttr("WantAuthnRequestsSigned", "true")
	d.CreateAttr("protocolSupportEnumeration", saml.NSProtocol)
	for _, use := range []string{"signing", "encryption"} {
		kd := d.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", use)
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(i.cfg.Signer.Cert.Raw))
	}
	ars := d.CreateElement("md:ArtifactResolutionService")
	ars.CreateAttr("Binding", saml.BindingSOAP)
	ars.CreateAttr("Location", i.urls.ars)
	ars.CreateAttr("index", "0")
	ars.CreateAttr("isDefault", "true")
	slo := d.CreateElement("md:SingleLogoutService")
	slo.CreateAttr("Binding", saml.BindingHTTPRedirect)
	slo.CreateAttr("Location", i.urls.slo)
	slo.CreateAttr("ResponseLocation", i.urls.slo)
	d.CreateElement("md:NameIDFormat").SetText(saml.NameIDFormatTransient)
	sso := d.CreateElement("md:SingleSignOnService")
	sso.CreateAttr("Binding", saml.BindingHTTPRedirect)
	sso.CreateAttr("Location", i.urls.sso)
	doc.Indent(2)
	return xmlout.Bytes(doc), nil
}

func (i *IdP) serveMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := i.Metadata()
	if err != nil {
		i.cfg.Logger.Error("devidp: metadata", "err", err)
		http.Error(w, "metadata unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(md)
}

// now is the injected clock, truncated to milliseconds as SAML times are written.
func (i *IdP) now() time.Time { return i.cfg.Now().UTC().Truncate(time.Millisecond) }
