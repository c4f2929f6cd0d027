package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// maxInflated caps an inflated Redirect-binding message (deflate bombs).
const maxInflated = 256 << 10

func (s *Server) sloURL() string { return s.Opt.BaseURL + "/saml/slo" }

// csrfToken is the synchronizer token of the logout form: a keyed hash of the session ID, so it
// needs no storage and dies with the session.
func (s *Server) csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, s.Opt.HashKey)
	m.Write([]byte("csrf:" + sessionID))
	return hex.EncodeToString(m.Sum(nil))
}

// logout ends the local session and, when the user had one, starts single logout at the IdP
// with a signed LogoutRequest. GET /logout (the protocol flow is the protection against a
// cross-site logout) and POST /logout with the form's CSRF token.
func (s *Server) logout(c *echo.Context) error {
	ctx := c.Request().Context()
	ck, _ := c.Cookie(s.Opt.CookieName)
	if c.Request().Method == http.MethodPost {
		if ck == nil || !hmac.Equal([]byte(c.FormValue("csrf")), []byte(s.csrfToken(ck.Value))) {
			return &pageError{Status: http.StatusForbidden, Key: "bad_request", Reason: "csrf",
				Err: errors.New("logout form without a valid CSRF token")}
		}
	}
	sess, err := s.currentSession(c)
	if err != nil {
		return err
	}
	s.clearSessionCookie(c)
	if sess == nil {
		return s.loggedOut(c, false)
	}
	if err := s.Store.DeleteSession(ctx, sess.ID); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	id := sess.Identity
	who := subject{idp: id.IdP, profile: sess.Profile, sessionIndex: id.SessionIndex, nidHash: s.nidHash(id.NationalID),
		nidMasked: identity.Mask(id.NationalID), level: id.Level}
	setSubject(c, who)
	if op, ok := s.OIDC[id.IdP]; ok {
		return s.logoutOIDC(c, sess, op, who)
	}
	if strings.HasPrefix(id.NameID, oidcSessionIndexTag) {
		// An OIDC session whose provider is no longer configured (perhaps a SAML IdP now has
		// its name): its ID token must never travel in a LogoutRequest. Local logout only.
		s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp", result: "local_only", subject: who})
		return s.loggedOut(c, false)
	}
	// Expired metadata of the session's IdP: end the session here only.
	idp, _ := s.idp(id.IdP)
	ok := idp != nil
	var slo saml.Endpoint
	if ok {
		slo, ok = saml.EndpointFor(idp.Policy.Descriptor.SingleLogout, saml.BindingHTTPRedirect)
	}
	if !ok {
		s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp", result: "local_only", subject: who})
		return s.loggedOut(c, false)
	}
	now := s.Now()
	reqID, err := saml.NewID(s.Rand)
	if err != nil {
		return err
	}
	xml, err := saml.LogoutRequest{ID: reqID, IssueInstant: now, Issuer: s.Opt.EntityID, Destination: slo.Location,
		NameID: id.NameID, NameIDFormat: id.NameIDFormat, SessionIndexes: []string{id.SessionIndex},
		NotOnOrAfter: now.Add(s.Opt.PendingTTL)}.Build()
	if err != nil {
		return fmt.Errorf("build LogoutRequest: %w", err)
	}
	relay, err := session.NewID()
	if err != nil {
		return err
	}
	target, err := s.signer(idp, now).RedirectURL(slo.Location, saml.ParamSAMLRequest, xml, relay, nil)
	if err != nil {
		return fmt.Errorf("sign LogoutRequest: %w", err)
	}
	if err := s.Store.PutPending(ctx, &session.PendingLogin{Key: relay, RequestID: reqID, IdP: idp.Name,
		Purpose: session.PurposeLogout, Locale: s.locale(c), CreatedAt: now, ExpiresAt: now.Add(s.Opt.PendingTTL)}); err != nil {
		return fmt.Errorf("store pending logout: %w", err)
	}
	s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp", result: "sent", subject: who},
		"request_id", reqID)
	if c.Request().Method == http.MethodPost {
		// A form POST may not be redirected off-site under our CSP (form-action 'self'):
		// move on to the IdP from a page instead.
		s.render(c, http.StatusOK, "continue", map[string]string{"Target": target})
		return nil
	}
	return c.Redirect(http.StatusFound, target)
}

