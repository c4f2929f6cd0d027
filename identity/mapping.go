package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors from Map, for errors.Is. Together with ErrInvalidNationalID they tell the caller which
// user-facing message to show. None of the error texts contains an attribute value, so they may be
// logged as they are.
var (
	ErrMissingAttribute    = errors.New("identity: missing attribute")
	ErrSyntheticNotAllowed = errors.New("identity: synthetic test person not allowed")
	ErrInvalidLevel        = errors.New("identity: invalid security level")
	ErrInvalidAttribute    = errors.New("identity: invalid attribute")
)

// AttributeError names the attribute an error is about. Err wraps one of the sentinels above (or
// ErrInvalidNationalID) together with the reason.
type AttributeError struct {
	Attribute string // attribute name as configured in the AttributeMap
	Err       error
}

func (e *AttributeError) Error() string { return fmt.Sprintf("%v (attribute %q)", e.Err, e.Attribute) }
func (e *AttributeError) Unwrap() error { return e.Err }

func attrError(name string, sentinel error, reason string) error {
	if reason == "" {
		return &AttributeError{Attribute: name, Err: sentinel}
	}
	return &AttributeError{Attribute: name, Err: fmt.Errorf("%w: %s", sentinel, reason)}
}

// Limits on the free-form attributes. They exist so an IdP cannot push arbitrary text into logs
// and pages through us.
const (
	maxAuthMethodLen = 100
	maxOnBehalfOfLen = 64
	maxInstrumentLen = 64
)

// AttributeMap names the SAML attributes an IdP uses for each part of the Identity. An empty name
// means the IdP does not send that attribute.
type AttributeMap struct {
	NationalID string // attribute holding the national identity number, e.g. "uid"
	Level      string // e.g. "SecurityLevel"; empty: the level comes from AuthnContextClassRef / LoA
	AuthMethod string // e.g. "AuthMethod"
	Culture    string // e.g. "Culture"
	OnBehalfOf string // e.g. "OnBehalfOf"
	Instrument string // attribute carrying the Buypass instrument used; empty when the IdP sends none
}

// PresetIDPorten is the attribute set ID-porten sends (spec/PROFILE.md §4).
func PresetIDPorten() AttributeMap {
	return AttributeMap{
		NationalID: "uid",
		Level:      "SecurityLevel",
		AuthMethod: "AuthMethod",
		Culture:    "Culture",
		OnBehalfOf: "OnBehalfOf",
	}
}

// PresetIPS is ID-porten's attribute set plus the instrument used, which Buypass IPS returns in a
// configurable attribute (spec/PROFILE.md §3).
func PresetIPS() AttributeMap {
	m := PresetIDPorten()
	m.Instrument = "Instrument"
	return m
}

// PresetGeneric suits a SAML IdP or broker that sends only the national identity number and the
// eID used; the level comes from AuthnContextClassRef.
func PresetGeneric() AttributeMap {
	return AttributeMap{NationalID: "uid", AuthMethod: "AuthMethod"}
}

// Validate reports every configuration problem at once: the national identity attribute is
// required, and no attribute name may serve two fields.
func (m AttributeMap) Validate() error {
	var errs []error
	if m.NationalID == "" {
		errs = append(errs, errors.New("identity: attribute map: national id attribute name is required"))
	}
	seen := map[string]string{}
	for _, f := range []struct{ field, name string }{
		{"national id", m.NationalID},
		{"level", m.Level},
		{"auth method", m.AuthMethod},
		{"culture", m.Culture},
		{"on-behalf-of", m.OnBehalfOf},
		{"instrument", m.Instrument},
	} {
		if f.name == "" {
			continue
		}
		if other, ok := seen[f.name]; ok {
			errs = append(errs, fmt.Errorf("identity: attribute map: %q used for both %s and %s", f.name, other, f.field))
			continue
		}
		seen[f.name] = f.field
	}
	return errors.Join(errs...)
}

// Assertion is what the SAML layer has verified and hands over for mapping.
type Assertion struct {
	Attributes   map[string][]string
	ClassRef     string // AuthnContextClassRef
	SessionIndex string
	NameID       string
	NameIDFormat string
	IdP          string // configured IdP name
	AuthnInstant time.Time
}

// MapOptions holds the per-deployment policy for Map.
type MapOptions struct {
	// AllowSynthetic accepts synthetic test persons (Tenor, TestID). Only test configurations
	// may set it.
	AllowSynthetic bool
}

