package devidp

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/saml"
)

// Status codes of a cancelled login (SAML core §3.2.2.2).
const (
	statusResponder   = saml.StatusPrefix + "Responder"
	statusAuthnFailed = saml.StatusPrefix + "AuthnFailed"
)

const (
	sessionCookie = "devidp_sso"
	maxFormBytes  = 64 << 10
	maxOTPTries   = 5
)

// method is one way to log in the page offers.
type method struct {
	ID         string // form value
	Level      int
	AuthMethod string // the AuthMethod attribute ID-porten sends
	Instrument string // Buypass IPS instrument, "" for the ID-porten chooser
	OTP        bool   // PasswordID: password and a one-time code by SMS
	Label      string // catalogue key
}

// idportenMethods is ID-porten's chooser, shown when the request names no Buypass instrument.
var idportenMethods = []method{
	{ID: "minid", Level: identity.Level3, AuthMethod: "Minid-PIN", Label: "m_minid"},
	{ID: "bankid", Level: identity.Level4, AuthMethod: "BankID", Label: "m_bankid"},
	{ID: "buypass", Level: identity.Level4, AuthMethod: "Buypass", Label: "m_buypass"},
	{ID: "commfides", Level: identity.Level4, AuthMethod: "Commfides", Label: "m_commfides"},
	{ID: "testid-3", Level: identity.Level3, AuthMethod: "TestID", Label: "m_testid3"},
	{ID: "testid-4", Level: identity.Level4, AuthMethod: "TestID", Label: "m_testid4"},
}

// instrumentMethods are the Buypass IPS instruments (spec/PROFILE.md §3): all level 4.
var instrumentMethods = map[string]method{
	identity.InstrumentSmartCard:   {ID: identity.InstrumentSmartCard, Level: identity.Level4, AuthMethod: "Buypass", Instrument: identity.InstrumentSmartCard, Label: "m_bpsc"},
	identity.InstrumentPasswordOTP: {ID: identity.InstrumentPasswordOTP, Level: identity.Level4, AuthMethod: "Buypass", Instrument: identity.InstrumentPasswordOTP, OTP: true, Label: "m_otp"},
	identity.InstrumentMobileApp:   {ID: identity.InstrumentMobileApp, Level: identity.Level4, AuthMethod: "Buypass", Instrument: identity.InstrumentMobileApp, Label: "m_app"},
}

// authnRequest is an AuthnRequest that passed every check: signed by a registered SP, for us,
// answered at one of that SP's endpoints.
type authnRequest struct {
	sp          *serviceProvider
	id          string
	acs         saml.Endpoint
	forceAuthn  bool
	minLevel    int
	onBehalfOf  string
	instruments []string
	relayState  string
	locale      string
}

// methods lists what the page offers for the request: the requested instruments in request
// order, or the ID-porten chooser, without methods below the requested level.
func (a *authnRequest) methods() []method {
	var all []method
	if len(a.instruments) > 0 {
		for _, in := range a.instruments {
			all = append(all, instrumentMethods[in])
		}
	} else {
		all = idportenMethods
	}
	var out []method
	for _, m := range all {
		if m.Level >= a.minLevel {
			out = append(out, m)
		}
	}
	return out
}

// pendingLogin is a login page on screen, kept here so that the browser holds only its token.
type pendingLogin struct {
	token   string
	req     *authnRequest
	otp     string
	tries   int
	expires time.Time
}

// ssoSession is the user's session at the IdP.
type ssoSession struct {
	id           string
	person       Person
	method       method
	sessionIndex string
	authnInstant time.Time
	expires      time.Time
	nameIDs      map[string]string // SP entityID → the transient NameID it was given: the session's participants
}

// satisfies reports whether the session can answer a without a new login: at least the
// requested level and, when instruments are requested, with one of them.
func (s *ssoSession) satisfies(a *authnRequest) bool {
	if s.method.Level < a.minLevel {
		return false
	}
	return len(a.instruments) == 0 || slices.Contains(a.instruments, s.method.Instrument)
}

// badRequest is a request the IdP refuses with a 400 page. msg is shown to the developer; err,
// logged, carries the detail (never raw XML).
type badRequest struct {
	msg string
	err error
}

func bad(err error, format string, args ...any) *badRequest {
	return &badRequest{msg: fmt.Sprintf(format, args...), err: err}
}

var onBehalfOfRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// algorithms are those accepted on AuthnRequests and ArtifactResolves: SHA-256/512 and, as
// ID-porten documented, SHA-1.
func algorithms() saml.Algorithms { return saml.DefaultAlgorithms().WithSHA1() }

