package oidcop

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/devidp/internal/devkit"
)

// authRequest is a checked authorization request.
type authRequest struct {
	clientID    string
	redirectURI string
	state       string
	nonce       string
	challenge   string   // PKCE S256 code_challenge
	scopes      []string // granted: what was asked for and the preset and client allow
	minLevel    int      // from acr_values; the preset's lowest level when absent
	prompt      string   // "", "login" or "none"
	locale      string   // nb, nn or en; "" until known (ui_locales, else Accept-Language)
}

// pendingLogin is a login page shown and not yet answered; token is its form token.
type pendingLogin struct {
	req     *authRequest
	expires time.Time
}

// pushedRequest is an authorization request pushed to /par, usable once at /authorize.
type pushedRequest struct {
	req     *authRequest
	expires time.Time
}

// session is an SSO session of one browser at this issuer.
type session struct {
	id       string // the cookie value; never shown to a client
	sid      string // the sid claim; what front-channel logout names
	person   devidp.Person
	eid      eID
	authTime time.Time
	clients  []string // every client that got a code from the session, first login first
	expires  time.Time
}

// oauthError is an OAuth 2.0 error (RFC 6749 §4.1.2.1, §5.2).
type oauthError struct {
	code, description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func invalidRequest(desc string) *oauthError { return &oauthError{"invalid_request", desc} }

const (
	maxParamLen = 2048
	// maxFormBytes bounds every form body read.
	maxFormBytes = 64 << 10
	// requestURIPrefix starts every request_uri issued by /par (RFC 9126 §2.2).
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
)

// pkcePattern is an S256 code_challenge: base64url of 32 bytes (RFC 7636 §4.2).
var pkcePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// target finds the client and checks redirect_uri, the two parameters without which an error
// cannot be sent back to the client: their errors are shown to the user instead.
func (p *Provider) target(q url.Values) (Client, string, error) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) != 1 || q.Get(k) == "" {
			return Client{}, "", errors.New("the request needs exactly one " + k)
		}
	}
	c, ok := p.client(q.Get("client_id"))
	if !ok {
		return Client{}, "", errors.New("client_id names no registered client")
	}
	ru := q.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, ru) {
		return Client{}, "", errors.New("redirect_uri is not one the client registered (exact match)")
	}
	return c, ru, nil
}

// parseAuthRequest checks an authorization request for client c, whose redirect_uri has been
// checked; its errors go back to the client.
func (p *Provider) parseAuthRequest(q url.Values, c Client, redirectURI string) (*authRequest, *oauthError) {
	for k, v := range q {
		if len(v) != 1 {
			return nil, invalidRequest("parameter " + k + " appears more than once")
		}
		if len(v[0]) > maxParamLen {
			return nil, invalidRequest("parameter " + k + " is too long")
		}
	}
	req := &authRequest{clientID: c.ID, redirectURI: redirectURI}
	if q.Has("request") {
		return nil, &oauthError{"request_not_supported", "request objects are not supported; use PAR"}
	}
	if q.Has("request_uri") {
		return nil, &oauthError{"invalid_request_uri", "request_uri is only valid from this provider's PAR endpoint, with client_id alone"}
	}
	if rt := q.Get("response_type"); rt != "code" {
		return nil, &oauthError{"unsupported_response_type", "response_type must be code"}
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return nil, invalidRequest("response_mode must be query")
	}
	if req.state = q.Get("state"); req.state == "" {
		return nil, invalidRequest("state is required")
	}
	if req.nonce = q.Get("nonce"); req.nonce == "" {
		return nil, invalidRequest("nonce is required")
	}
	if req.challenge = q.Get("code_challenge"); req.challenge == "" {
		return nil, invalidRequest("PKCE is required: code_challenge with code_challenge_method S256")
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		return nil, invalidRequest("code_challenge_method must be S256")
	}
	if !pkcePattern.MatchString(req.challenge) {
		return nil, invalidRequest("code_challenge is not base64url of a SHA-256 hash")
	}
	asked := strings.Fields(q.Get("scope"))
	if !slices.Contains(asked, "openid") {
		return nil, &oauthError{"invalid_scope", "scope must contain openid"}
	}
	// Scopes the preset does not know are ignored (RFC 6749 §3.3), nnin_altsub also for a
	// client not entitled to it.
	for _, s := range asked {
		if slices.Contains(p.preset.scopes, s) && !slices.Contains(req.scopes, s) && (s != "nnin_altsub" || c.NNINAltsub) {
			req.scopes = append(req.scopes, s)
		}
	}
	for _, acr := range strings.Fields(q.Get("acr_values")) {
		l, ok := p.preset.levelOf(acr)
		if !ok {
			return nil, invalidRequest("acr_values: unknown value " + acr)
		}
		if req.minLevel == 0 || l < req.minLevel {
			req.minLevel = l
		}
	}
	if req.minLevel == 0 {
		req.minLevel = p.preset.eIDs[0].Level
		for _, e := range p.preset.eIDs {
			req.minLevel = min(req.minLevel, e.Level)
		}
	}
	switch pr := strings.Fields(q.Get("prompt")); {
	case len(pr) == 0:
	case len(pr) == 1 && (pr[0] == "login" || pr[0] == "none"):
		req.prompt = pr[0]
	default:
		return nil, invalidRequest("prompt must be login or none")
	}
	for _, tag := range strings.Fields(q.Get("ui_locales")) {
		if l, ok := devkit.Locale(tag); ok {
			req.locale = l
			break
		}
	}
	// onbehalfof (ID-porten) names the party a supplier logs in for; it only has to be sane.
	if obo := q.Get("onbehalfof"); strings.ContainsFunc(obo, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, invalidRequest("onbehalfof contains control characters")
	}
	return req, nil
}

