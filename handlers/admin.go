package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/metadata"
	"github.com/eidsp/eidsp/metadata/registry"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// Admin configures the admin pages (/admin/) and their JSON API (/admin/api/). People log in
// through eidsp itself, with an eID at level 4 and a national identity number on the list;
// automation uses the bearer token. The pages take session cookies only (with a CSRF token on
// every form), the API takes the token only, so a browser can never be led into an API call.
type Admin struct {
	Registry *registry.Registry
	// Admins are the keyed hashes (Server.nidHash) of the admins' national identity numbers, so
	// the list is not held in clear after start-up.
	Admins map[string]bool
	// Profile is the login admins are sent to; it gives level 4.
	Profile string
	// TokenSHA256 is the SHA-256 of the API bearer token; nil: no token, the API answers 401.
	TokenSHA256 []byte
	// Certificates are ours, for the overview: name ("sp", "sp-next") → certificate.
	Certificates []NamedCertificate
	// Rollover switches signing to the next key at once, for every instance; nil when no next
	// key is configured.
	Rollover func(ctx context.Context, by string) error
}

// NamedCertificate is a certificate with what it is for.
type NamedCertificate struct {
	Name string
	Cert *x509.Certificate
}

// maxAdminUpload bounds an uploaded metadata document (the parser's own limit is lower; this
// only stops the body being read for ever).
const maxAdminUpload = 5 << 20

// adminActor is who is doing an admin action, as the audit trail names them.
type adminActor struct {
	who       string // "admin 150190***** (hash)" or "api token"
	sessionID string // for the CSRF token; empty for the API
}

func (s *Server) adminRoutes(e *echo.Echo) {
	if s.Admin == nil {
		return
	}
	e.GET("/admin", func(c *echo.Context) error { return c.Redirect(http.StatusSeeOther, "/admin/") })
	e.GET("/admin/", s.adminPage(s.adminHome))
	e.GET("/admin/idps/:name/upload", s.adminPage(s.adminUploadForm))
	e.POST("/admin/idps/:name/preview", s.adminPage(s.adminPreview))
	e.POST("/admin/idps/:name/save", s.adminPage(s.adminSave))
	e.POST("/admin/idps/:name/remove-upload", s.adminPage(s.adminRemoveUpload))
	e.POST("/admin/idps/:name/refresh", s.adminPage(s.adminRefresh))
	e.POST("/admin/rollover", s.adminPage(s.adminRollover))
	e.GET("/admin/sp-metadata", s.adminPage(s.adminSPMetadata))

	e.GET("/admin/api/idps", s.adminAPI(s.apiIdPs))
	e.POST("/admin/api/idps/:name/metadata", s.adminAPI(s.apiUpload))
	e.DELETE("/admin/api/idps/:name/metadata", s.adminAPI(s.apiRemoveUpload))
	e.POST("/admin/api/idps/:name/refresh", s.adminAPI(s.apiRefresh))
	e.POST("/admin/api/rollover", s.adminAPI(s.apiRollover))
	e.GET("/admin/api/sp-metadata", s.adminAPI(s.adminSPMetadata))
	e.GET("/admin/api/audit", s.adminAPI(s.apiAudit))
}