// serveSSORedirect is the SingleSignOnService for the HTTP-Redirect binding.
func (i *IdP) serveSSORedirect(w http.ResponseWriter, r *http.Request) {
	a, fail := i.readRedirect(r)
	if fail != nil {
		i.refuse(w, r, fail)
		return
	}
	i.begin(w, r, a)
}

func (i *IdP) readRedirect(r *http.Request) (*authnRequest, *badRequest) {
	m, err := saml.ParseRedirect(r.URL.RawQuery, saml.DefaultLimits().MaxBytes)
	if err != nil {
		return nil, bad(err, "The query string does not hold a well-formed Redirect-binding SAML message.")
	}
	if m.Param != saml.ParamSAMLRequest {
		return nil, bad(nil, "Only a SAMLRequest (AuthnRequest) is accepted here.")
	}
	req, err := saml.ParseAuthnRequest(m.XML, saml.DefaultLimits())
	if err != nil {
		return nil, bad(err, "The SAMLRequest is not a well-formed AuthnRequest.")
	}
	sp := i.lookupSP(req.Issuer)
	if sp == nil {
		return nil, bad(nil, "The AuthnRequest's Issuer %q is not a registered service provider.", req.Issuer)
	}
	if err := m.Verify(sp.signingCerts, algorithms()); err != nil {
		return nil, bad(err, "The query signature of the AuthnRequest does not verify with the signing certificate in %s's metadata, or it uses an algorithm other than RSA-SHA1/SHA-256/SHA-512.", sp.entityID)
	}
	return i.checkRequest(req, sp, m.RelayState, requestLocale(r))
}

// checkRequest checks a verified AuthnRequest against the SP's metadata and our profile.
func (i *IdP) checkRequest(req *saml.AuthnRequest, sp *serviceProvider, relayState, locale string) (*authnRequest, *badRequest) {
	if req.Destination != i.urls.sso {
		return nil, bad(nil, "The AuthnRequest's Destination %q is not this IdP's SingleSignOnService %q.", req.Destination, i.urls.sso)
	}
	acs, fail := sp.endpoint(req.ACSURL, req.ProtocolBinding)
	if fail != nil {
		return nil, fail
	}
	if len(req.Instruments) > 0 && req.InstrumentNamespace != i.cfg.InstrumentNamespace {
		return nil, bad(nil, "InstrumentAttribute is in namespace %q; this IdP accepts %q.", req.InstrumentNamespace, i.cfg.InstrumentNamespace)
	}
	var instruments []string
	for _, in := range req.Instruments {
		if _, ok := instrumentMethods[in]; !ok {
			return nil, bad(nil, "Unknown instrument %q; known are ips:BPSC, ips:OTP1PKI and ips:CC2PKI.", in)
		}
		if !slices.Contains(instruments, in) {
			instruments = append(instruments, in)
		}
	}
	if req.OnBehalfOf != "" && !onBehalfOfRe.MatchString(req.OnBehalfOf) {
		return nil, bad(nil, "OnBehalfOf may hold only A-Z a-z 0-9 - _ (at most 64).")
	}
	return &authnRequest{
		sp:          sp,
		id:          req.ID,
		acs:         acs,
		forceAuthn:  req.ForceAuthn,
		minLevel:    req.MinLevel,
		onBehalfOf:  req.OnBehalfOf,
		instruments: instruments,
		relayState:  relayState,
		locale:      locale,
	}, nil
}

// endpoint finds the ACS the answer goes to: the requested URL with the requested binding, both
// from the SP's metadata; without a URL, the SP's default ACS.
func (sp *serviceProvider) endpoint(acsURL, binding string) (saml.Endpoint, *badRequest) {
	if binding != "" && binding != saml.BindingHTTPArtifact && binding != saml.BindingHTTPPost {
		return saml.Endpoint{}, bad(nil, "ProtocolBinding %q is not supported; use HTTP-Artifact or HTTP-POST.", binding)
	}
	if acsURL == "" {
		def := sp.acs[0]
		for _, e := range sp.acs {
			if e.IsDefault {
				def = e
				break
			}
		}
		if binding != "" && def.Binding != binding {
			return saml.Endpoint{}, bad(nil, "The request names no AssertionConsumerServiceURL and the default ACS of %s does not use %s.", sp.entityID, binding)
		}
		return def, nil
	}
	for _, e := range sp.acs {
		if e.Location == acsURL && (binding == "" || e.Binding == binding) {
			return e, nil
		}
	}
	return saml.Endpoint{}, bad(nil, "AssertionConsumerServiceURL %q with binding %q is not an AssertionConsumerService in %s's metadata.", acsURL, binding, sp.entityID)
}