func (s *Server) clearSessionCookie(c *echo.Context) {
	c.SetCookie(&http.Cookie{Name: s.Opt.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(), SameSite: http.SameSiteLaxMode})
}

// loggedOut ends a logout: the configured URL, or our page.
func (s *Server) loggedOut(c *echo.Context, partial bool) error {
	if s.Opt.LoggedOutURL != "" && !partial {
		return c.Redirect(http.StatusSeeOther, s.Opt.LoggedOutURL)
	}
	s.render(c, http.StatusOK, "logged_out", map[string]bool{"Partial": partial})
	return nil
}

// idpsByEntity returns the configured IdPs with this entityID, ordered by name (two IdP entries
// may share one IdP, e.g. an ID-porten and an IPS preset for one broker).
func (s *Server) idpsByEntity(entityID string) []*IdP {
	var out []*IdP
	for name := range s.IdPs {
		if idp, _ := s.idp(name); idp != nil && idp.Policy.Descriptor.EntityID == entityID {
			out = append(out, idp)
		}
	}
	slices.SortFunc(out, func(a, b *IdP) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func logoutFailure(err error) *pageError {
	pe := loginFailure(err)
	if pe.Key == "expired" || pe.Key == "internal" {
		return pe
	}
	pe.Key = "logout"
	return pe
}

// slo is the SingleLogoutService, HTTP-Redirect binding: a LogoutRequest from the IdP
// (IdP-initiated logout, or the IdP walking the services of a session) or the LogoutResponse to
// a logout we started. Nothing is ended before the query signature verifies against the IdP's
// metadata keys.
func (s *Server) slo(c *echo.Context) error {
	m, err := saml.ParseRedirect(c.Request().URL.RawQuery, maxInflated)
	if err != nil {
		return logoutFailure(err)
	}
	issuer, err := saml.PeekIssuer(m.XML, s.Verifier.Limits)
	if err != nil {
		return logoutFailure(err)
	}
	idps := s.idpsByEntity(issuer)
	if len(idps) == 0 {
		return logoutFailure(&saml.Error{Reason: saml.ReasonIssuer, Err: fmt.Errorf("logout message from unknown issuer")})
	}
	// A message that may end the sessions of every entry must satisfy every entry's keys and
	// algorithm allow-list.
	for _, idp := range idps {
		if err := m.Verify(idp.Policy.Descriptor.SigningCerts, idp.Policy.Algorithms); err != nil {
			return logoutFailure(err)
		}
	}
	setSubject(c, subject{idp: idps[0].Name})
	chk := saml.LogoutCheck{Issuer: issuer, Destination: s.sloURL(), Now: s.Now(), Skew: s.Verifier.Skew,
		MaxAge: s.Verifier.MaxAge, Limits: s.Verifier.Limits}
	if m.Param == saml.ParamSAMLRequest {
		return s.sloRequest(c, m, idps, chk)
	}
	return s.sloResponse(c, m, chk)
}

// sloRequest ends every session the IdP names and answers with a signed LogoutResponse to the
// IdP's ResponseLocation — also when no session is left here, so that the IdP's chain through
// the other services goes on.
func (s *Server) sloRequest(c *echo.Context, m *saml.RedirectMessage, idps []*IdP, chk saml.LogoutCheck) error {
	ctx := c.Request().Context()
	req, err := saml.ParseLogoutRequest(m.XML, chk)
	if err != nil {
		return logoutFailure(err)
	}
	if err := s.Store.Claim(ctx, "logout:"+chk.Issuer+":"+req.ID, chk.Now.Add(s.Verifier.MaxAge+2*s.Verifier.Skew)); errors.Is(err, session.ErrReplay) {
		return logoutFailure(&saml.Error{Reason: saml.ReasonReplay, Err: errors.New("LogoutRequest ID seen before")})
	} else if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	if sess, _ := s.currentSession(c); sess != nil {
		if idp, _ := s.idp(sess.Identity.IdP); idp != nil && idp.Policy.Descriptor.EntityID == chk.Issuer &&
			req.MatchesSession(sess.Identity.NameID, sess.Identity.SessionIndex) {
			s.clearSessionCookie(c)
		}
	}
	indexes := req.SessionIndexes
	if len(indexes) == 0 {
		indexes = []string{""}
	}
	ended := 0
	for _, idp := range idps {
		for _, si := range indexes {
			n, err := s.Store.DeleteSessionsBySessionIndex(ctx, idp.Name, req.NameID, si)
			if err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
			ended += n
		}
	}
	idp := idps[0]
	slo, ok := saml.EndpointFor(idp.Policy.Descriptor.SingleLogout, saml.BindingHTTPRedirect)
	if !ok {
		return &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "config",
			Err: fmt.Errorf("IdP %s has no Redirect SingleLogoutService", idp.Name)}
	}
	dest := slo.ResponseLocation
	if dest == "" {
		dest = slo.Location
	}
	respID, err := saml.NewID(s.Rand)
	if err != nil {
		return err
	}
	xml, err := saml.LogoutResponse{ID: respID, IssueInstant: chk.Now, Issuer: s.Opt.EntityID, Destination: dest,
		InResponseTo: req.ID}.Build()
	if err != nil {
		return err
	}
	target, err := s.signer(idp, chk.Now).RedirectURL(dest, saml.ParamSAMLResponse, xml, m.RelayState, nil)
	if err != nil {
		return err
	}
	s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "idp", result: "success",
		subject: subject{idp: idp.Name, sessionIndex: joinIndexes(req.SessionIndexes)}},
		"request_id", req.ID, "sessions_ended", ended)
	return c.Redirect(http.StatusFound, target)
}

