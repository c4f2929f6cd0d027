package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/eidsp/eidsp/oidc"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// OIDCClient is an OpenID Connect provider as the handlers use it; *oidc.Provider implements it.
type OIDCClient interface {
	AuthURL(ctx context.Context, a oidc.AuthParams) (string, error)
	Exchange(ctx context.Context, cb oidc.Callback, a oidc.AuthParams) (*oidc.Result, error)
	EndSessionURL(idTokenHint, postLogoutRedirect, state string) (string, bool)
	Issuer() string
}

// OIDC paths.
const (
	oidcCallbackPath    = "/oidc/callback"
	oidcFrontChannel    = "/oidc/frontchannel-logout"
	oidcLoggedOutPath   = "/oidc/logged-out"
	oidcSessionIndexTag = "oidc:" // NameID of an OIDC session: "oidc:" + sid (see finishOIDC)
)

func (s *Server) oidcRoutes(e *echo.Echo) {
	if len(s.OIDC) == 0 {
		return
	}
	e.GET(oidcCallbackPath, s.oidcCallback)
	e.GET(oidcFrontChannel, s.oidcFrontChannelLogout)
	e.GET(oidcLoggedOutPath, s.oidcLoggedOut)
}

// oidcParams are the parameters of one login; the verifier and nonce derive from the state (the
// pending login's key) under the server's key, so they need no storage and cannot be guessed.
func (s *Server) oidcParams(pl *session.PendingLogin) oidc.AuthParams {
	verifier, nonce := oidc.Derive(s.Opt.HashKey, pl.Key)
	return oidc.AuthParams{State: pl.Key, Nonce: nonce, CodeVerifier: verifier, MinLevel: pl.MinLevel,
		Locale: pl.Locale, ForceLogin: pl.ForceAuthn, OnBehalfOf: s.onBehalfOf(pl.Profile)}
}

func (s *Server) onBehalfOf(profile string) string {
	if p, ok := s.profile(profile); ok {
		return p.OnBehalfOf
	}
	return ""
}

// loginOIDC starts an authorization code flow: a pending login under a random state, a
// browser-binding cookie scoped to the callback, and a redirect to the provider.
func (s *Server) loginOIDC(c *echo.Context, prof *Profile, op OIDCClient, returnTo string, force bool) error {
	pl, browser, err := s.newPendingLogin(c, prof, returnTo, force, s.Now())
	if err != nil {
		return err
	}
	a := s.oidcParams(pl)
	pl.RequestID = a.Nonce
	target, err := op.AuthURL(c.Request().Context(), a)
	if err != nil {
		return oidcLoginFailure(pl, err)
	}
	if err := s.putPending(c, pl, browser, oidcCallbackPath, http.SameSiteLaxMode); err != nil {
		return err
	}
	s.Log.Info("login started", "ref", c.Get(refKey), "profile", prof.Name, "idp", prof.IdP, "protocol", "oidc",
		"force_authn", force, "client_ip", c.RealIP())
	return c.Redirect(http.StatusFound, target)
}

// oidcCallback: GET /oidc/callback?code=…&state=…&iss=… (or error=…).
func (s *Server) oidcCallback(c *echo.Context) error {
	defer s.observeACS("oidc", time.Now())
	cb, perr := oidc.ParseCallback(c.QueryParams())
	pl, err := s.takePending(c, cb.State, oidcCallbackPath)
	if err != nil {
		return err
	}
	op, ok := s.OIDC[pl.IdP]
	if !ok {
		return &pageError{Status: http.StatusBadRequest, Key: "expired", Reason: "config",
			Err: fmt.Errorf("pending login names OIDC provider %q that is no longer configured", pl.IdP)}
	}
	if perr != nil {
		return s.finishOIDC(c, pl, nil, perr)
	}
	res, err := op.Exchange(c.Request().Context(), cb, s.oidcParams(pl))
	return s.finishOIDC(c, pl, res, err)
}

// finishOIDC turns a verified ID token into a session, as finishLogin does for SAML. An OIDC
// session keeps its sid in SessionIndex and "oidc:"+sid in NameID, so that a front-channel
// logout (which names only iss and sid) finds it with DeleteSessionsBySessionIndex; the ID
// token travels in NameIDFormat as the id_token_hint of RP-initiated logout.
func (s *Server) finishOIDC(c *echo.Context, pl *session.PendingLogin, res *oidc.Result, verr error) error {
	if verr != nil {
		return oidcLoginFailure(pl, verr)
	}
	id := res.Identity
	id.IdP = pl.IdP
	id.SessionIndex = res.SID
	id.NameID = oidcSessionIndexTag + res.SID
	if res.SID == "" {
		// Without a sid no front-channel logout can name this session; it still ends locally
		// and by RP-initiated logout.
		id.NameID = oidcSessionIndexTag + "none"
	}
	id.NameIDFormat = res.IDToken
	return s.createSession(c, pl, id, time.Time{}, nil)
}

