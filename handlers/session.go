package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// touchEvery limits LastSeen writes: idle time is measured to this granularity.
const touchEvery = 30 * time.Second

// currentSession returns the browser's live session, or nil. An idle session is deleted.
func (s *Server) currentSession(c *echo.Context) (*session.Session, error) {
	ck, err := c.Cookie(s.Opt.CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return nil, nil
	}
	ctx := c.Request().Context()
	sess, err := s.Store.GetSession(ctx, ck.Value)
	if errors.Is(err, session.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if !now.Before(sess.LastSeen.Add(s.Opt.IdleTimeout)) || !now.Before(sess.ExpiresAt) {
		_ = s.Store.DeleteSession(ctx, ck.Value)
		return nil, nil
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := s.Store.TouchSession(ctx, ck.Value, now); err != nil {
			return nil, err
		}
		sess.LastSeen = now
	}
	return sess, nil
}

// Expiring is something with an end date that /readyz reports: our certificates, the IdPs'
// signing certificates and their metadata.
type Expiring struct {
	What     string    // e.g. "sp certificate", "idp idporten signing certificate CN=…", "idp idporten metadata"
	NotAfter time.Time // zero for metadata that has no validUntil
	Unusable bool      // set for IdP metadata that may not be used (expired, nothing newer)
}

// expiryWarning is how early /readyz starts warning.
const expiryWarning = 30 * 24 * time.Hour

// ready: GET /readyz — 200 while the store answers, 503 while it does not (a load balancer
// takes the instance out; it comes back without a restart). The JSON body also lists what
// expires within 30 days or has expired, as warnings: an expiring certificate does not take the
// instance out (every instance shares it), but monitoring should alert on the warnings (the
// same dates are metrics: eidsp_certificate_expiry_seconds, eidsp_idp_metadata_*).
func (s *Server) ready(c *echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	type item struct {
		What     string     `json:"what"`
		NotAfter *time.Time `json:"not_after,omitempty"`
		DaysLeft *int       `json:"days_left,omitempty"`
	}
	body := struct {
		Status   string   `json:"status"`
		Store    string   `json:"store"`
		Warnings []string `json:"warnings"`
		Expiring []item   `json:"expiring"`
	}{Status: "ok", Store: "ok", Warnings: []string{}, Expiring: []item{}}
	status := http.StatusOK
	if err := s.Store.Ping(ctx); err != nil {
		s.Log.Warn("not ready", "ref", c.Get(refKey), "err", err)
		status, body.Status, body.Store = http.StatusServiceUnavailable, "unavailable", "down"
	}
	if s.Expiring != nil {
		now := s.Now()
		for _, e := range s.Expiring() {
			it := item{What: e.What}
			if !e.NotAfter.IsZero() {
				na, days := e.NotAfter.UTC(), int(e.NotAfter.Sub(now).Hours()/24)
				it.NotAfter, it.DaysLeft = &na, &days
			}
			body.Expiring = append(body.Expiring, it)
			switch {
			case e.Unusable:
				body.Warnings = append(body.Warnings, e.What+" has expired and could not be renewed: logins through this IdP fail")
			case e.NotAfter.IsZero():
			case !now.Before(e.NotAfter):
				body.Warnings = append(body.Warnings, e.What+" has expired")
			case e.NotAfter.Sub(now) < expiryWarning:
				body.Warnings = append(body.Warnings, fmt.Sprintf("%s expires in %d days (%s)", e.What, *it.DaysLeft, e.NotAfter.UTC().Format(time.DateOnly)))
			}
		}
	}
	if s.Warnings != nil {
		body.Warnings = append(body.Warnings, s.Warnings()...)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, body)
}

// expiresAt is when the session ends if the user does nothing more.
func (s *Server) expiresAt(sess *session.Session) time.Time {
	idle := sess.LastSeen.Add(s.Opt.IdleTimeout)
	if idle.Before(sess.ExpiresAt) {
		return idle
	}
	return sess.ExpiresAt
}

// sessionView is the JSON of GET /session.
type sessionView struct {
	identity.Identity
	Profile   string    `json:"profile"`
	ExpiresAt time.Time `json:"expires_at"`
}

// sessionJSON: GET /session — who is logged in, or 401.
func (s *Server) sessionJSON(c *echo.Context) error {
	sess, err := s.currentSession(c)
	if err != nil {
		return err
	}
	if sess == nil {
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "no_session"})
	}
	return c.JSON(http.StatusOK, sessionView{Identity: sess.Identity, Profile: sess.Profile, ExpiresAt: s.expiresAt(sess)})
}

// profileView is one button of the login chooser: the profiles as configured, in their order.
// A portal offering the shared Buypass login configures the "buypass" profile; one offering the
// split login configures "buypass-smartcard" and "buypass-mobile" instead.
type profileView struct {
	Name  string
	Label string // message key (a "<key>.hint" message, when there is one, explains the choice) or text
	Level int
	URL   string
}

type identityView struct {
	MaskedID, Instrument, AuthMethod, IdP string
	Kind                                  identity.Kind
	Level                                 int
	Expires                               string
}

// index: the login chooser, with who you are when you are logged in.
func (s *Server) index(c *echo.Context) error {
	s.rememberLocale(c)
	sess, err := s.currentSession(c)
	if err != nil {
		return err
	}
	data := struct {
		Identity *identityView
		Profiles []profileView
		CSRF     string
	}{}
	if sess != nil {
		id := sess.Identity
		data.Identity = &identityView{
			MaskedID: identity.Mask(id.NationalID), Kind: id.Kind, Instrument: id.Instrument,
			AuthMethod: id.AuthMethod, IdP: id.IdP, Level: id.Level,
			Expires: s.expiresAt(sess).Local().Format("2006-01-02 15:04"),
		}
		data.CSRF = s.csrfToken(sess.ID)
	}
	for _, p := range s.Profiles {
		data.Profiles = append(data.Profiles, profileView{Name: p.Name, Label: p.Label, Level: p.MinLevel,
			URL: "/login?" + url.Values{"profile": {p.Name}}.Encode()})
	}
	s.render(c, http.StatusOK, "index", data)
	return nil
}