// adminPage wraps a page handler: a visitor without a session is sent to the admin login; a
// session below level 4 or of someone not on the list gets 403; every POST needs the CSRF token.
func (s *Server) adminPage(h func(*echo.Context, adminActor) error) echo.HandlerFunc {
	// Only the admin profile's IdP may vouch for an admin: another configured IdP that can
	// state level 4 (a generic one, a test one) must not become a way in. The profiles are fixed
	// when the router is built, so this is looked up once.
	adminIdP := ""
	if p, ok := s.profile(s.Admin.Profile); ok {
		adminIdP = p.IdP
	}
	return func(c *echo.Context) error {
		s.rememberLocale(c)
		c.Response().Header().Set("Cache-Control", "no-store")
		sess, err := s.currentSession(c)
		if err != nil {
			return err
		}
		if sess == nil {
			if c.Request().Method != http.MethodGet {
				return &pageError{Status: http.StatusForbidden, Key: "admin_forbidden", Reason: "admin",
					Err: errors.New("admin form without a session")}
			}
			q := url.Values{"profile": {s.Admin.Profile}, "return_to": {"/admin/"}}
			return c.Redirect(http.StatusSeeOther, "/login?"+q.Encode())
		}
		id := sess.Identity
		hash := s.nidHash(id.NationalID)
		if id.Level < 4 || !s.Admin.Admins[hash] || id.IdP != adminIdP || id.NationalID == "" {
			s.Log.Warn("admin access refused", "ref", c.Get(refKey), "nid_hash", hash, "level", id.Level)
			return &pageError{Status: http.StatusForbidden, Key: "admin_forbidden", Reason: "admin",
				Err: errors.New("not an admin, or not at level 4"), Retry: "/login?" + url.Values{"profile": {s.Admin.Profile},
					"return_to": {"/admin/"}, "force": {"1"}}.Encode()}
		}
		if req := c.Request(); req.Method == http.MethodPost {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, maxAdminUpload)
			var perr error
			if strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/form-data") {
				perr = req.ParseMultipartForm(maxAdminUpload)
			} else {
				perr = req.ParseForm()
			}
			var me *http.MaxBytesError
			if errors.As(perr, &me) {
				return &pageError{Status: http.StatusRequestEntityTooLarge, Key: "bad_request", Reason: string(saml.ReasonTooLarge),
					Retry: "/admin/", Err: perr}
			}
			if subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(s.csrfToken(sess.ID))) != 1 {
				return &pageError{Status: http.StatusForbidden, Key: "bad_request", Reason: "csrf",
					Err: errors.New("admin form without a valid CSRF token")}
			}
		}
		return h(c, adminActor{who: "admin " + identity.Mask(id.NationalID) + " (" + hash + ")", sessionID: sess.ID})
	}
}

