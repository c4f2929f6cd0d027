package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// Observer receives what the handlers measure. metrics.Metrics implements it; a nil Observer
// means no metrics and no GET /metrics.
type Observer interface {
	Login(result, reason, idp, profile, instrument string)
	Logout(initiator, result string)
	ObserveArtifactResolution(d time.Duration)
	ObserveACS(binding string, d time.Duration)
	Handler() http.Handler
}

// Audit records: every login and logout that ends — and later every admin action — writes one
// log line with audit=true and the fixed attribute set below, whatever else the line carries.
// A failure's audit line is the error handler's "request failed" line, so a failed request
// still logs exactly once. The same record feeds the counters, so that the audit log and the
// metrics cannot disagree.

// subject is whose login or logout it is, as far as it is known from trusted state (our
// configuration, the pending login, the session) — never from the unverified request.
type subject struct {
	idp, profile, sessionIndex, nidHash string
	nidMasked                           string // identity.Mask, for the admin pages' audit trail
	level                               int
}

// record is one audit record.
type record struct {
	action     string // login | logout
	initiator  string // logout: sp | idp
	result     string // success | failure; logout also sent, local_only, partial
	reason     string // the failure's reason class; "" on success
	instrument string
	subject
}

const subjectKey = "eidsp.subject"

// setSubject remembers whose request this is, for the audit line should it fail.
func setSubject(c *echo.Context, sub subject) { c.Set(subjectKey, sub) }

// audit writes the record's line at level with msg and counts it. extra must not repeat the
// fixed attributes.
func (s *Server) audit(c *echo.Context, level slog.Level, msg string, r record, extra ...any) {
	attrs := []any{"audit", true, "action", r.action, "result", r.result, "reason", r.reason,
		"idp", r.idp, "profile", r.profile, "session_index", r.sessionIndex, "nid_hash", r.nidHash,
		"client_ip", c.RealIP(), "ref", c.Get(refKey)}
	if r.initiator != "" {
		attrs = append(attrs, "initiator", r.initiator)
	}
	s.Log.Log(c.Request().Context(), level, msg, append(attrs, extra...)...)
	if r.action == "login" || r.action == "logout" {
		result := r.result
		if r.reason != "" {
			result += ": " + r.reason
		}
		s.trail(&session.AuditEvent{Time: s.Now(), Event: r.action, Result: result, Person: r.nidMasked,
			PersonHash: r.nidHash, IdP: r.idp, Profile: r.profile, Level: r.level, Instrument: r.instrument,
			Detail: r.initiator, Ref: refOf(c)})
	}
	if s.Metrics == nil {
		return
	}
	switch r.action {
	case "login":
		s.Metrics.Login(r.result, r.reason, r.idp, r.profile, r.instrument)
	case "logout":
		s.Metrics.Logout(r.initiator, r.result)
	}
}

// failureRecord is the audit record of a failed request on a login or logout endpoint; false
// for every other endpoint.
func failureRecord(c *echo.Context, pe *pageError) (record, bool) {
	r := record{result: "failure", reason: pe.Reason}
	switch c.Request().URL.Path {
	case "/login", "/saml/acs", oidcCallbackPath:
		r.action = "login"
	case "/logout", oidcLoggedOutPath:
		r.action, r.initiator = "logout", "sp"
	case "/saml/slo":
		// Which message it was is all that is read from the request; the issuer is not trusted
		// before the signature verifies, so it names no IdP here.
		r.action, r.initiator = "logout", "sp"
		if c.QueryParam("SAMLRequest") != "" {
			r.initiator = "idp"
		}
	default:
		return record{}, false
	}
	r.subject, _ = c.Get(subjectKey).(subject)
	return r, true
}

// observeACS records the duration of an ACS request that started at start. Latency is measured
// with the real monotonic clock, not the injected one the protocol checks use.
func (s *Server) observeACS(binding string, start time.Time) {
	if s.Metrics != nil {
		s.Metrics.ObserveACS(binding, time.Since(start))
	}
}

func (s *Server) observeArtifactResolution(start time.Time) {
	if s.Metrics != nil {
		s.Metrics.ObserveArtifactResolution(time.Since(start))
	}
}

// joinIndexes is the session_index attribute of a logout naming several sessions.
func joinIndexes(idx []string) string { return strings.Join(idx, " ") }
