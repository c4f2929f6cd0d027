package devidp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/saml"
)

// maxAdminBody bounds an upload to the admin page: the form with one metadata document.
const maxAdminBody = 4 << 20

// Form fields of the upload form.
const (
	fieldToken    = "token"
	fieldFile     = "file"
	fieldMetadata = "metadata"
)

// csrfToken returns a fresh token for the upload form: a random nonce and its HMAC under the
// IdP's secret. The token proves that the form was read from this IdP: a page elsewhere can make
// the browser post, but it cannot read the form. There is no login to bind it to; the development
// IdP has no administrators, only a developer on loopback.
func (i *IdP) csrfToken() (string, error) {
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(i.cfg.Rand, nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(nonce) + "." + base64.RawURLEncoding.EncodeToString(i.csrfMAC(nonce)), nil
}

func (i *IdP) csrfMAC(nonce []byte) []byte {
	m := hmac.New(sha256.New, i.csrfKey)
	m.Write([]byte("devidp admin upload\x00"))
	m.Write(nonce)
	return m.Sum(nil)
}

func (i *IdP) validCSRFToken(token string) bool {
	n, mac, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	nonce, err1 := base64.RawURLEncoding.DecodeString(n)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	return err1 == nil && err2 == nil && len(nonce) == 16 && hmac.Equal(sum, i.csrfMAC(nonce))
}

// adminPage is what the admin template shows.
type adminPage struct {
	Lang, Action, Token string
	T                   map[string]string
	SPs                 []adminSP
	Registered          string   // entity ID just registered (after the redirect)
	Error               string   // a catalogue message above the form
	Problems            []string // why the metadata was refused, in English
	Pasted              string   // the pasted metadata, shown again after a refusal
}

type adminSP struct {
	EntityID string
	ACS, SLO []adminEndpoint
	Certs    []adminCert
}

type adminEndpoint struct {
	Binding                    string // the short name: HTTP-Artifact, HTTP-POST, HTTP-Redirect
	Location, ResponseLocation string
	IsDefault                  bool
}

func adminEndpoints(list []saml.Endpoint) []adminEndpoint {
	out := make([]adminEndpoint, 0, len(list))
	for _, e := range list {
		out = append(out, adminEndpoint{Binding: strings.TrimPrefix(e.Binding, "urn:oasis:names:tc:SAML:2.0:bindings:"),
			Location: e.Location, ResponseLocation: e.ResponseLocation, IsDefault: e.IsDefault})
	}
	return out
}

type adminCert struct {
	Use, Subject, NotAfter string
	Expired                bool
}

// serveAdmin lists the registered SPs and shows the upload form.
func (i *IdP) serveAdmin(w http.ResponseWriter, r *http.Request) {
	page := i.newAdminPage(r)
	// Only a registration that happened is confirmed, so a crafted link cannot claim one.
	if id := r.URL.Query().Get("registered"); id != "" && slices.ContainsFunc(page.SPs, func(sp adminSP) bool { return sp.EntityID == id }) {
		page.Registered = id
	}
	i.renderAdmin(w, r, http.StatusOK, page)
}

// serveAdminUpload checks uploaded or pasted SP metadata with ID-porten's rules and registers the
// SP; a refusal shows every problem and registers nothing.
func (i *IdP) serveAdminUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
	page := i.newAdminPage(r)
	data, err := readUpload(r)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		page.Error = "admin_err_too_large"
		i.renderAdmin(w, r, http.StatusRequestEntityTooLarge, page)
		return
	case !i.validCSRFToken(r.PostFormValue(fieldToken)):
		i.cfg.Logger.Warn("devidp: admin upload without a valid form token", "path", r.URL.Path)
		page.Error = "admin_err_token"
		i.renderAdmin(w, r, http.StatusForbidden, page)
		return
	case err != nil:
		i.cfg.Logger.Warn("devidp: admin upload unreadable", "err", err)
		page.Error = "admin_err_form"
		i.renderAdmin(w, r, http.StatusBadRequest, page)
		return
	case len(data) == 0:
		page.Error = "admin_err_empty"
		i.renderAdmin(w, r, http.StatusUnprocessableEntity, page)
		return
	}
	info, err := metadata.CheckSP(data, metadata.CheckOptions{AllowInsecure: true, Now: i.cfg.Now()})
	if err != nil {
		var inv *metadata.InvalidError
		if errors.As(err, &inv) {
			page.Problems = inv.Problems
		} else {
			page.Problems = []string{err.Error()}
		}
		i.cfg.Logger.Warn("devidp: SP metadata refused", "problems", len(page.Problems))
		page.Error = "admin_err_refused"
		if r.PostFormValue(fieldMetadata) != "" {
			page.Pasted = string(data)
		}
		i.renderAdmin(w, r, http.StatusUnprocessableEntity, page)
		return
	}
	i.register(spFromInfo(info), "admin upload")
	http.Redirect(w, r, i.prefix+"/admin/?registered="+url.QueryEscape(info.EntityID), http.StatusSeeOther)
}