// adminAPI wraps an API handler: the bearer token is required and compared in constant time.
func (s *Server) adminAPI(h func(*echo.Context, adminActor) error) echo.HandlerFunc {
	return func(c *echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		auth := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || s.Admin.TokenSHA256 == nil || subtle.ConstantTimeCompare(sum[:], s.Admin.TokenSHA256) != 1 {
			s.Log.Warn("admin api refused", "ref", c.Get(refKey), "client_ip", c.RealIP(), "had_token", ok)
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="eidsp admin"`)
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
		}
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxAdminUpload)
		return h(c, adminActor{who: "api token"})
	}
}

// adminAudit records an admin action in the log and the audit trail: who, what, when.
func (s *Server) adminAudit(c *echo.Context, a adminActor, action, idp, result, detail string) {
	s.Log.Info("admin action", "audit", true, "action", action, "idp", idp, "result", result, "by", a.who,
		"detail", detail, "ref", c.Get(refKey), "client_ip", c.RealIP())
	s.trail(&session.AuditEvent{Time: s.Now(), Event: "admin", Result: result, Action: action, IdP: idp,
		Person: a.who, Detail: detail, Ref: refOf(c)})
}

// readMetadataUpload takes the document from a multipart file field "file" or a form field
// "metadata" (pasted), or, for the API, the raw body.
func readMetadataUpload(c *echo.Context, raw bool) ([]byte, error) {
	req := c.Request() // the body is already limited to maxAdminUpload (adminPage, adminAPI)
	if raw {
		return io.ReadAll(req.Body)
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/form-data") {
		if err := req.ParseMultipartForm(maxAdminUpload); err != nil {
			return nil, err
		}
		if f, _, err := req.FormFile("file"); err == nil {
			defer f.Close()
			data, err := io.ReadAll(f)
			if err != nil || len(data) > 0 {
				return data, err
			}
		}
	}
	if b64 := c.FormValue("metadata_b64"); b64 != "" {
		return base64.StdEncoding.DecodeString(b64)
	}
	return []byte(c.FormValue("metadata")), nil
}

// problemsOf turns a metadata error into plain-word problems for a person.
func problemsOf(err error) []string {
	var inv *metadata.InvalidError
	if errors.As(err, &inv) {
		return inv.Problems
	}
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return []string{fmt.Sprintf("the document is larger than %d bytes", me.Limit)}
	}
	switch saml.ReasonOf(err) {
	case saml.ReasonDoctype:
		return []string{"the document contains a DOCTYPE or entity declaration, which is never accepted"}
	case saml.ReasonTooLarge:
		return []string{"the document is too large or too deeply nested: " + err.Error()}
	case saml.ReasonSignature:
		return []string{"the document's signature is missing or not valid for the configured metadata signing certificates: " + err.Error()}
	case saml.ReasonAlgorithm:
		return []string{"the document's signature uses an algorithm that is not accepted: " + err.Error()}
	case saml.ReasonMalformed:
		return []string{"the document is not well-formed SAML metadata XML: " + err.Error()}
	}
	if errors.Is(err, registry.ErrUnknownIdP) {
		return []string{"no IdP with that name is configured"}
	}
	return []string{err.Error()}
}

// --- JSON API ---

type certJSON struct {
	Subject     string    `json:"subject"`
	NotAfter    time.Time `json:"not_after"`
	SHA256      string    `json:"sha256"`
	ExpiresSoon bool      `json:"expires_within_30_days"`
}

type idpJSON struct {
	Name         string     `json:"name"`
	EntityID     string     `json:"entity_id,omitempty"`
	Source       string     `json:"source"`
	Origin       string     `json:"origin,omitempty"`
	Uploaded     bool       `json:"uploaded"`
	Usable       bool       `json:"usable"`
	Expired      bool       `json:"expired"`
	ValidUntil   *time.Time `json:"valid_until,omitempty"`
	SHA256       string     `json:"sha256,omitempty"`
	LoadedAt     *time.Time `json:"loaded_at,omitempty"`
	UpdatedBy    string     `json:"updated_by,omitempty"`
	LastAttempt  *time.Time `json:"last_attempt,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	NextRefresh  *time.Time `json:"next_refresh,omitempty"`
	SigningCerts []certJSON `json:"signing_certificates"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) certView(c *x509.Certificate) certJSON {
	return certJSON{Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC(), SHA256: registry.Fingerprint(c),
		ExpiresSoon: c.NotAfter.Before(s.Now().Add(30 * 24 * time.Hour))}
}

func (s *Server) idpViews() []idpJSON {
	var out []idpJSON
	for _, st := range s.Admin.Registry.Status() {
		v := idpJSON{Name: st.Name, Source: st.Source, Uploaded: st.Uploaded, Expired: st.Expired,
			LastAttempt: timePtr(st.LastAttempt), LastError: st.LastError, NextRefresh: timePtr(st.NextRefresh),
			SigningCerts: []certJSON{}}
		if e := st.Current; e != nil {
			v.EntityID, v.Origin, v.SHA256, v.UpdatedBy = e.Desc.EntityID, e.Origin, e.SHA256, e.UpdatedBy
			v.ValidUntil, v.LoadedAt, v.Usable = timePtr(e.Desc.ValidUntil), timePtr(e.LoadedAt), !st.Expired
			for _, c := range e.Desc.SigningCerts {
				v.SigningCerts = append(v.SigningCerts, s.certView(c))
			}
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) apiIdPs(c *echo.Context, _ adminActor) error {
	return c.JSON(http.StatusOK, map[string]any{"idps": s.idpViews()})
}

type changeJSON struct {
	What   string `json:"what"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

func changesJSON(list []registry.Change) []changeJSON {
	out := []changeJSON{}
	for _, ch := range list {
		out = append(out, changeJSON(ch))
	}
	return out
}

// apiUpload: POST /admin/api/idps/:name/metadata with the document as the body. ?dry_run=1
// only checks it and lists the changes; otherwise it is saved for every instance.
func (s *Server) apiUpload(c *echo.Context, a adminActor) error {
	name := c.Param("name")
	data, err := readMetadataUpload(c, true)
	if err != nil {
		status := http.StatusBadRequest
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			status = http.StatusRequestEntityTooLarge
		}
		return c.JSON(status, map[string]any{"error": "upload refused", "problems": problemsOf(err)})
	}
	p, err := s.Admin.Registry.Preview(name, data)
	if err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, registry.ErrUnknownIdP) {
			status = http.StatusNotFound
		}
		s.adminAudit(c, a, "upload idp metadata", name, "refused", strings.Join(problemsOf(err), "; "))
		return c.JSON(status, map[string]any{"error": "the metadata was not accepted", "problems": problemsOf(err)})
	}
	if c.QueryParam("dry_run") == "1" {
		return c.JSON(http.StatusOK, map[string]any{"saved": false, "entity_id": p.Desc.EntityID, "changes": changesJSON(p.Changes)})
	}
	e, err := s.Admin.Registry.Upload(c.Request().Context(), name, data, a.who)
	if err != nil {
		s.adminAudit(c, a, "upload idp metadata", name, "refused", strings.Join(problemsOf(err), "; "))
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": "the metadata was not saved", "problems": problemsOf(err)})
	}
	s.adminAudit(c, a, "upload idp metadata", name, "ok", "sha256 "+e.SHA256)
	return c.JSON(http.StatusOK, map[string]any{"saved": true, "sha256": e.SHA256, "changes": changesJSON(p.Changes)})
}

