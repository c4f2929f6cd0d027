package handlers

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/eidsp/eidsp/saml"
	"github.com/labstack/echo/v5"
)

// pageError is a failure the user sees as a page: Key picks the translated text, Reason is the
// class for the log line and metrics, Err the cause for the log only.
type pageError struct {
	Status int
	Key    string
	Reason string
	Retry  string // where "try again" leads
	Err    error
}

func (e *pageError) Error() string {
	if e.Err == nil {
		return e.Key
	}
	return e.Key + ": " + e.Err.Error()
}

func (e *pageError) Unwrap() error { return e.Err }

func badRequest(reason string, err error) *pageError {
	return &pageError{Status: http.StatusBadRequest, Key: "bad_request", Reason: reason, Err: err}
}

// loginFailure maps a rejection from saml to what the user sees.
func loginFailure(err error) *pageError {
	reason := saml.ReasonOf(err)
	var pr *protocolError
	if errors.As(err, &pr) {
		reason = saml.Reason(pr.reason)
		if pr.outcome != "" {
			return &pageError{Status: http.StatusForbidden, Key: pr.outcome, Reason: pr.reason, Err: err}
		}
	}
	pe := &pageError{Status: http.StatusForbidden, Key: "verification", Reason: string(reason), Err: err}
	switch reason {
	case saml.ReasonStatus:
		pe.Key = "idp_error"
		switch {
		case saml.IsStatus(err, "AuthnFailed"):
			pe.Key = "cancelled"
		case saml.IsStatus(err, "NoAuthnContext"):
			pe.Key = "no_authn_context"
		case saml.IsStatus(err, "UnknownPrincipal"):
			pe.Key = "unknown_principal"
		case saml.IsStatus(err, "RequestDenied"):
			pe.Key = "request_denied"
		}
	case saml.ReasonTransport:
		pe.Status, pe.Key = http.StatusBadGateway, "idp_unreachable"
	case saml.ReasonAttributes:
		pe.Key = "attributes"
	case saml.ReasonReplay:
		pe.Status, pe.Key = http.StatusBadRequest, "expired"
	case saml.ReasonLevel:
		pe.Key = "level_too_low"
	case "":
		pe.Status, pe.Key, pe.Reason = http.StatusInternalServerError, "internal", "internal"
	}
	return pe
}

const refKey = "eidsp.ref"

// refOf is the request's reference, set by the reference middleware ("" before it ran).
func refOf(c *echo.Context) string { r, _ := c.Get(refKey).(string); return r }

// reference gives every request a reference the user can quote and the log line carries.
func (s *Server) reference(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		ref := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
		c.Set(refKey, ref)
		c.Response().Header().Set("X-Request-Id", ref)
		return next(c)
	}
}

// securityHeaders: no framing, no sniffing, no referrer (an artifact in a URL must not leak),
// a CSP that allows only our own styles, and no caching of anything dynamic.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	// The theme's colours come as one hashed inline <style>, its logo as a data: image. The
	// theme is applied before the router is built, so the policy is computed once.
	csp := "default-src 'none'; style-src " + s.Pages.StyleSources() + "; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return func(c *echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			h.Set("Cache-Control", "no-cache, no-store, must-revalidate, private")
			h.Set("Pragma", "no-cache")
		}
		if s.secure() {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// maxFormBytes caps every request body except the ACS's, which has its own configured limit.
const maxFormBytes = 16 << 10

func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		// The ACS has its own configured limit; admin metadata uploads have maxAdminUpload (after
		// authentication, set in adminPage and adminAPI).
		if r := c.Request(); r.Body != nil && r.URL.Path != "/saml/acs" && !isAdminUpload(r) {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
		}
		return next(c)
	}
}

// recoverPanic turns a panic in a handler into an internal error page; the process goes on.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r) // the reverse proxy aborting a response: let net/http cut the connection
				}
				err = &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "panic", Err: fmt.Errorf("panic: %v", r)}
			}
		}()
		return next(c)
	}
}

// handleError is the one place that renders error pages and writes the failure's log line.
func (s *Server) handleError(c *echo.Context, err error) {
	if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
		return
	}
	var pe *pageError
	if !errors.As(err, &pe) {
		pe = &pageError{Status: http.StatusInternalServerError, Key: "internal", Reason: "internal", Err: err}
		var sc echo.HTTPStatusCoder
		if errors.As(err, &sc) && sc.StatusCode() != 0 {
			pe.Status = sc.StatusCode()
			switch {
			case pe.Status == http.StatusNotFound:
				pe.Key, pe.Reason = "not_found", "not_found"
			case pe.Status < 500:
				pe.Key, pe.Reason = "bad_request", "http"
			}
		}
	}
	if pe.Retry == "" {
		pe.Retry = "/"
	}
	ref := refOf(c)
	level := slog.LevelWarn
	if pe.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"method", c.Request().Method, "path", c.Request().URL.Path, "status", pe.Status,
		"error_key", pe.Key, "err", errString(pe.Err)}
	if r, ok := failureRecord(c, pe); ok {
		s.audit(c, level, "request failed", r, attrs...)
	} else {
		s.Log.Log(c.Request().Context(), level, "request failed",
			append([]any{"ref", ref, "reason", pe.Reason, "client_ip", c.RealIP()}, attrs...)...)
	}
	if p := c.Request().URL.Path; p == "/session" || p == "/auth" || strings.HasPrefix(p, "/admin/api/") {
		_ = c.JSON(pe.Status, map[string]string{"error": pe.Key, "reference": ref})
		return
	}
	s.render(c, pe.Status, "error", map[string]string{"Key": pe.Key, "Retry": pe.Retry, "Reference": ref})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// render writes a page in the user's language.
func (s *Server) render(c *echo.Context, status int, page string, data any) {
	p := s.Pages.NewPage(s.locale(c), s.Opt.PortalName, c.Request().URL, data)
	var b strings.Builder
	if err := s.Pages.Render(&b, page, p); err != nil {
		s.Log.Error("render failed", "page", page, "err", err)
		_ = c.String(http.StatusInternalServerError, "internal error\n")
		return
	}
	_ = c.HTML(status, b.String())
}

// isAdminUpload reports whether r is one of the admin routes that take a metadata document.
func isAdminUpload(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodPost && strings.HasPrefix(p, "/admin/") &&
		(strings.HasSuffix(p, "/preview") || strings.HasSuffix(p, "/save") || strings.HasSuffix(p, "/metadata"))
}
