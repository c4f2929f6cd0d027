package identity

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// OIDCPreset names an OpenID provider family: which claims carry the identity and which acr values
// carry the level (spec/PROFILE.md §9).
type OIDCPreset string

const (
	OIDCIDPorten OIDCPreset = "idporten" // ID-porten: pid, idporten-loa-*
	OIDCBankID   OIDCPreset = "bankid"   // BankID Norge: nnin_altsub when entitled, urn:bankid:*
	OIDCGeneric  OIDCPreset = "generic"  // a broker: pid, any of the known acr vocabularies
)

// Valid reports whether p is one of the presets above.
func (p OIDCPreset) Valid() bool {
	switch p {
	case OIDCIDPorten, OIDCBankID, OIDCGeneric:
		return true
	}
	return false
}

// BankID OpenID Connect acr values.
const (
	ACRBankIDHigh        = "urn:bankid:bid;LOA=4"
	ACRBankIDSubstantial = "urn:bankid:bis;LOA=3"
)

// The acr values ID-porten's first OIDC generation used; a generic broker may still send them.
const (
	acrLegacyLevel3 = "Level3"
	acrLegacyLevel4 = "Level4"
)

// Claim and scope names the mapping reads.
const (
	ClaimPID        = "pid"         // ID-porten (and generic): national identity number
	ClaimNNINAltSub = "nnin_altsub" // BankID: national identity number, for entitled clients
	ScopeNNINAltSub = "nnin_altsub" // the BankID scope that asks for ClaimNNINAltSub
)

// LevelFromACR maps an acr value to a Norwegian level under the preset's vocabulary. The generic
// preset knows ID-porten's, BankID's, ID-porten's legacy (Level3, Level4) and the eIDAS LoA URIs.
func (p OIDCPreset) LevelFromACR(acr string) (int, bool) {
	switch p {
	case OIDCIDPorten:
		return LevelFromACR(acr)
	case OIDCBankID:
		return levelFromBankIDACR(acr)
	case OIDCGeneric:
		if l, ok := LevelFromACR(acr); ok {
			return l, true
		}
		if l, ok := levelFromBankIDACR(acr); ok {
			return l, true
		}
		switch acr {
		case acrLegacyLevel3:
			return Level3, true
		case acrLegacyLevel4:
			return Level4, true
		}
		return LevelFromLoA(acr)
	}
	return 0, false
}

// ACRForLevel returns the acr_values to request for a minimum level, or "" when the preset has
// no vocabulary the provider is known to understand (generic) or the level does not exist.
func (p OIDCPreset) ACRForLevel(level int) string {
	switch p {
	case OIDCIDPorten:
		return ACRForLevel(level)
	case OIDCBankID:
		switch level {
		case Level3:
			return ACRBankIDSubstantial
		case Level4:
			return ACRBankIDHigh
		}
	}
	return ""
}

func levelFromBankIDACR(acr string) (int, bool) {
	switch acr {
	case ACRBankIDSubstantial:
		return Level3, true
	case ACRBankIDHigh:
		return Level4, true
	}
	return 0, false
}

// bankIDAMR names BankID's amr values as the eID the user chose; anything else is kept as sent.
var bankIDAMR = map[string]string{"BID": "BankID", "BIM": "BankID", "BIA": "BankID"}

// ClaimOptions is what MapClaims needs besides the claims: the preset, and what the request
// asked for.
type ClaimOptions struct {
	Preset OIDCPreset
	IdP    string // configured IdP name
	// NNINRequested says the client asked for the nnin_altsub scope (BankID). Without it the
	// claim is ignored even if present: only an entitled client may key users on it.
	NNINRequested bool
	// AllowSynthetic accepts synthetic test persons. Only test configurations may set it.
	AllowSynthetic bool
	// OnBehalfOf is echoed from the request (ID-porten does not return it in the ID token).
	OnBehalfOf string
	// Now stands in for auth_time when the provider sends none.
	Now time.Time
}

