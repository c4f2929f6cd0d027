package saml

import (
	"errors"
	"fmt"
)

// Reason classifies why a message was rejected. It is what the log line, the metrics and the
// error page key on; the wrapped cause carries the detail for the log.
type Reason string

const (
	ReasonMalformed    Reason = "malformed"      // not the XML or encoding we expect
	ReasonTooLarge     Reason = "too_large"      // a size, element or depth limit was hit
	ReasonDoctype      Reason = "doctype"        // a DTD, entity or other directive
	ReasonSignature    Reason = "signature"      // missing, invalid or wrongly shaped signature
	ReasonAlgorithm    Reason = "algorithm"      // an algorithm or transform outside the allow-list
	ReasonDecrypt      Reason = "decrypt"        // EncryptedAssertion could not be decrypted
	ReasonIssuer       Reason = "issuer"         // not the IdP we sent the request to
	ReasonAudience     Reason = "audience"       // not for us
	ReasonRecipient    Reason = "recipient"      // SubjectConfirmationData Recipient is not our ACS
	ReasonDestination  Reason = "destination"    // Destination is not our endpoint
	ReasonInResponseTo Reason = "in_response_to" // not an answer to a request of ours
	ReasonTime         Reason = "time"           // not yet valid, expired, or too old
	ReasonReplay       Reason = "replay"         // an artifact or assertion seen before
	ReasonStatus       Reason = "status"         // the IdP answered with a non-success status
	ReasonAssertion    Reason = "assertion"      // the assertion's structure breaks the profile
	ReasonAttributes   Reason = "attributes"     // the attributes do not make a valid identity
	ReasonLevel        Reason = "level"          // security level below what the service requires
	ReasonArtifact     Reason = "artifact"       // the artifact is malformed or from another IdP
	ReasonTransport    Reason = "transport"      // the IdP could not be reached, or a SOAP fault
	ReasonPanic        Reason = "panic"          // a library panicked on the input
)

// Error is a rejected message. Status holds the IdP's status codes when Reason is ReasonStatus.
type Error struct {
	Reason Reason
	Status []string // top-level then second-level status code URIs
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// reject builds an *Error with a formatted cause.
func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the Reason of err, or "" when err is not a rejection from this package.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// guard turns a panic inside a library call on untrusted input into a rejected message.
// Use as: defer guard(&err).
func guard(err *error) {
	if r := recover(); r != nil {
		*err = &Error{Reason: ReasonPanic, Err: fmt.Errorf("recovered: %v", r)}
	}
}
