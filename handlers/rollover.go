package handlers

import (
	"time"

	"github.com/eidsp/eidsp/saml"
)

// rolledOver reports whether the key rollover has happened at now. It is judged per request on
// the injected clock, so a running server switches keys at RolloverAt without a restart.
func (s *Server) rolledOver(now time.Time) bool {
	return (!s.RolloverAt.IsZero() && !now.Before(s.RolloverAt)) || (s.RolloverForced != nil && s.RolloverForced())
}

// signer is the key that signs our messages to idp at now: the current one, or the next one
// once the rollover has happened.
func (s *Server) signer(idp *IdP, now time.Time) saml.Signer {
	if idp.NextSigner != nil && s.rolledOver(now) {
		return *idp.NextSigner
	}
	return idp.Signer
}

// SPMetadataAt is the SP metadata to publish at now: both keys before the rollover, the next
// key alone after it.
func (s *Server) SPMetadataAt(now time.Time) []byte {
	if s.SPMetadataFunc != nil {
		return s.SPMetadataFunc(now, s.rolledOver(now))
	}
	return s.SPMetadata
}