// Limits on the OIDC claims the identity carries; sub's limit is OpenID Connect Core §2's.
const (
	maxSubLen     = 255
	maxSIDLen     = 255
	maxAMRValues  = 10
	maxAMRNameLen = 50
)

// MapClaims turns the payload of a verified ID token into an Identity. It checks only the claims
// that make the identity; the token's signature, issuer, audience, times and nonce are the
// protocol's business and must be checked before.
//
// Rules: sub is required (it becomes NameID). ID-porten and generic require pid; BankID takes
// nnin_altsub when NNINRequested and present, and otherwise sets Subject = sub with no national
// id. A national id present is always validated and synthetic ones are refused unless allowed.
// acr is required and must be in the preset's vocabulary (ErrInvalidLevel otherwise). amr is an
// array of strings joined with "," (BankID's BID/BIM/BIA read as "BankID", which is also the
// default when BankID sends no amr). sid becomes SessionIndex. The locale is cosmetic: locale,
// else the first ui_locales entry, reduced to its language and kept only if it is one of nb nn
// se en; anything else is dropped rather than failing the login. auth_time, when present, must be
// a number of seconds; otherwise AuthenticatedAt is Now.
//
// Errors wrap the sentinels of Map (ErrMissingAttribute, ErrInvalidAttribute, ErrInvalidLevel,
// ErrSyntheticNotAllowed, ErrInvalidNationalID) in an *AttributeError naming the claim; no error
// text contains a claim value.
func MapClaims(claims map[string]any, opt ClaimOptions) (Identity, error) {
	if !opt.Preset.Valid() {
		return Identity{}, fmt.Errorf("%w: unknown OIDC preset %q", ErrInvalidAttribute, opt.Preset)
	}
	sub, err := claimString(claims, "sub")
	if err != nil {
		return Identity{}, err
	}
	if sub == "" {
		return Identity{}, attrError("sub", ErrMissingAttribute, "")
	}
	if reason := checkOpaque(sub, maxSubLen); reason != "" {
		return Identity{}, attrError("sub", ErrInvalidAttribute, reason)
	}

	id := Identity{
		Instrument: InstrumentUnknown,
		IdP:        opt.IdP,
		NameID:     sub,
	}

	nidClaim := ClaimPID
	if opt.Preset == OIDCBankID {
		nidClaim = ""
		if opt.NNINRequested {
			nidClaim = ClaimNNINAltSub
		}
	}
	nid := ""
	if nidClaim != "" {
		if nid, err = claimString(claims, nidClaim); err != nil {
			return Identity{}, err
		}
	}
	switch {
	case nid != "":
		kind, err := ParseNationalID(nid)
		if err != nil {
			return Identity{}, &AttributeError{Attribute: nidClaim, Err: err}
		}
		if kind.Synthetic() && !opt.AllowSynthetic {
			return Identity{}, attrError(nidClaim, ErrSyntheticNotAllowed, "")
		}
		id.NationalID, id.Kind = nid, kind
	case opt.Preset == OIDCBankID:
		id.Subject = sub
	default:
		return Identity{}, attrError(nidClaim, ErrMissingAttribute, "")
	}

	acr, err := claimString(claims, "acr")
	if err != nil {
		return Identity{}, err
	}
	level, ok := opt.Preset.LevelFromACR(acr)
	if !ok {
		return Identity{}, attrError("acr", ErrInvalidLevel, "absent or not a known level of this provider")
	}
	id.Level, id.LoA = level, LoAForLevel(level)

	if id.AuthMethod, err = authMethodFromAMR(claims, opt.Preset); err != nil {
		return Identity{}, err
	}

	sid, err := claimString(claims, "sid")
	if err != nil {
		return Identity{}, err
	}
	if reason := checkOpaque(sid, maxSIDLen); sid != "" && reason != "" {
		return Identity{}, attrError("sid", ErrInvalidAttribute, reason)
	}
	id.SessionIndex = sid

	id.Culture = cultureFromClaims(claims)

	if opt.OnBehalfOf != "" {
		if reason := checkOnBehalfOf(opt.OnBehalfOf); reason != "" {
			return Identity{}, attrError("onbehalfof", ErrInvalidAttribute, reason)
		}
		id.OnBehalfOf = opt.OnBehalfOf
	}

	id.AuthenticatedAt = opt.Now
	if v, present := claims["auth_time"]; present && v != nil {
		secs, ok := NumericDate(v)
		if !ok {
			return Identity{}, attrError("auth_time", ErrInvalidAttribute, "not a number of seconds")
		}
		id.AuthenticatedAt = time.Unix(secs, 0).UTC()
	}
	return id, nil
}

