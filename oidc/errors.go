package oidc

import (
	"errors"
	"fmt"
	"runtime"
)

// Reason classifies why a login was rejected. The values are those of saml.Reason, so the
// handlers map both protocols' failures to the same pages, log fields and metrics.
type Reason string

const (
	ReasonMalformed    Reason = "malformed"      // a parameter, token or response is not what the protocol allows
	ReasonSignature    Reason = "signature"      // the ID token's signature does not verify with the provider's keys
	ReasonAlgorithm    Reason = "algorithm"      // the ID token's alg is outside the allow-list (none, HS*, …)
	ReasonIssuer       Reason = "issuer"         // iss (callback or token) is not the provider we sent the user to
	ReasonAudience     Reason = "audience"       // the ID token is not for our client_id (aud, azp)
	ReasonInResponseTo Reason = "in_response_to" // state or nonce does not belong to this login
	ReasonTime         Reason = "time"           // expired, issued in the future, or not yet valid
	ReasonReplay       Reason = "replay"         // the code was used before, expired, or its PKCE does not match (invalid_grant)
	ReasonStatus       Reason = "status"         // the provider answered with an OAuth error; Code holds it
	ReasonAttributes   Reason = "attributes"     // the claims do not make a valid identity
	ReasonLevel        Reason = "level"          // acr is not a known level, or below the required one
	ReasonTransport    Reason = "transport"      // the provider could not be reached or answered nonsense
	ReasonPanic        Reason = "panic"          // a library panicked on the input
)

// Error is a rejected login. Code is the OAuth error code when Reason is ReasonStatus or
// ReasonReplay (access_denied, invalid_grant, …). Err carries the detail for the log; it never
// contains a token, a code, a national identity number or our state, nonce or verifier.
type Error struct {
	Reason Reason
	Code   string
	Err    error
}

func (e *Error) Error() string {
	s := string(e.Reason)
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// reject builds an *Error with a formatted cause.
func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the Reason of err, or "" when err is not a rejection from this package
// (a programming or configuration error).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Outcomes of an OAuth error answer, named like the pages the handlers render for the
// corresponding SAML status codes.
const (
	OutcomeCancelled      = "cancelled"        // access_denied: the user cancelled (or was refused)
	OutcomeNoAuthnContext = "no_authn_context" // unmet_authentication_requirements: the level cannot be met
	OutcomeIdPError       = "idp_error"        // anything else: a configuration or provider problem
)

// Outcome tells the handler which page fits a ReasonStatus error; "" for any other error.
func Outcome(err error) string {
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonStatus {
		return ""
	}
	switch e.Code {
	case "access_denied":
		return OutcomeCancelled
	case "unmet_authentication_requirements":
		return OutcomeNoAuthnContext
	}
	return OutcomeIdPError
}

// guard turns a panic inside a library call on untrusted input into a rejected login.
// Use as: defer guard(&err).
func guard(err *error) {
	if r := recover(); r != nil {
		// A runtime error names only the fault; any other panic value might quote the input.
		cause := errors.New("recovered from a panic")
		if re, ok := r.(runtime.Error); ok {
			cause = fmt.Errorf("recovered: %w", re)
		}
		*err = &Error{Reason: ReasonPanic, Err: cause}
	}
}