// serveAuthorize is GET /authorize: a new request, or a pushed one by its request_uri.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		p.refuse(w, r, "the query string is malformed", err)
		return
	}
	var req *authRequest
	if q.Has("request_uri") {
		if req, err = p.takePushed(q); err != nil {
			p.refuse(w, r, err.Error(), nil)
			return
		}
	} else {
		c, ru, err := p.target(q)
		if err != nil {
			p.refuse(w, r, err.Error(), nil)
			return
		}
		var oerr *oauthError
		if req, oerr = p.parseAuthRequest(q, c, ru); oerr != nil {
			state := ""
			if v := q["state"]; len(v) == 1 && len(v[0]) <= maxParamLen {
				state = v[0]
			}
			p.redirectError(w, r, ru, state, oerr)
			return
		}
	}
	if req.locale == "" {
		req.locale = devkit.AcceptLocale(r.Header.Get("Accept-Language"))
	}
	p.continueLogin(w, r, req)
}

// takePushed redeems a request_uri from /par (once): with it only client_id may come along.
func (p *Provider) takePushed(q url.Values) (*authRequest, error) {
	if len(q["request_uri"]) != 1 || len(q["client_id"]) != 1 {
		return nil, errors.New("a pushed request needs exactly one request_uri and one client_id")
	}
	uri := q.Get("request_uri")
	p.mu.Lock()
	pr := p.pushed[uri]
	if pr != nil && pr.req.clientID == q.Get("client_id") {
		delete(p.pushed, uri)
	}
	p.mu.Unlock()
	if pr == nil || !p.cfg.Now().Before(pr.expires) {
		return nil, errors.New("request_uri is unknown, used or expired")
	}
	if pr.req.clientID != q.Get("client_id") {
		return nil, errors.New("request_uri was pushed by another client")
	}
	req := *pr.req
	return &req, nil
}