// oidcLoginFailure is the page of an OIDC rejection of pl's login, with a retry of it.
func oidcLoginFailure(pl *session.PendingLogin, err error) *pageError {
	pe := loginFailure(oidcAsLoginError(err))
	pe.Retry = retryURL(pl)
	return pe
}

// oidcAsLoginError gives an OIDC rejection the shape loginFailure reads: the same reason
// classes and, for an OAuth error answer, the page its SAML status counterpart has.
func oidcAsLoginError(err error) error {
	var e *oidc.Error
	if !errors.As(err, &e) {
		return err
	}
	return &protocolError{reason: string(e.Reason), outcome: oidc.Outcome(err), err: err}
}

// protocolError is a rejection from a protocol adapter other than saml.
type protocolError struct {
	reason, outcome string
	err             error
}

func (e *protocolError) Error() string { return e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

// oidcFrontChannelLogout: GET /oidc/frontchannel-logout?iss=…&sid=… — the provider ends its
// session and loads this URL in a hidden frame; every session with that sid ends (in every
// instance sharing the store).
func (s *Server) oidcFrontChannelLogout(c *echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	iss, sid, err := oidc.ParseFrontChannelLogout(c.QueryParams())
	if err != nil {
		return badRequest("frontchannel", err)
	}
	ended := 0
	for name, op := range s.OIDC {
		if op.Issuer() != iss {
			continue
		}
		n, err := s.Store.DeleteSessionsBySessionIndex(c.Request().Context(), name, oidcSessionIndexTag+sid, sid)
		if err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		ended += n
		if n > 0 {
			// Only a logout that ended something goes to the audit trail: anyone can send this
			// request, and the trail is for the admins to read.
			s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "idp", result: "success",
				subject: subject{idp: name, sessionIndex: sid}}, "sessions_ended", n)
		} else {
			s.Log.Info("front-channel logout ended no session", "ref", c.Get(refKey), "idp", name)
		}
	}
	if sess, _ := s.currentSession(c); sess != nil && sess.Identity.SessionIndex == sid {
		s.clearSessionCookie(c)
	}
	return c.String(http.StatusOK, "ok\n")
}

// logoutOIDC sends the user to the provider's end_session_endpoint (RP-initiated logout) with
// a state that brings them back to /oidc/logged-out; without such an endpoint the logout is
// local only.
func (s *Server) logoutOIDC(c *echo.Context, sess *session.Session, op OIDCClient, who subject) error {
	now := s.Now()
	relay, err := session.NewID()
	if err != nil {
		return err
	}
	target, ok := op.EndSessionURL(sess.Identity.NameIDFormat, s.Opt.BaseURL+oidcLoggedOutPath, relay)
	if !ok {
		s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp", result: "local_only", subject: who})
		return s.loggedOut(c, false)
	}
	if err := s.Store.PutPending(c.Request().Context(), &session.PendingLogin{Key: relay, IdP: sess.Identity.IdP,
		Purpose: session.PurposeLogout, Locale: s.locale(c), CreatedAt: now, ExpiresAt: now.Add(s.Opt.PendingTTL)}); err != nil {
		return fmt.Errorf("store pending logout: %w", err)
	}
	s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp", result: "sent", subject: who})
	if c.Request().Method == http.MethodPost {
		s.render(c, http.StatusOK, "continue", map[string]string{"Target": target})
		return nil
	}
	return c.Redirect(http.StatusFound, target)
}

// oidcLoggedOut: GET /oidc/logged-out?state=… — the provider's answer to our logout.
func (s *Server) oidcLoggedOut(c *echo.Context) error {
	state := c.QueryParam("state")
	if state == "" || len(state) > 256 {
		return s.loggedOut(c, false)
	}
	pl, err := s.Store.TakePending(c.Request().Context(), state)
	if errors.Is(err, session.ErrNotFound) || (err == nil && pl.Purpose != session.PurposeLogout) {
		return &pageError{Status: http.StatusBadRequest, Key: "logout", Reason: "in_response_to",
			Err: errors.New("logout answer we did not ask for (or expired)")}
	}
	if err != nil {
		return fmt.Errorf("take pending logout: %w", err)
	}
	s.audit(c, slog.LevelInfo, "logout", record{action: "logout", initiator: "sp", result: "success",
		subject: subject{idp: pl.IdP}})
	return s.loggedOut(c, false)
}
