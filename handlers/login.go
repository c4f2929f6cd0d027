package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// bindingCookie ties a pending login to the browser that started it, so that an artifact or
// response captured from one browser cannot log in another (login CSRF). One cookie per pending
// login, scoped to the ACS.
func bindingCookie(relayState string) string { return "eidsp_login_" + relayState[:16] }

// login starts a login: GET /login?profile=NAME&return_to=PATH[&force=1][&locale=nb].
func (s *Server) login(c *echo.Context) error {
	s.rememberLocale(c)
	prof, ok := s.profile(c.QueryParam("profile"))
	if !ok {
		return &pageError{Status: http.StatusNotFound, Key: "unknown_profile", Reason: "unknown_profile",
			Err: errors.New("unknown login profile")}
	}
	setSubject(c, subject{idp: prof.IdP, profile: prof.Name})
	returnTo, ok := safeReturnTo(c.QueryParam("return_to"))
	if !ok {
		return badRequest("return_to", errors.New("return_to is not a same-origin path"))
	}
	force := c.QueryParam("force") == "1" || prof.ForceAuthn
	// An existing session that satisfies the profile needs no new login; a lower level or another
	// instrument asks for a new one (level upgrade: Digdir verification test 5).
	sess, _ := s.currentSession(c)
	if sess != nil && !force && prof.satisfiedBy(sess.Identity) {
		return c.Redirect(http.StatusSeeOther, returnTo)
	}
	if op, ok := s.OIDC[prof.IdP]; ok {
		// acr_values is only a request (OpenID Connect Core §3.1.2.1): a provider may answer a
		// level-4 request from its level-3 session, which the level check then refuses. A step
		// up from a lower session therefore asks for a new login as well.
		stepUp := sess != nil && sess.Identity.Level < prof.MinLevel
		return s.loginOIDC(c, prof, op, returnTo, force || stepUp)
	}
	idp, err := s.idp(prof.IdP)
	if err != nil {
		return err
	}
	if idp == nil {
		return &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "config",
			Err: fmt.Errorf("profile %s names unknown IdP %s", prof.Name, prof.IdP)}
	}
	now := s.Now()
	reqID, err := saml.NewID(s.Rand)
	if err != nil {
		return err
	}
	xml, err := saml.AuthnRequest{
		ID: reqID, IssueInstant: now, Issuer: s.Opt.EntityID, Destination: idp.SSOURL,
		ACSURL: s.acsURL(), ProtocolBinding: idp.Binding, ForceAuthn: force, MinLevel: prof.MinLevel,
		OnBehalfOf: prof.OnBehalfOf, Instruments: prof.Instruments, InstrumentNamespace: idp.InstrumentNamespace,
	}.Build()
	if err != nil {
		return &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "config", Err: err}
	}
	pending, browser, err := s.newPendingLogin(c, prof, returnTo, force, now)
	if err != nil {
		return err
	}
	pending.RequestID, pending.IdP = reqID, idp.Name
	target, err := s.signer(idp, now).RedirectURL(idp.SSOURL, saml.ParamSAMLRequest, xml, pending.Key, [][2]string{{"locale", pending.Locale}})
	if err != nil {
		return &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "config", Err: err}
	}
	sameSite := http.SameSiteLaxMode
	if idp.Binding == saml.BindingHTTPPost && s.secure() {
		// The IdP's form POST is a cross-site request: a Lax cookie would not come back.
		sameSite = http.SameSiteNoneMode
	}
	if err := s.putPending(c, pending, browser, "/saml/acs", sameSite); err != nil {
		return err
	}
	s.Log.Info("login started", "ref", c.Get(refKey), "profile", prof.Name, "idp", idp.Name,
		"request_id", reqID, "force_authn", force, "client_ip", c.RealIP())
	return c.Redirect(http.StatusFound, target)
}

// newPendingLogin is a login for prof under a fresh random key (the SAML RelayState, the OIDC
// state), and the random browser-binding value whose hash it holds. Both protocols start here.
func (s *Server) newPendingLogin(c *echo.Context, prof *Profile, returnTo string, force bool, now time.Time) (*session.PendingLogin, string, error) {
	relay, err := session.NewID()
	if err != nil {
		return nil, "", err
	}
	browser, err := session.NewID()
	if err != nil {
		return nil, "", err
	}
	return &session.PendingLogin{Key: relay, IdP: prof.IdP, Profile: prof.Name, ReturnTo: returnTo,
		BrowserBinding: session.HashKey(browser), Locale: s.locale(c), MinLevel: prof.MinLevel, ForceAuthn: force,
		CreatedAt: now, ExpiresAt: now.Add(s.Opt.PendingTTL)}, browser, nil
}

// putPending stores pl and sets its browser-binding cookie, scoped to path (where the answer
// comes back; takePending clears it there).
func (s *Server) putPending(c *echo.Context, pl *session.PendingLogin, browser, path string, sameSite http.SameSite) error {
	if err := s.Store.PutPending(c.Request().Context(), pl); err != nil {
		return fmt.Errorf("store pending login: %w", err)
	}
	c.SetCookie(&http.Cookie{Name: bindingCookie(pl.Key), Value: browser, Path: path,
		MaxAge: int(s.Opt.PendingTTL / time.Second), HttpOnly: true, Secure: s.secure(), SameSite: sameSite})
	return nil
}

// takePending consumes the pending login named by RelayState and checks that this browser
// started it. The pending login is gone afterwards whatever the outcome.
func (s *Server) takePending(c *echo.Context, relay, cookiePath string) (*session.PendingLogin, error) {
	pl, _, err := s.takePendingAndClaim(c, relay, cookiePath, "")
	return pl, err
}