// continueLogin answers a checked request from the SSO session when it can, else shows the login
// page.
func (p *Provider) continueLogin(w http.ResponseWriter, r *http.Request, req *authRequest) {
	if req.prompt != "login" {
		if s := p.currentSession(r); s != nil && s.eid.Level >= req.minLevel {
			p.issueCode(w, r, req, s.id)
			return
		}
	}
	if req.prompt == "none" {
		p.redirectError(w, r, req.redirectURI, req.state, &oauthError{"login_required", "no session at the required level"})
		return
	}
	token, err := p.randomToken()
	if err != nil {
		p.internalError(w, r, err)
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	p.sweep(now)
	p.pending[token] = &pendingLogin{req: req, expires: now.Add(loginTTL)}
	p.mu.Unlock()
	p.renderLogin(w, req, token, "", "")
}

// offered are the preset's eIDs at or above level.
func (p *Provider) offered(level int) []eID {
	var out []eID
	for _, e := range p.preset.eIDs {
		if e.Level >= level {
			out = append(out, e)
		}
	}
	return out
}

// serveLogin is POST /authorize, the login page's form: person and eID, or cancel.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.refuse(w, r, "the form could not be read", err)
		return
	}
	token := r.PostForm.Get("login")
	p.mu.Lock()
	pl := p.pending[token]
	p.mu.Unlock()
	if pl == nil || !p.cfg.Now().Before(pl.expires) {
		p.refuse(w, r, "the login page is unknown, used or expired; start again from the service", nil)
		return
	}
	req := pl.req
	if r.PostForm.Get("action") == "cancel" {
		if p.takePending(token) {
			p.redirectError(w, r, req.redirectURI, req.state, &oauthError{"access_denied", "the user cancelled the login"})
		} else {
			p.refuse(w, r, "the login page is unknown, used or expired; start again from the service", nil)
		}
		return
	}
	personID := r.PostForm.Get("person")
	i := slices.IndexFunc(p.cfg.Persons, func(x devidp.Person) bool { return x.NationalID == personID })
	if i < 0 {
		p.renderLogin(w, req, token, "", "err_person")
		return
	}
	offered := p.offered(req.minLevel)
	j := slices.IndexFunc(offered, func(e eID) bool { return e.ID == r.PostForm.Get("eid") })
	if j < 0 {
		p.renderLogin(w, req, token, personID, "err_eid")
		return
	}
	if !p.takePending(token) {
		p.refuse(w, r, "the login page is unknown, used or expired; start again from the service", nil)
		return
	}
	id, err := p.startSession(w, r, p.cfg.Persons[i], offered[j])
	if err != nil {
		p.internalError(w, r, err)
		return
	}
	p.issueCode(w, r, req, id)
}

// takePending uses up a login page's token; false if another request did first.
func (p *Provider) takePending(token string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[token] == nil {
		return false
	}
	delete(p.pending, token)
	return true
}

// startSession records a login in the browser's SSO session: the same person's session is
// renewed (same sid, so its clients stay known for logout); another person's replaces it.
func (p *Provider) startSession(w http.ResponseWriter, r *http.Request, person devidp.Person, e eID) (string, error) {
	id, err := p.randomToken()
	if err != nil {
		return "", err
	}
	sid, err := p.randomToken()
	if err != nil {
		return "", err
	}
	now := p.cfg.Now()
	p.mu.Lock()
	p.sweep(now)
	s := &session{id: id, sid: sid, person: person}
	if old := p.sessions[cookieValue(r, p.cookie)]; old != nil {
		delete(p.sessions, old.id)
		if old.person.NationalID == person.NationalID {
			s.sid, s.clients = old.sid, old.clients
		}
	}
	s.eid, s.authTime, s.expires = e, now, now.Add(sessionTTL)
	p.sessions[id] = s
	p.mu.Unlock()
	p.setCookie(w, id, s.expires)
	p.cfg.Logger.Info("oidcop: login", "preset", p.cfg.Preset, "eid", e.ID, "level", e.Level)
	return id, nil
}

// currentSession is a copy of the browser's live SSO session, or nil.
func (p *Provider) currentSession(r *http.Request) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[cookieValue(r, p.cookie)]
	if s == nil || !p.cfg.Now().Before(s.expires) {
		return nil
	}
	c := *s
	c.clients = slices.Clone(s.clients)
	return &c
}

// authCode is an issued code with what the token endpoint needs, taken from the session when it
// was issued.
type authCode struct {
	req      *authRequest
	sid      string
	person   devidp.Person
	eid      eID
	authTime time.Time
	expires  time.Time
}

