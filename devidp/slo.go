package devidp

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/saml"
)

// statusPartialLogout is the second-level status of a logout that did not reach every SP
// (SAML core §3.2.2.2).
const statusPartialLogout = saml.StatusPrefix + "PartialLogout"

// Checks on the logout messages SPs send: the same clock tolerance as the SP side.
const (
	logoutSkew   = 3 * time.Minute
	logoutMaxAge = 5 * time.Minute
)

// logoutWalk is one single logout in progress (spec/PROFILE.md §5): the browser is sent to each
// other SP of the session in turn with a signed LogoutRequest, each answers back here, and when
// the last has answered the session ends. Between two steps it waits in IdP.walks under the
// RelayState of the LogoutRequest out: a fresh random token per step, so that an answer can be
// taken once only.
type logoutWalk struct {
	sessionID    string
	sessionIndex string
	origin       *logoutOrigin // the SP that asked; nil when the user logged out at the IdP
	todo         []participant // still to be told, in entityID order
	waiting      participant   // the SP the last LogoutRequest went to
	requestID    string        // that LogoutRequest's ID
	partial      bool          // an SP answered with an error, or could not be told at all
	locale       string        // of the IdP's own logged-out page
	expires      time.Time
}

// participant is an SP of a session and the NameID it was given in it.
type participant struct{ entityID, nameID string }

// logoutOrigin is the SP whose LogoutRequest started a walk, and how to answer it.
type logoutOrigin struct {
	sp         *serviceProvider
	endpoint   string // its SingleLogoutService ResponseLocation, else Location
	requestID  string
	relayState string
}

// serveSLO is the SingleLogoutService, HTTP-Redirect binding: a LogoutRequest from an SP starts
// a logout; a LogoutResponse from an SP continues one. Nothing is looked up or ended before the
// query signature verifies against the issuing SP's metadata keys.
func (i *IdP) serveSLO(w http.ResponseWriter, r *http.Request) {
	m, err := saml.ParseRedirect(r.URL.RawQuery, saml.DefaultLimits().MaxBytes)
	if err != nil {
		i.refuse(w, r, bad(err, "The query string does not hold a well-formed Redirect-binding SAML message."))
		return
	}
	issuer, err := saml.PeekIssuer(m.XML, saml.DefaultLimits())
	if err != nil {
		i.refuse(w, r, bad(err, "The logout message is not well-formed or has no single Issuer."))
		return
	}
	sp := i.lookupSP(issuer)
	if sp == nil {
		i.refuse(w, r, bad(nil, "The logout message's Issuer %q is not a registered service provider.", issuer))
		return
	}
	if err := m.Verify(sp.signingCerts, algorithms()); err != nil {
		i.refuse(w, r, bad(err, "The query signature of the logout message does not verify with the signing certificate in %s's metadata, or it uses an algorithm other than RSA-SHA1/SHA-256/SHA-512.", sp.entityID))
		return
	}
	chk := saml.LogoutCheck{Issuer: sp.entityID, Destination: i.urls.slo, Now: i.now(), Skew: logoutSkew,
		MaxAge: logoutMaxAge, Limits: saml.DefaultLimits()}
	if m.Param == saml.ParamSAMLRequest {
		i.logoutRequest(w, r, m, sp, chk)
		return
	}
	i.logoutResponse(w, r, m, sp, chk)
}

// logoutRequest handles SP-initiated logout: the session that gave the SP this NameID (the
// browser's own, else any) loses the SP and the walk through its other SPs starts. Without such
// a session the SP is answered Success at once: there is nothing left to log out, and the SP's
// logout must not break.
func (i *IdP) logoutRequest(w http.ResponseWriter, r *http.Request, m *saml.RedirectMessage, sp *serviceProvider, chk saml.LogoutCheck) {
	req, err := saml.ParseLogoutRequest(m.XML, chk)
	if err != nil {
		i.refuse(w, r, bad(err, "The LogoutRequest was refused (%s): check its Destination (%s), IssueInstant and NameID.", saml.ReasonOf(err), i.urls.slo))
		return
	}
	ep, ok := saml.EndpointFor(sp.slo, saml.BindingHTTPRedirect)
	if !ok {
		i.refuse(w, r, bad(nil, "%s has no SingleLogoutService with the HTTP-Redirect binding in its metadata, so its logout cannot be answered.", sp.entityID))
		return
	}
	origin := &logoutOrigin{sp: sp, endpoint: ep.Location, requestID: req.ID, relayState: m.RelayState}
	if ep.ResponseLocation != "" {
		origin.endpoint = ep.ResponseLocation
	}
	now := i.now()
	var wk *logoutWalk
	i.mu.Lock()
	if s := i.matchSessionLocked(r, sp.entityID, req, now); s != nil {
		delete(s.nameIDs, sp.entityID)
		wk = i.newWalkLocked(s, origin, requestLocale(r))
	}
	i.mu.Unlock()
	if wk == nil {
		i.cfg.Logger.Info("devidp: logout", "step", "request", "sp", sp.entityID,
			"session_index", strings.Join(req.SessionIndexes, " "), "status", "no_session")
		i.answerOrigin(w, r, origin, nil)
		return
	}
	i.cfg.Logger.Info("devidp: logout", "step", "request", "sp", sp.entityID, "session_index", wk.sessionIndex,
		"status", "session_found", "participants", len(wk.todo))
	i.advance(w, r, wk)
}