// begin answers at once from the SSO session when it can, and shows the login page otherwise.
func (i *IdP) begin(w http.ResponseWriter, r *http.Request, a *authnRequest) {
	if !a.forceAuthn {
		if out := i.fromSession(r, a); out != nil {
			i.cfg.Logger.Info("devidp: login answered from SSO session", "sp", a.sp.entityID, "session_index", out.login.sessionIndex)
			i.deliver(w, r, out)
			return
		}
	}
	token, err := i.randomHex(32)
	if err != nil {
		i.internalError(w, r, err)
		return
	}
	otp, err := i.oneTimeCode()
	if err != nil {
		i.internalError(w, r, err)
		return
	}
	p := &pendingLogin{token: token, req: a, otp: otp, expires: i.now().Add(i.cfg.LoginTTL)}
	i.mu.Lock()
	now := i.now()
	for k, v := range i.pending {
		if !now.Before(v.expires) {
			delete(i.pending, k)
		}
	}
	i.pending[token] = p
	i.mu.Unlock()
	i.renderLogin(w, p, "", "")
}

// serveLogin takes the login form.
func (i *IdP) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		i.refuse(w, r, bad(err, "The form could not be read."))
		return
	}
	f := r.PostForm
	i.mu.Lock()
	p := i.pending[f.Get("token")]
	if p != nil && !i.now().Before(p.expires) {
		delete(i.pending, p.token)
		p = nil
	}
	i.mu.Unlock()
	if p == nil {
		i.refuse(w, r, bad(nil, "This login has expired or was already completed. Start again from the service."))
		return
	}
	if f.Get("action") == "cancel" {
		if !i.take(p) {
			i.refuse(w, r, bad(nil, "This login was already completed."))
			return
		}
		i.cfg.Logger.Info("devidp: login cancelled", "sp", p.req.sp.entityID)
		i.deliver(w, r, &outcome{req: p.req, status: []string{statusResponder, statusAuthnFailed}})
		return
	}
	person, ok := i.person(f.Get("person"))
	if !ok {
		i.renderLogin(w, p, "", "err_person")
		return
	}
	var m method
	for _, c := range p.req.methods() {
		if c.ID == f.Get("method") {
			m, ok = c, true
		}
	}
	if m.ID == "" {
		i.renderLogin(w, p, person.NationalID, "err_method")
		return
	}
	if m.OTP && (f.Get("password") == "" || subtle.ConstantTimeCompare([]byte(f.Get("otp")), []byte(p.otp)) != 1) {
		i.mu.Lock()
		p.tries++
		tooMany := p.tries >= maxOTPTries
		if tooMany {
			delete(i.pending, p.token)
		}
		i.mu.Unlock()
		if tooMany {
			i.refuse(w, r, bad(nil, "Too many wrong one-time codes. Start again from the service."))
			return
		}
		i.renderLogin(w, p, person.NationalID, "err_otp")
		return
	}
	if !i.take(p) {
		i.refuse(w, r, bad(nil, "This login was already completed."))
		return
	}
	out, err := i.login(w, r, p.req, person, m)
	if err != nil {
		i.internalError(w, r, err)
		return
	}
	i.cfg.Logger.Info("devidp: login", "sp", p.req.sp.entityID, "method", m.ID, "level", m.Level, "session_index", out.login.sessionIndex)
	i.deliver(w, r, out)
}

// take removes a pending login; false when another request took it first.
func (i *IdP) take(p *pendingLogin) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.pending[p.token] != p {
		return false
	}
	delete(i.pending, p.token)
	return true
}

func (i *IdP) person(nationalID string) (Person, bool) {
	for _, p := range i.cfg.Persons {
		if p.NationalID == nationalID {
			return p, true
		}
	}
	return Person{}, false
}

// login records a completed login in the SSO session (the same one when the same person logs
// in again, a new one otherwise) and sets the session cookie.
func (i *IdP) login(w http.ResponseWriter, r *http.Request, a *authnRequest, p Person, m method) (*outcome, error) {
	now := i.now()
	i.mu.Lock()
	s := i.sessionLocked(r, now)
	i.mu.Unlock()
	if s == nil || s.person.NationalID != p.NationalID {
		id, err := i.randomHex(32)
		if err != nil {
			return nil, err
		}
		index, err := saml.NewID(i.cfg.Rand)
		if err != nil {
			return nil, err
		}
		s = &ssoSession{id: id, person: p, sessionIndex: index, expires: now.Add(i.cfg.SessionIndexTTL), nameIDs: map[string]string{}}
	}
	i.mu.Lock()
	if c := cookieValue(r); i.sessions[c] != s {
		delete(i.sessions, c) // the browser's previous session, replaced by s
	}
	i.sweepSessionsLocked(now)
	s.method = m
	s.authnInstant = now
	i.sessions[s.id] = s
	i.mu.Unlock()
	i.setSessionCookie(w, s.id)
	return i.answerFrom(s, a)
}