// takePendingAndClaim is takePending that, when claim is not empty, also claims it in the same
// write (session.Store.TakePendingAndClaim) for as long as a pending login lives; replayed: it
// was claimed before.
func (s *Server) takePendingAndClaim(c *echo.Context, relay, cookiePath, claim string) (pl *session.PendingLogin, replayed bool, err error) {
	if relay == "" || len(relay) > saml.MaxRelayState || len(relay) < 16 {
		return nil, false, badRequest("relay_state", errors.New("missing or malformed RelayState"))
	}
	ctx := c.Request().Context()
	if claim == "" {
		pl, err = s.Store.TakePending(ctx, relay)
	} else if pl, err = s.Store.TakePendingAndClaim(ctx, relay, claim, s.Now().Add(s.Opt.PendingTTL)); errors.Is(err, session.ErrReplay) {
		replayed, err = true, nil
	}
	if err == nil && pl.Purpose != "" {
		err = session.ErrNotFound // a pending logout is no login
	}
	if errors.Is(err, session.ErrNotFound) {
		return nil, false, &pageError{Status: http.StatusBadRequest, Key: "expired", Reason: "pending_login",
			Err: errors.New("no pending login for RelayState (expired, used or unknown)")}
	}
	if err != nil {
		return nil, false, fmt.Errorf("take pending login: %w", err)
	}
	setSubject(c, subject{idp: pl.IdP, profile: pl.Profile})
	name := bindingCookie(relay)
	ck, err := c.Cookie(name)
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: s.secure()})
	if err != nil || session.HashKey(ck.Value) != pl.BrowserBinding {
		return nil, false, &pageError{Status: http.StatusBadRequest, Key: "browser", Reason: "browser_binding",
			Err: errors.New("login was started in another browser or cookies are blocked"), Retry: retryURL(pl)}
	}
	return pl, replayed, nil
}

func retryURL(pl *session.PendingLogin) string {
	q := url.Values{"profile": {pl.Profile}, "return_to": {pl.ReturnTo}}
	return "/login?" + q.Encode()
}

// finishLogin turns a verified answer into a session: level check, then replay check and a new
// session in one step (createSession), then back to where the user was going.
func (s *Server) finishLogin(c *echo.Context, pl *session.PendingLogin, idp *IdP, res *saml.Result, verr error) error {
	if verr != nil {
		pe := loginFailure(verr)
		pe.Retry = retryURL(pl)
		return pe
	}
	return s.createSession(c, pl, res.Identity, res.SessionNotOnOrAfter,
		&replayClaim{key: "assertion:" + idp.Policy.Descriptor.EntityID + ":" + res.AssertionID, until: res.ReplayUntil})
}

// replayClaim is the replay-cache entry a session is made with: the assertion's ID, claimed in
// the same step as the session (session.Store.ClaimAndCreateSession).
type replayClaim struct {
	key   string
	until time.Time
}

// createSession checks the identity against the profile and makes the session: a new session ID
// (never the one the browser had), capped at the IdP's session end when it gives one, together
// with claim when there is one (a replayed assertion makes no session), then back to where the
// user was going. Both protocols end here.
func (s *Server) createSession(c *echo.Context, pl *session.PendingLogin, id identity.Identity, notOnOrAfter time.Time, claim *replayClaim) error {
	ctx := c.Request().Context()
	now := s.Now()
	if id.Level < pl.MinLevel {
		return &pageError{Status: http.StatusForbidden, Key: "level_too_low", Reason: string(saml.ReasonLevel),
			Err: fmt.Errorf("level %d below required %d", id.Level, pl.MinLevel), Retry: retryURL(pl)}
	}
	if prof, ok := s.profile(pl.Profile); ok && len(prof.Instruments) > 0 && !slices.Contains(prof.Instruments, id.Instrument) {
		return &pageError{Status: http.StatusForbidden, Key: "instrument", Reason: "instrument",
			Err: fmt.Errorf("instrument %q is not one the profile allows", id.Instrument), Retry: retryURL(pl)}
	}
	sid, err := session.NewID()
	if err != nil {
		return err
	}
	expires := now.Add(s.Opt.MaxLifetime)
	if !notOnOrAfter.IsZero() && notOnOrAfter.Before(expires) {
		expires = notOnOrAfter
	}
	sess := &session.Session{ID: sid, Identity: id, Profile: pl.Profile, CreatedAt: now, LastSeen: now, ExpiresAt: expires}
	if claim == nil {
		err = s.Store.CreateSession(ctx, sess)
	} else {
		err = s.Store.ClaimAndCreateSession(ctx, claim.key, claim.until, sess)
	}
	if errors.Is(err, session.ErrReplay) {
		return &pageError{Status: http.StatusBadRequest, Key: "expired", Reason: string(saml.ReasonReplay),
			Err: errors.New("assertion ID seen before"), Retry: retryURL(pl)}
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	// The session the browser had (if any) ends now that it has a new one.
	if old, err := c.Cookie(s.Opt.CookieName); err == nil {
		_ = s.Store.DeleteSession(ctx, old.Value)
	}
	c.SetCookie(&http.Cookie{Name: s.Opt.CookieName, Value: sid, Path: "/", HttpOnly: true,
		Secure: s.secure(), SameSite: http.SameSiteLaxMode})
	s.audit(c, slog.LevelInfo, "login", record{action: "login", result: "success", instrument: id.Instrument,
		subject: subject{idp: pl.IdP, profile: pl.Profile, sessionIndex: id.SessionIndex, nidHash: s.nidHash(id.NationalID),
			nidMasked: identity.Mask(id.NationalID), level: id.Level}},
		"level", id.Level, "instrument", id.Instrument, "auth_method", id.AuthMethod)
	return c.Redirect(http.StatusSeeOther, pl.ReturnTo)
}