// matchSessionLocked finds the unexpired session in which sp was given the request's NameID
// (and, if it names any, one of its SessionIndexes): the browser's own first, else any, since
// SAML identifies the principal by NameID, not by cookie. i.mu must be held.
func (i *IdP) matchSessionLocked(r *http.Request, sp string, req *saml.LogoutRequest, now time.Time) *ssoSession {
	matches := func(s *ssoSession) bool {
		nameID, ok := s.nameIDs[sp]
		return ok && now.Before(s.expires) && req.MatchesSession(nameID, s.sessionIndex)
	}
	if s := i.sessions[cookieValue(r)]; s != nil && matches(s) {
		return s
	}
	for _, s := range i.sessions {
		if matches(s) {
			return s
		}
	}
	return nil
}

// newWalkLocked starts a walk through the SPs of s. i.mu must be held.
func (i *IdP) newWalkLocked(s *ssoSession, origin *logoutOrigin, locale string) *logoutWalk {
	wk := &logoutWalk{sessionID: s.id, sessionIndex: s.sessionIndex, origin: origin, locale: locale}
	for sp, nameID := range s.nameIDs {
		wk.todo = append(wk.todo, participant{entityID: sp, nameID: nameID})
	}
	slices.SortFunc(wk.todo, func(a, b participant) int { return strings.Compare(a.entityID, b.entityID) })
	return wk
}

// logoutResponse continues the walk the response's RelayState names, if the response answers
// the LogoutRequest that walk sent this SP. A response that does not is refused and leaves the
// walk in place for the right one.
func (i *IdP) logoutResponse(w http.ResponseWriter, r *http.Request, m *saml.RedirectMessage, sp *serviceProvider, chk saml.LogoutCheck) {
	resp, err := saml.ParseLogoutResponse(m.XML, chk)
	if err != nil {
		i.refuse(w, r, bad(err, "The LogoutResponse was refused (%s): check its Destination (%s) and IssueInstant.", saml.ReasonOf(err), i.urls.slo))
		return
	}
	now := i.now()
	var fail *badRequest
	i.mu.Lock()
	wk := i.walks[m.RelayState]
	switch {
	case m.RelayState == "" || wk == nil:
		fail = bad(nil, "This LogoutResponse belongs to no logout in progress: its RelayState is unknown, already used or missing.")
	case !now.Before(wk.expires):
		delete(i.walks, m.RelayState)
		fail = bad(nil, "This logout has expired. Log out again from the service.")
	case wk.waiting.entityID != sp.entityID || resp.InResponseTo != wk.requestID:
		fail = bad(nil, "This LogoutResponse does not answer the LogoutRequest the IdP sent %s.", sp.entityID)
	default:
		delete(i.walks, m.RelayState)
		if s := i.sessions[wk.sessionID]; s != nil {
			delete(s.nameIDs, sp.entityID)
		}
	}
	i.mu.Unlock()
	if fail != nil {
		i.refuse(w, r, fail)
		return
	}
	// wk is ours alone now: it left the map under the lock.
	if !resp.Success() || (len(resp.Status) > 1 && resp.Status[1] == statusPartialLogout) {
		wk.partial = true
	}
	i.cfg.Logger.Info("devidp: logout", "step", "response", "sp", sp.entityID, "session_index", wk.sessionIndex,
		"status", strings.Join(resp.Status, " "))
	i.advance(w, r, wk)
}