func (s *Server) apiRemoveUpload(c *echo.Context, a adminActor) error {
	name := c.Param("name")
	if err := s.Admin.Registry.RemoveUpload(c.Request().Context(), name, a.who); err != nil {
		if errors.Is(err, registry.ErrUnknownIdP) {
			return c.JSON(http.StatusNotFound, map[string]string{"error": "no IdP with that name is configured"})
		}
		return err
	}
	s.adminAudit(c, a, "remove uploaded idp metadata", name, "ok", "")
	return c.JSON(http.StatusOK, map[string]bool{"removed": true})
}

func (s *Server) apiRefresh(c *echo.Context, a adminActor) error {
	name := c.Param("name")
	err := s.Admin.Registry.RefreshNow(c.Request().Context(), name)
	if errors.Is(err, registry.ErrUnknownIdP) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no IdP with that name is configured"})
	}
	result, detail := "ok", ""
	if err != nil {
		result, detail = "failed", err.Error()
	}
	s.adminAudit(c, a, "refresh idp metadata", name, result, detail)
	if err != nil {
		return c.JSON(http.StatusBadGateway, map[string]any{"error": "refresh failed; the copy in use is kept", "problems": problemsOf(err)})
	}
	return c.JSON(http.StatusOK, map[string]bool{"refreshed": true})
}

func (s *Server) apiRollover(c *echo.Context, a adminActor) error {
	if s.Admin.Rollover == nil {
		return c.JSON(http.StatusConflict, map[string]string{"error": "no next key pair is configured (sp.next_cert_file)"})
	}
	if err := s.Admin.Rollover(c.Request().Context(), a.who); err != nil {
		return err
	}
	s.adminAudit(c, a, "key rollover", "", "ok", "signing switched to the next key")
	return c.JSON(http.StatusOK, map[string]bool{"rolled_over": true})
}

func (s *Server) apiAudit(c *echo.Context, _ adminActor) error {
	n, _ := strconv.Atoi(c.QueryParam("n"))
	if n <= 0 || n > session.MaxAuditEvents {
		n = 100
	}
	events, err := s.Store.RecentAudit(c.Request().Context(), n)
	if err != nil {
		return err
	}
	if events == nil {
		events = []session.AuditEvent{}
	}
	return c.JSON(http.StatusOK, map[string]any{"events": events})
}

// adminSPMetadata: our metadata as a download, for the admin to upload to the IdP.
func (s *Server) adminSPMetadata(c *echo.Context, _ adminActor) error {
	c.Response().Header().Set("Content-Disposition", `attachment; filename="eidsp-sp-metadata.xml"`)
	return c.Blob(http.StatusOK, "application/samlmetadata+xml", s.SPMetadataAt(s.Now()))
}

// --- pages ---

type adminView struct {
	CSRF     string
	Message  string // a message key: what just happened
	IdPs     []idpJSON
	SP       []namedCertView
	EntityID string
	Rollover bool // a next key is configured and signing has not switched yet
	Rolled   bool
	Profiles []Profile
	Audit    []auditView
	// Upload and preview pages.
	IdP      string
	Problems []string
	Changes  []changeJSON
	Document string // base64 of the previewed document, carried to the save form
	EntityIn string // the previewed document's entity ID
}

type namedCertView struct {
	Name string
	certJSON
}

type auditView struct {
	session.AuditEvent
	When string
}

func (s *Server) adminHome(c *echo.Context, a adminActor) error {
	v := s.adminBase(a)
	v.Message = c.QueryParam("done")
	v.IdPs = s.idpViews()
	for _, nc := range s.Admin.Certificates {
		v.SP = append(v.SP, namedCertView{Name: nc.Name, certJSON: s.certView(nc.Cert)})
	}
	v.EntityID = s.Opt.EntityID
	v.Rolled = s.rolledOver(s.Now())
	v.Rollover = s.Admin.Rollover != nil && !v.Rolled
	v.Profiles = s.Profiles
	events, err := s.Store.RecentAudit(c.Request().Context(), 50)
	if err != nil {
		s.Log.Warn("reading the audit trail", "ref", c.Get(refKey), "err", err)
	}
	for _, e := range events {
		v.Audit = append(v.Audit, auditView{AuditEvent: e, When: e.Time.Local().Format("2006-01-02 15:04:05")})
	}
	s.render(c, http.StatusOK, "admin", v)
	return nil
}

func (s *Server) adminBase(a adminActor) adminView { return adminView{CSRF: s.csrfToken(a.sessionID)} }

