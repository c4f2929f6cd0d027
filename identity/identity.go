// Package identity owns the normalised identity every protocol adapter produces: who the user is
// (national identity number and its kind), how they proved it (instrument, eID, level) and where
// (IdP, session index). It also validates Norwegian identity numbers and maps IdP attributes onto
// the identity. It imports no protocol package: saml/ and the later oidc/ both produce an Identity.
package identity

import "time"

// Kind classifies a national identity number.
type Kind string

const (
	KindFNR          Kind = "fnr"           // fødselsnummer
	KindDNumber      Kind = "dnr"           // D-number: first digit + 4
	KindHNumber      Kind = "hnr"           // H-number: month + 40
	KindSyntheticFNR Kind = "synthetic-fnr" // synthetic test person (Tenor/TestID): month + 80
	KindSyntheticDNR Kind = "synthetic-dnr" // synthetic D-number: day + 40 and month + 80
)

// Synthetic reports whether the kind belongs to a synthetic test person, which a production
// configuration must never accept.
func (k Kind) Synthetic() bool { return k == KindSyntheticFNR || k == KindSyntheticDNR }

// Identity is the outcome of a successful login, whatever the protocol.
type Identity struct {
	NationalID string `json:"national_id"`
	// Subject is the IdP's subject identifier, set only when the IdP released no national
	// identity number (BankID OIDC without nnin_altsub); it is then the only user key.
	Subject         string    `json:"subject,omitempty"`
	Kind            Kind      `json:"national_id_kind"`
	Instrument      string    `json:"instrument"`     // e.g. ips:OTP1PKI, or "unknown"
	Level           int       `json:"security_level"` // Norwegian level: 3 or 4
	LoA             string    `json:"loa"`            // eIDAS LoA URI for Level
	AuthMethod      string    `json:"auth_method"`    // eID used as the IdP names it (open list)
	IdP             string    `json:"idp"`            // configured IdP name
	SessionIndex    string    `json:"session_index"`
	NameID          string    `json:"-"` // needed for logout; never a user key
	NameIDFormat    string    `json:"-"`
	Culture         string    `json:"culture"`
	OnBehalfOf      string    `json:"on_behalf_of"`
	AuthenticatedAt time.Time `json:"authenticated_at"`
}

// Instrument values of Buypass IPS (spec/PROFILE.md §3).
const (
	InstrumentSmartCard   = "ips:BPSC"
	InstrumentPasswordOTP = "ips:OTP1PKI"
	InstrumentMobileApp   = "ips:CC2PKI"
	InstrumentUnknown     = "unknown"
)

// eIDAS levels of assurance for the Norwegian levels.
const (
	LoASubstantial = "http://eidas.europa.eu/LoA/substantial"
	LoAHigh        = "http://eidas.europa.eu/LoA/high"
)