// advance sends the browser to the next SP of the walk that can be told, with a signed
// LogoutRequest, or finishes the walk. An SP without a Redirect SingleLogoutService, or one the
// request cannot be made for, is skipped and makes the logout partial: the chain never breaks.
func (i *IdP) advance(w http.ResponseWriter, r *http.Request, wk *logoutWalk) {
	for len(wk.todo) > 0 {
		p := wk.todo[0]
		wk.todo = wk.todo[1:]
		target, err := i.sendLogoutRequest(wk, p)
		if err != nil {
			wk.partial = true
			i.cfg.Logger.Warn("devidp: logout", "step", "skipped", "sp", p.entityID, "session_index", wk.sessionIndex,
				"status", "not_propagated", "err", err)
			continue
		}
		i.cfg.Logger.Info("devidp: logout", "step", "request_sent", "sp", p.entityID, "session_index", wk.sessionIndex,
			"status", "sent")
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	i.finish(w, r, wk)
}

// sendLogoutRequest parks wk under a fresh token and returns the signed Redirect-binding URL of
// the LogoutRequest to p: its NameID in this session, the SessionIndex, its SLO Location.
func (i *IdP) sendLogoutRequest(wk *logoutWalk, p participant) (string, error) {
	var ep saml.Endpoint
	ok := false
	if sp := i.lookupSP(p.entityID); sp != nil {
		ep, ok = saml.EndpointFor(sp.slo, saml.BindingHTTPRedirect)
	}
	if !ok {
		return "", errors.New("the SP is not registered any more or has no SingleLogoutService with the HTTP-Redirect binding")
	}
	token, err := i.randomHex(24)
	if err != nil {
		return "", err
	}
	id, err := saml.NewID(i.cfg.Rand)
	if err != nil {
		return "", err
	}
	now := i.now()
	xml, err := saml.LogoutRequest{
		ID: id, IssueInstant: now, Issuer: i.cfg.EntityID, Destination: ep.Location,
		NameID: p.nameID, NameIDFormat: saml.NameIDFormatTransient, SessionIndexes: []string{wk.sessionIndex},
		NotOnOrAfter: now.Add(i.cfg.LogoutTTL),
	}.Build()
	if err != nil {
		return "", err
	}
	target, err := i.cfg.Signer.RedirectURL(ep.Location, saml.ParamSAMLRequest, xml, token, nil)
	if err != nil {
		return "", err
	}
	wk.waiting, wk.requestID, wk.expires = p, id, now.Add(i.cfg.LogoutTTL)
	i.mu.Lock()
	for k, v := range i.walks {
		if !now.Before(v.expires) {
			delete(i.walks, k)
		}
	}
	i.walks[token] = wk
	i.mu.Unlock()
	return target, nil
}

// finish ends the session and answers whoever started the logout: the SP with a signed
// LogoutResponse, the user with the IdP's logged-out page.
func (i *IdP) finish(w http.ResponseWriter, r *http.Request, wk *logoutWalk) {
	i.mu.Lock()
	delete(i.sessions, wk.sessionID)
	i.mu.Unlock()
	if cookieValue(r) == wk.sessionID {
		i.setSessionCookie(w, "")
	}
	status := []string{saml.StatusSuccess}
	if wk.partial {
		status = append(status, statusPartialLogout)
	}
	initiator := "idp"
	if wk.origin != nil {
		initiator = wk.origin.sp.entityID
	}
	i.cfg.Logger.Info("devidp: logout", "step", "done", "sp", initiator, "session_index", wk.sessionIndex,
		"status", strings.Join(status, " "))
	if wk.origin == nil {
		i.renderLoggedOut(w, wk.locale, wk.partial)
		return
	}
	i.answerOrigin(w, r, wk.origin, status)
}

// answerOrigin redirects the browser to the SP that asked, with a signed LogoutResponse that
// echoes its RelayState. status nil means Success.
func (i *IdP) answerOrigin(w http.ResponseWriter, r *http.Request, o *logoutOrigin, status []string) {
	id, err := saml.NewID(i.cfg.Rand)
	if err != nil {
		i.internalError(w, r, err)
		return
	}
	xml, err := saml.LogoutResponse{ID: id, IssueInstant: i.now(), Issuer: i.cfg.EntityID, Destination: o.endpoint,
		InResponseTo: o.requestID, Status: status}.Build()
	if err != nil {
		i.internalError(w, r, err)
		return
	}
	target, err := i.cfg.Signer.RedirectURL(o.endpoint, saml.ParamSAMLResponse, xml, o.relayState, nil)
	if err != nil {
		i.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// serveLogout is IdP-initiated logout: the user ends the IdP session here, every SP of the
// session is told in turn, and the walk ends on the IdP's logged-out page.
func (i *IdP) serveLogout(w http.ResponseWriter, r *http.Request) {
	locale := requestLocale(r)
	now := i.now()
	var wk *logoutWalk
	i.mu.Lock()
	if s := i.sessionLocked(r, now); s != nil {
		wk = i.newWalkLocked(s, nil, locale)
	}
	i.mu.Unlock()
	if wk == nil {
		if cookieValue(r) != "" {
			i.setSessionCookie(w, "")
		}
		i.cfg.Logger.Info("devidp: logout", "step", "request", "sp", "idp", "session_index", "", "status", "no_session")
		i.renderLoggedOut(w, locale, false)
		return
	}
	i.cfg.Logger.Info("devidp: logout", "step", "request", "sp", "idp", "session_index", wk.sessionIndex,
		"status", "session_found", "participants", len(wk.todo))
	i.advance(w, r, wk)
}