// Map turns a verified assertion into an Identity.
//
// The national identity attribute must hold exactly one valid number. The level comes from the
// level attribute when it is configured and present ("3" or "4"), otherwise from ClassRef (an
// AuthnContextClassRef or an eIDAS LoA URI); when both give a level they must agree. The
// instrument is the instrument attribute's value, or InstrumentUnknown when the IdP sends none: it
// is never guessed from AuthMethod. Every other attribute is optional, single-valued and checked
// for shape; an attribute whose one value is empty counts as absent.
func (m AttributeMap) Map(a Assertion, opt MapOptions) (Identity, error) {
	if m.NationalID == "" {
		return Identity{}, fmt.Errorf("%w: no national id attribute configured", ErrMissingAttribute)
	}
	nid, ok, err := single(a.Attributes, m.NationalID)
	if err != nil {
		return Identity{}, err
	}
	if !ok {
		return Identity{}, attrError(m.NationalID, ErrMissingAttribute, "")
	}
	kind, err := ParseNationalID(nid)
	if err != nil {
		return Identity{}, &AttributeError{Attribute: m.NationalID, Err: err}
	}
	if kind.Synthetic() && !opt.AllowSynthetic {
		return Identity{}, attrError(m.NationalID, ErrSyntheticNotAllowed, "")
	}

	level, err := m.level(a)
	if err != nil {
		return Identity{}, err
	}

	authMethod, err := optional(a.Attributes, m.AuthMethod, checkAuthMethod)
	if err != nil {
		return Identity{}, err
	}
	culture, err := optional(a.Attributes, m.Culture, checkCulture)
	if err != nil {
		return Identity{}, err
	}
	onBehalfOf, err := optional(a.Attributes, m.OnBehalfOf, checkOnBehalfOf)
	if err != nil {
		return Identity{}, err
	}
	instrument, err := optional(a.Attributes, m.Instrument, checkInstrument)
	if err != nil {
		return Identity{}, err
	}
	if instrument == "" {
		instrument = InstrumentUnknown
	}

	return Identity{
		NationalID:      nid,
		Kind:            kind,
		Instrument:      instrument,
		Level:           level,
		LoA:             LoAForLevel(level),
		AuthMethod:      authMethod,
		IdP:             a.IdP,
		SessionIndex:    a.SessionIndex,
		NameID:          a.NameID,
		NameIDFormat:    a.NameIDFormat,
		Culture:         culture,
		OnBehalfOf:      onBehalfOf,
		AuthenticatedAt: a.AuthnInstant,
	}, nil
}

func (m AttributeMap) level(a Assertion) (int, error) {
	// An IdP that states eIDAS low has said the login is too weak, whatever else it sends.
	if trimURI(a.ClassRef) == loaLow {
		return 0, fmt.Errorf("%w: AuthnContextClassRef is eIDAS low", ErrInvalidLevel)
	}
	fromRef, refOK := LevelFromClassRef(a.ClassRef)
	if !refOK {
		fromRef, refOK = LevelFromLoA(a.ClassRef)
	}

	v, present, err := single(a.Attributes, m.Level)
	if err != nil {
		return 0, err
	}
	if !present {
		if !refOK {
			return 0, fmt.Errorf("%w: no level attribute and AuthnContextClassRef is not a known level", ErrInvalidLevel)
		}
		return fromRef, nil
	}

	var fromAttr int
	switch v {
	case "3":
		fromAttr = Level3
	case "4":
		fromAttr = Level4
	default:
		return 0, attrError(m.Level, ErrInvalidLevel, "not 3 or 4")
	}
	if refOK && fromRef != fromAttr {
		return 0, attrError(m.Level, ErrInvalidLevel, "disagrees with AuthnContextClassRef")
	}
	return fromAttr, nil
}

// single returns the one value of a single-valued attribute. An unconfigured name or an attribute
// without values is absent; more than one value is an error, since picking one would let the IdP
// (or whoever injected the second value) choose which one we believe.
func single(attrs map[string][]string, name string) (string, bool, error) {
	if name == "" {
		return "", false, nil
	}
	vals := attrs[name]
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		return vals[0], true, nil
	}
	return "", false, attrError(name, ErrInvalidAttribute, "more than one value")
}

// optional returns the checked value of an optional single-valued attribute, or "" when absent.
func optional(attrs map[string][]string, name string, check func(string) string) (string, error) {
	v, present, err := single(attrs, name)
	if err != nil || !present || v == "" {
		return "", err
	}
	if reason := check(v); reason != "" {
		return "", attrError(name, ErrInvalidAttribute, reason)
	}
	return v, nil
}

// checkAuthMethod accepts any eID name (the list is open and grows) but nothing that could break
// a log line or a page.
func checkAuthMethod(v string) string {
	if len(v) > maxAuthMethodLen {
		return "too long"
	}
	if !utf8.ValidString(v) {
		return "not valid UTF-8"
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return "contains control characters"
		}
	}
	return ""
}

func checkCulture(v string) string {
	switch v {
	case "nb", "nn", "se", "en":
		return ""
	}
	return "not one of nb nn se en"
}

func checkOnBehalfOf(v string) string {
	if len(v) > maxOnBehalfOfLen {
		return "too long"
	}
	for i := range len(v) {
		if !isTokenByte(v[i], "_-") {
			return "only A-Z a-z 0-9 _ - allowed"
		}
	}
	return ""
}

// checkInstrument accepts instrument names shaped like Buypass's (ips:BPSC), not only the three
// known today, so a new instrument is reported rather than rejected.
func checkInstrument(v string) string {
	if len(v) > maxInstrumentLen {
		return "too long"
	}
	for i := range len(v) {
		if !isTokenByte(v[i], ":._-") {
			return "only A-Z a-z 0-9 : . _ - allowed"
		}
	}
	return ""
}

func isTokenByte(c byte, extra string) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte(extra, c) >= 0
}
