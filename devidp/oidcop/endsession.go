package oidcop

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/eidsp/eidsp/devidp/internal/devkit"
)

// frontchannelFrame is one client told of the logout by an iframe (OpenID Connect Front-Channel
// Logout 1.0 §2: its frontchannel_logout_uri with iss and sid).
type frontchannelFrame struct {
	ClientID string
	URL      string
}

// serveEndSession is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) by GET or POST:
// it ends the browser's SSO session, loads every other client's front-channel logout URI in an
// iframe and returns to the registered post_logout_redirect_uri with state.
func (p *Provider) serveEndSession(w http.ResponseWriter, r *http.Request) {
	var q url.Values
	var err error
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		err = r.ParseForm()
		q = r.PostForm
	} else {
		q, err = url.ParseQuery(r.URL.RawQuery)
	}
	if err != nil {
		p.refuse(w, r, "the logout request is malformed", err)
		return
	}
	for k, v := range q {
		if len(v) != 1 || len(v[0]) > 4*maxParamLen {
			p.refuse(w, r, "parameter "+k+" appears more than once or is too long", nil)
			return
		}
	}
	clientID, hintSid := q.Get("client_id"), ""
	if hint := q.Get("id_token_hint"); hint != "" {
		aud, sid, err := p.parseHint(hint)
		if err != nil {
			p.refuse(w, r, "id_token_hint is not an ID token of this provider", err)
			return
		}
		if clientID != "" && clientID != aud {
			p.refuse(w, r, "client_id is not the audience of id_token_hint", nil)
			return
		}
		clientID, hintSid = aud, sid
	}
	var client Client
	if clientID != "" {
		var ok bool
		if client, ok = p.client(clientID); !ok {
			p.refuse(w, r, "client_id names no registered client", nil)
			return
		}
	}
	target := q.Get("post_logout_redirect_uri")
	if target != "" {
		if clientID == "" {
			p.refuse(w, r, "post_logout_redirect_uri needs id_token_hint or client_id", nil)
			return
		}
		if !slices.Contains(client.PostLogoutRedirectURIs, target) {
			p.refuse(w, r, "post_logout_redirect_uri is not one the client registered (exact match)", nil)
			return
		}
		params := url.Values{}
		if state := q.Get("state"); state != "" {
			params.Set("state", state)
		}
		target = withParams(target, params)
	}
	locale := ""
	for _, tag := range strings.Fields(q.Get("ui_locales")) {
		if l, ok := devkit.Locale(tag); ok {
			locale = l
			break
		}
	}
	if locale == "" {
		locale = devkit.AcceptLocale(r.Header.Get("Accept-Language"))
	}

	frames := p.endSession(cookieValue(r, p.cookie), hintSid, clientID)
	p.setCookie(w, "", p.cfg.Now())
	p.cfg.Logger.Info("oidcop: logout", "preset", p.cfg.Preset, "client_id", clientID, "frontchannel", len(frames))
	if len(frames) == 0 && target != "" {
		http.Redirect(w, r, target, redirectStatus(r))
		return
	}
	p.renderLoggedOut(w, locale, frames, target)
}

// endSession ends the session of the cookie, else the one named by sid (the browser may not send
// the cookie on a cross-site POST), and returns the iframes for its clients other than the one
// logging out.
func (p *Provider) endSession(cookie, sid, clientID string) []frontchannelFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[cookie]
	if s == nil && sid != "" {
		for _, x := range p.sessions {
			if x.sid == sid {
				s = x
				break
			}
		}
	}
	if s == nil {
		return nil
	}
	delete(p.sessions, s.id)
	var frames []frontchannelFrame
	for _, id := range s.clients {
		c, ok := p.clients[id]
		if id == clientID || !ok || c.FrontchannelLogoutURI == "" {
			continue
		}
		frames = append(frames, frontchannelFrame{
			ClientID: id,
			URL:      withParams(c.FrontchannelLogoutURI, url.Values{"iss": {p.issuer}, "sid": {s.sid}}),
		})
	}
	return frames
}

// parseHint verifies an id_token_hint: our signature by a published key and our issuer. An
// expired token is a fine hint (OpenID Connect RP-Initiated Logout 1.0 §2).
func (p *Provider) parseHint(hint string) (aud, sid string, err error) {
	tok, err := jwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", "", err
	}
	kid := tok.Headers[0].KeyID
	var key *jose.JSONWebKey
	for _, k := range p.publishedKeys() {
		if k.kid == kid {
			key = &jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid}
			break
		}
	}
	if key == nil {
		return "", "", errors.New("unknown kid")
	}
	var cl jwt.Claims
	var extra struct {
		Sid string `json:"sid"`
	}
	if err := tok.Claims(key, &cl, &extra); err != nil {
		return "", "", err
	}
	if cl.Issuer != p.issuer || len(cl.Audience) != 1 {
		return "", "", errors.New("wrong issuer or audience")
	}
	return cl.Audience[0], extra.Sid, nil
}