// setSessionCookie sets the SSO session cookie; an empty value expires it.
func (i *IdP) setSessionCookie(w http.ResponseWriter, value string) {
	c := &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     i.prefix,
		HttpOnly: true,
		Secure:   strings.HasPrefix(i.cfg.BaseURL, "https:"),
		SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// fromSession answers a from the browser's SSO session, or returns nil when it cannot.
func (i *IdP) fromSession(r *http.Request, a *authnRequest) *outcome {
	i.mu.Lock()
	s := i.sessionLocked(r, i.now())
	ok := s != nil && s.satisfies(a)
	i.mu.Unlock()
	if !ok {
		return nil
	}
	out, err := i.answerFrom(s, a)
	if err != nil {
		i.cfg.Logger.Error("devidp: SSO session", "err", err)
		return nil
	}
	return out
}

// answerFrom is the successful outcome of a for session s, with the SP's NameID in this session.
func (i *IdP) answerFrom(s *ssoSession, a *authnRequest) (*outcome, error) {
	fresh, err := saml.NewID(i.cfg.Rand)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	nameID, ok := s.nameIDs[a.sp.entityID]
	if !ok {
		nameID = fresh
		s.nameIDs[a.sp.entityID] = nameID
	}
	return &outcome{req: a, login: &loginResult{
		person:       s.person,
		method:       s.method,
		sessionIndex: s.sessionIndex,
		authnInstant: s.authnInstant,
		nameID:       nameID,
	}}, nil
}

func cookieValue(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// sessionSweepEvery spaces the sweeps of expired SSO sessions: a sweep walks every session,
// and one per login made a run of many logins quadratic. Every lookup checks the expiry, so a
// session that waits for the next sweep is never used.
const sessionSweepEvery = time.Minute

// sweepSessionsLocked deletes the expired SSO sessions if the last sweep is sessionSweepEvery
// old; i.mu must be held.
func (i *IdP) sweepSessionsLocked(now time.Time) {
	if now.Sub(i.sessionsSwept) < sessionSweepEvery && now.After(i.sessionsSwept) {
		return
	}
	i.sessionsSwept = now
	for k, v := range i.sessions {
		if !now.Before(v.expires) {
			delete(i.sessions, k)
		}
	}
}

// sessionLocked returns the browser's unexpired SSO session; i.mu must be held.
func (i *IdP) sessionLocked(r *http.Request, now time.Time) *ssoSession {
	s := i.sessions[cookieValue(r)]
	if s == nil || !now.Before(s.expires) {
		return nil
	}
	return s
}

// deliver sends the outcome to the SP's ACS with the binding the request asked for.
func (i *IdP) deliver(w http.ResponseWriter, r *http.Request, o *outcome) {
	switch o.req.acs.Binding {
	case saml.BindingHTTPArtifact:
		art, err := i.issueArtifact(o)
		if err != nil {
			i.internalError(w, r, err)
			return
		}
		target := o.req.acs.Location + "?"
		if u, err := url.Parse(o.req.acs.Location); err == nil && u.RawQuery != "" {
			target = o.req.acs.Location + "&"
		}
		target += "SAMLart=" + url.QueryEscape(art)
		if o.req.relayState != "" {
			target += "&RelayState=" + url.QueryEscape(o.req.relayState)
		}
		http.Redirect(w, r, target, http.StatusFound)
	default:
		resp, err := i.response(o, o.req.id)
		if err == nil {
			resp, err = i.cfg.Signer.SignEnveloped(resp)
		}
		if err != nil {
			i.internalError(w, r, err)
			return
		}
		i.renderPost(w, o.req, base64.StdEncoding.EncodeToString(saml.Marshal(resp)))
	}
}

func (i *IdP) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(i.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("devidp: randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// oneTimeCode is the six-digit code a real IdP would send by SMS.
func (i *IdP) oneTimeCode() (string, error) {
	b := make([]byte, 4)
	if _, err := io.ReadFull(i.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("devidp: randomness: %w", err)
	}
	n := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) % 1000000
	return fmt.Sprintf("%06d", n), nil
}