func (s *Server) adminIdP(c *echo.Context) (string, error) {
	name := c.Param("name")
	for _, n := range s.Admin.Registry.Names() {
		if n == name {
			return name, nil
		}
	}
	return "", &pageError{Status: http.StatusNotFound, Key: "not_found", Reason: "not_found", Retry: "/admin/",
		Err: fmt.Errorf("no IdP %q", name)}
}

func (s *Server) adminUploadForm(c *echo.Context, a adminActor) error {
	name, err := s.adminIdP(c)
	if err != nil {
		return err
	}
	v := s.adminBase(a)
	v.IdP = name
	s.render(c, http.StatusOK, "admin_upload", v)
	return nil
}

// adminPreview checks the document and shows what would change; nothing is saved.
func (s *Server) adminPreview(c *echo.Context, a adminActor) error {
	name, err := s.adminIdP(c)
	if err != nil {
		return err
	}
	v := s.adminBase(a)
	v.IdP = name
	data, err := readMetadataUpload(c, false)
	if err == nil && len(strings.TrimSpace(string(data))) == 0 {
		err = &metadata.InvalidError{Subject: "upload", Problems: []string{"no document was given: choose a file or paste the XML"}}
	}
	var p *registry.Preview
	if err == nil {
		p, err = s.Admin.Registry.Preview(name, data)
	}
	if err != nil {
		v.Problems = problemsOf(err)
		s.adminAudit(c, a, "preview idp metadata", name, "refused", strings.Join(v.Problems, "; "))
		s.render(c, http.StatusUnprocessableEntity, "admin_upload", v)
		return nil
	}
	v.Changes, v.EntityIn = changesJSON(p.Changes), p.Desc.EntityID
	v.Document = base64.StdEncoding.EncodeToString(data)
	s.render(c, http.StatusOK, "admin_preview", v)
	return nil
}

// adminSave stores the previewed document (checked again: it came back through the browser).
func (s *Server) adminSave(c *echo.Context, a adminActor) error {
	name, err := s.adminIdP(c)
	if err != nil {
		return err
	}
	data, err := readMetadataUpload(c, false)
	var e *registry.Entry
	if err == nil {
		e, err = s.Admin.Registry.Upload(c.Request().Context(), name, data, a.who)
	}
	if err != nil {
		v := s.adminBase(a)
		v.IdP, v.Problems = name, problemsOf(err)
		s.adminAudit(c, a, "upload idp metadata", name, "refused", strings.Join(v.Problems, "; "))
		s.render(c, http.StatusUnprocessableEntity, "admin_upload", v)
		return nil
	}
	s.adminAudit(c, a, "upload idp metadata", name, "ok", "sha256 "+e.SHA256)
	return c.Redirect(http.StatusSeeOther, "/admin/?done=saved")
}

func (s *Server) adminRemoveUpload(c *echo.Context, a adminActor) error {
	name, err := s.adminIdP(c)
	if err != nil {
		return err
	}
	if err := s.Admin.Registry.RemoveUpload(c.Request().Context(), name, a.who); err != nil {
		return err
	}
	s.adminAudit(c, a, "remove uploaded idp metadata", name, "ok", "")
	return c.Redirect(http.StatusSeeOther, "/admin/?done=removed")
}

func (s *Server) adminRefresh(c *echo.Context, a adminActor) error {
	name, err := s.adminIdP(c)
	if err != nil {
		return err
	}
	err = s.Admin.Registry.RefreshNow(c.Request().Context(), name)
	if err != nil {
		s.adminAudit(c, a, "refresh idp metadata", name, "failed", err.Error())
		return c.Redirect(http.StatusSeeOther, "/admin/?done=refresh_failed")
	}
	s.adminAudit(c, a, "refresh idp metadata", name, "ok", "")
	return c.Redirect(http.StatusSeeOther, "/admin/?done=refreshed")
}

func (s *Server) adminRollover(c *echo.Context, a adminActor) error {
	if s.Admin.Rollover == nil {
		return &pageError{Status: http.StatusConflict, Key: "bad_request", Reason: "config", Retry: "/admin/",
			Err: errors.New("no next key pair is configured")}
	}
	if err := s.Admin.Rollover(c.Request().Context(), a.who); err != nil {
		return err
	}
	s.adminAudit(c, a, "key rollover", "", "ok", "signing switched to the next key")
	return c.Redirect(http.StatusSeeOther, "/admin/?done=rolled_over")
}

// trail adds an event to the audit trail the admin pages show; failures are logged, never
// fatal to the request (the log line is the authoritative record).
func (s *Server) trail(e *session.AuditEvent) {
	if s.AuditTrail != nil {
		s.AuditTrail(e)
	}
}