// ValidOnBehalfOf reports whether v is an acceptable onbehalfof value (A-Z a-z 0-9 _ -, at most
// 64 bytes), the same rule that applies to ID-porten's SAML OnBehalfOf attribute.
func ValidOnBehalfOf(v string) bool { return checkOnBehalfOf(v) == "" }

// NumericDate reads a JWT NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch, as
// json.Number (a decoder with UseNumber) or float64. Fractions are truncated. Values outside
// 0..2^40 are refused, so no arithmetic on the result can overflow.
func NumericDate(v any) (int64, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			f = float64(i)
		} else if f, err = n.Float64(); err != nil {
			return 0, false
		}
	case float64:
		f = n
	default:
		return 0, false
	}
	if math.IsNaN(f) || f < 0 || f > 1<<40 {
		return 0, false
	}
	return int64(f), true
}

// claimString returns a string claim, "" when absent or null; any other JSON type is an error.
func claimString(claims map[string]any, name string) (string, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", attrError(name, ErrInvalidAttribute, "not a string")
	}
	return s, nil
}

func authMethodFromAMR(claims map[string]any, preset OIDCPreset) (string, error) {
	var names []string
	switch v := claims["amr"].(type) {
	case nil:
	case []any:
		if len(v) > maxAMRValues {
			return "", attrError("amr", ErrInvalidAttribute, "too many values")
		}
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", attrError("amr", ErrInvalidAttribute, "not an array of strings")
			}
			if s == "" || len(s) > maxAMRNameLen || strings.Contains(s, ",") || checkAuthMethod(s) != "" {
				return "", attrError("amr", ErrInvalidAttribute, "a value is empty, too long or has a comma or control character")
			}
			if preset == OIDCBankID {
				if n, ok := bankIDAMR[s]; ok {
					s = n
				}
			}
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
	default:
		return "", attrError("amr", ErrInvalidAttribute, "not an array of strings")
	}
	if len(names) == 0 && preset == OIDCBankID {
		return "BankID", nil
	}
	m := strings.Join(names, ",")
	if reason := checkAuthMethod(m); reason != "" {
		return "", attrError("amr", ErrInvalidAttribute, reason)
	}
	return m, nil
}

// cultureFromClaims reads the language the provider showed. It never fails: see MapClaims.
func cultureFromClaims(claims map[string]any) string {
	for _, name := range []string{"locale", "ui_locales"} {
		s, ok := claims[name].(string)
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(s), " ")
		lang, _, _ := strings.Cut(first, "-")
		lang, _, _ = strings.Cut(lang, "_")
		lang = strings.ToLower(lang)
		if checkCulture(lang) == "" {
			return lang
		}
	}
	return ""
}

// checkOpaque accepts an opaque identifier of printable ASCII without spaces, the shape of every
// sub and sid seen in practice, so it cannot break a log line, a header or a page.
func checkOpaque(v string, maxLen int) string {
	if len(v) > maxLen {
		return "too long"
	}
	for i := range len(v) {
		if v[i] < 0x21 || v[i] > 0x7e {
			return "not printable ASCII"
		}
	}
	return ""
}