// issueCode sends the browser back to the client with a code for session sessionID.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req *authRequest, sessionID string) {
	code, err := p.randomToken()
	if err != nil {
		p.internalError(w, r, err)
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	p.sweep(now)
	s := p.sessions[sessionID]
	if s == nil {
		p.mu.Unlock()
		p.refuse(w, r, "the session ended while logging in; start again from the service", nil)
		return
	}
	if !slices.Contains(s.clients, req.clientID) {
		s.clients = append(s.clients, req.clientID)
	}
	p.codes[code] = &authCode{req: req, sid: s.sid, person: s.person, eid: s.eid, authTime: s.authTime, expires: now.Add(codeTTL)}
	level := s.eid.Level
	p.mu.Unlock()
	p.cfg.Logger.Info("oidcop: code issued", "preset", p.cfg.Preset, "client_id", req.clientID, "level", level)
	p.redirect(w, r, req.redirectURI, url.Values{"code": {code}, "state": {req.state}, "iss": {p.issuer}})
}

// redirectError sends an OAuth error back to a checked redirect_uri, with state and iss.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *oauthError) {
	p.cfg.Logger.Warn("oidcop: authorization refused", "preset", p.cfg.Preset, "error", e.code, "description", e.description)
	v := url.Values{"error": {e.code}, "error_description": {e.description}, "iss": {p.issuer}}
	if state != "" {
		v.Set("state", state)
	}
	p.redirect(w, r, redirectURI, v)
}

// redirect sends the browser to target (a registered URI) with params added to its query.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, target string, params url.Values) {
	http.Redirect(w, r, withParams(target, params), redirectStatus(r))
}

// withParams adds params to the query of target, a URL checked at registration.
func withParams(target string, params url.Values) string {
	u, _ := url.Parse(target)
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// redirectStatus is 303 after a POST, so the browser follows with GET, and 302 otherwise.
func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

func (p *Provider) setCookie(w http.ResponseWriter, value string, expires time.Time) {
	c := &http.Cookie{
		Name:     p.cookie,
		Value:    value,
		Path:     p.prefix + "/",
		HttpOnly: true,
		Secure:   p.cookieSecure,
		SameSite: http.SameSiteLaxMode,
		Expires:  expires,
	}
	if value == "" {
		c.MaxAge = -1
		c.Expires = time.Time{}
	}
	http.SetCookie(w, c)
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// servePAR is POST /par (RFC 9126): an authenticated client pushes its authorization request and
// gets a request_uri for /authorize, usable once within 60 s.
func (p *Provider) servePAR(w http.ResponseWriter, r *http.Request) {
	form, oerr := p.readTokenForm(w, r)
	if oerr != nil {
		p.writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	c, oerr := p.authenticateClient(r, form, p.issuer, p.urls.token, p.urls.par)
	if oerr != nil {
		p.clientAuthError(w, r, oerr)
		return
	}
	if form.Has("request_uri") {
		p.writeOAuthError(w, http.StatusBadRequest, invalidRequest("request_uri cannot be pushed"))
		return
	}
	// The pushed parameters are checked as at /authorize; client authentication's own
	// parameters are not part of the request, and client_id, when sent, has been matched with
	// the authenticated client.
	q := url.Values{}
	for k, v := range form {
		switch k {
		case "client_secret", "client_assertion", "client_assertion_type":
		default:
			q[k] = v
		}
	}
	q.Set("client_id", c.ID)
	if _, _, err := p.target(q); err != nil {
		p.writeOAuthError(w, http.StatusBadRequest, invalidRequest(err.Error()))
		return
	}
	req, oerr := p.parseAuthRequest(q, c, q.Get("redirect_uri"))
	if oerr != nil {
		p.writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	uri, err := p.randomToken()
	if err != nil {
		p.cfg.Logger.Error("oidcop: internal error", "path", r.URL.Path, "err", err)
		p.writeOAuthError(w, http.StatusInternalServerError, &oauthError{"server_error", "see the provider's log"})
		return
	}
	uri = requestURIPrefix + uri
	now := p.cfg.Now()
	p.mu.Lock()
	p.sweep(now)
	p.pushed[uri] = &pushedRequest{req: req, expires: now.Add(parTTL)}
	p.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": int(parTTL / time.Second)})
}