// sloResponse completes a logout we started.
func (s *Server) sloResponse(c *echo.Context, m *saml.RedirectMessage, chk saml.LogoutCheck) error {
	resp, err := saml.ParseLogoutResponse(m.XML, chk)
	if err != nil {
		return logoutFailure(err)
	}
	if m.RelayState == "" {
		return logoutFailure(&saml.Error{Reason: saml.ReasonInResponseTo, Err: errors.New("LogoutResponse without RelayState")})
	}
	pl, err := s.Store.TakePending(c.Request().Context(), m.RelayState)
	if errors.Is(err, session.ErrNotFound) {
		return &pageError{Status: http.StatusBadRequest, Key: "logout", Reason: "pending_logout",
			Err: errors.New("LogoutResponse we did not ask for (or expired)")}
	}
	if err != nil {
		return fmt.Errorf("take pending logout: %w", err)
	}
	idp, _ := s.idp(pl.IdP)
	if pl.Purpose != session.PurposeLogout || idp == nil || idp.Policy.Descriptor.EntityID != chk.Issuer || resp.InResponseTo != pl.RequestID {
		return logoutFailure(&saml.Error{Reason: saml.ReasonInResponseTo, Err: errors.New("LogoutResponse does not answer our LogoutRequest")})
	}
	partial := !resp.Success() || (len(resp.Status) > 1 && resp.Status[1] == saml.StatusPrefix+"PartialLogout")
	s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp",
		result: map[bool]string{true: "partial", false: "success"}[partial], subject: subject{idp: pl.IdP}},
		"request_id", pl.RequestID, "status", resp.Status)
	return s.loggedOut(c, partial)
}
