package saml

import (
	"github.com/beevik/etree"
)

// Limits bound what an untrusted document may cost before anything looks at its content.
type Limits struct {
	MaxBytes    int // serialized size
	MaxElements int // element count
	MaxDepth    int // nesting depth
}

// DefaultLimits fit every legitimate SAML message and metadata document of a single entity.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 256 << 10, MaxElements: 500, MaxDepth: 32}
}

// MetadataLimits allow aggregates (EntitiesDescriptor) of modest federations.
func MetadataLimits() Limits {
	return Limits{MaxBytes: 8 << 20, MaxElements: 100000, MaxDepth: 32}
}

// ParseUntrusted parses XML that came from outside, in one pass (xmlparse.go) that checks and
// builds the tree together. It refuses any directive (DOCTYPE, ENTITY), processing instruction
// other than the XML declaration, duplicate attributes (also two prefixes bound to one
// namespace), unbound prefixes, names that are not QNames, reserved namespace declarations,
// text outside the root, documents over the limits, and anything encoding/xml's strict decoder
// refuses. Every caller of untrusted XML goes through here.
func ParseUntrusted(data []byte, lim Limits) (doc *etree.Document, err error) {
	return parseUntrusted(data, lim, nil)
}

// parseUntrusted parses with the namespace bindings inherited from an enclosing document in
// scope (a decrypted element); they are declared on the root element.
func parseUntrusted(data []byte, lim Limits, inherited []nsBinding) (doc *etree.Document, err error) {
	defer guard(&err)
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		return nil, reject(ReasonTooLarge, "document of %d bytes exceeds %d", len(data), lim.MaxBytes)
	}
	return parseXML(data, lim, inherited)
}

// attrValue returns the unprefixed attribute name of el, or dflt. etree's SelectAttrValue also
// matches a prefixed attribute (evil:Destination) with the same local name; SAML's own attributes
// are never prefixed, so a prefixed one must not be read in their place.
func attrValue(el *etree.Element, name, dflt string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value
		}
	}
	return dflt
}
