package identity

import "strings"

// Norwegian security levels (spec/PROFILE.md §4). Only 3 and 4 exist for eID logins.
const (
	Level3 = 3
	Level4 = 4
)

// SAML AuthnContextClassRef values the Norwegian levels travel as.
const (
	ClassRefPasswordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	ClassRefUnspecified                = "urn:oasis:names:tc:SAML:2.0:ac:classes:Unspecified"
	ClassRefSmartcardPKI               = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"
)

// loaLow is eIDAS "low", below every Norwegian eID level.
const loaLow = "http://eidas.europa.eu/LoA/low"

// ID-porten OpenID Connect acr values.
const (
	ACRSubstantial = "idporten-loa-substantial"
	ACRHigh        = "idporten-loa-high"
)

// LevelFromClassRef maps a SAML AuthnContextClassRef to a Norwegian level. Unspecified counts as
// level 3 because that is what ID-porten assumes when a request names no class.
func LevelFromClassRef(classRef string) (int, bool) {
	switch trimURI(classRef) {
	case ClassRefPasswordProtectedTransport, ClassRefUnspecified:
		return Level3, true
	case ClassRefSmartcardPKI:
		return Level4, true
	}
	return 0, false
}

// ClassRefForLevel returns the AuthnContextClassRef to request for a level, or "" for a level
// that does not exist.
func ClassRefForLevel(level int) string {
	switch level {
	case Level3:
		return ClassRefPasswordProtectedTransport
	case Level4:
		return ClassRefSmartcardPKI
	}
	return ""
}

// LoAForLevel returns the eIDAS level of assurance URI for a level, or "".
func LoAForLevel(level int) string {
	switch level {
	case Level3:
		return LoASubstantial
	case Level4:
		return LoAHigh
	}
	return ""
}

// LevelFromLoA maps an eIDAS level of assurance URI to a Norwegian level. eIDAS "low" has no
// Norwegian counterpart an eID login could carry, so it is not mapped.
func LevelFromLoA(loa string) (int, bool) {
	switch trimURI(loa) {
	case LoASubstantial:
		return Level3, true
	case LoAHigh:
		return Level4, true
	}
	return 0, false
}

// LevelFromACR maps an ID-porten OIDC acr value to a Norwegian level.
func LevelFromACR(acr string) (int, bool) {
	switch acr {
	case ACRSubstantial:
		return Level3, true
	case ACRHigh:
		return Level4, true
	}
	return 0, false
}

// ACRForLevel returns the ID-porten acr value for a level, or "".
func ACRForLevel(level int) string {
	switch level {
	case Level3:
		return ACRSubstantial
	case Level4:
		return ACRHigh
	}
	return ""
}

// trimURI drops the surrounding whitespace that XML Schema's anyURI collapses, so a
// pretty-printed <AuthnContextClassRef> still matches; nothing else is normalised.
func trimURI(s string) string { return strings.Trim(s, " \t\r\n") }