// readUpload returns the metadata of the form: the file when one was chosen, else the pasted text.
func readUpload(r *http.Request) ([]byte, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// All in memory: the body is bounded by maxAdminBody already.
		if err := r.ParseMultipartForm(maxAdminBody); err != nil {
			return nil, err
		}
		if f, _, err := r.FormFile(fieldFile); err == nil {
			defer f.Close()
			data, err := io.ReadAll(f)
			if err != nil || len(data) > 0 {
				return data, err
			}
		}
	} else if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSpace(r.PostFormValue(fieldMetadata))), nil
}

// spFromInfo is the registration of metadata that CheckSP accepted.
func spFromInfo(info *metadata.SPInfo) *serviceProvider {
	sp := &serviceProvider{
		entityID:     info.EntityID,
		signingCerts: info.SigningCerts,
		encryptCert:  info.EncryptionCerts[0],
		acs:          []saml.Endpoint{{Binding: saml.BindingHTTPArtifact, Location: info.ArtifactACS, Index: 1, IsDefault: true}},
		slo:          []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: info.SLOLocation, ResponseLocation: info.SLOResponseLocation}},
	}
	if info.PostACS != "" {
		// Its index is left out: the IdP picks an ACS by URL and binding, never by index.
		sp.acs = append(sp.acs, saml.Endpoint{Binding: saml.BindingHTTPPost, Location: info.PostACS})
	}
	return sp
}

func (i *IdP) newAdminPage(r *http.Request) *adminPage {
	l := requestLocale(r)
	page := &adminPage{Lang: l, T: catalogue[l], Action: i.prefix + "/admin/sps"}
	now := i.cfg.Now()
	i.mu.Lock()
	for _, sp := range i.sps {
		a := adminSP{EntityID: sp.entityID, ACS: adminEndpoints(sp.acs), SLO: adminEndpoints(sp.slo)}
		cert := func(use string, c *x509.Certificate) {
			a.Certs = append(a.Certs, adminCert{Use: use, Subject: c.Subject.String(),
				NotAfter: c.NotAfter.UTC().Format(time.DateOnly), Expired: now.After(c.NotAfter)})
		}
		for _, c := range sp.signingCerts {
			cert("admin_signing", c)
		}
		cert("admin_encryption", sp.encryptCert)
		page.SPs = append(page.SPs, a)
	}
	i.mu.Unlock()
	slices.SortFunc(page.SPs, func(a, b adminSP) int { return strings.Compare(a.EntityID, b.EntityID) })
	return page
}

func (i *IdP) renderAdmin(w http.ResponseWriter, r *http.Request, status int, page *adminPage) {
	token, err := i.csrfToken()
	if err != nil {
		i.internalError(w, r, fmt.Errorf("admin form token: %w", err))
		return
	}
	page.Token = token
	i.render(w, "admin", status, page)
}
