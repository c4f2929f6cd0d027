package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"

	"github.com/beevik/etree"
	rtvalidator "github.com/mattermost/xml-roundtrip-validator"
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

// ParseUntrusted parses XML that came from outside. It refuses any directive (DOCTYPE, ENTITY),
// processing instruction other than the XML declaration, duplicate attributes, documents over the
// limits, and XML that does not survive an encoding/xml round trip unchanged; only then is the
// document handed to etree. Every caller of untrusted XML goes through here.
func ParseUntrusted(data []byte, lim Limits) (doc *etree.Document, err error) {
	defer guard(&err)
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		return nil, reject(ReasonTooLarge, "document of %d bytes exceeds %d", len(data), lim.MaxBytes)
	}
	if err := scanTokens(data, lim); err != nil {
		return nil, err
	}
	if err := rtvalidator.Validate(bytes.NewReader(data)); err != nil {
		return nil, reject(ReasonMalformed, "round-trip unstable XML: %v", err)
	}
	doc = etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, reject(ReasonMalformed, "parse: %v", err)
	}
	if doc.Root() == nil {
		return nil, reject(ReasonMalformed, "no root element")
	}
	return doc, nil
}

func scanTokens(data []byte, lim Limits) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil
	elements, depth, roots := 0, 0, 0
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return reject(ReasonMalformed, "xml: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return reject(ReasonDoctype, "document contains a directive (DOCTYPE or ENTITY)")
		case xml.ProcInst:
			if t.Target != "xml" || elements > 0 {
				return reject(ReasonMalformed, "processing instruction %q not allowed", t.Target)
			}
		case xml.StartElement:
			elements++
			depth++
			if depth == 1 {
				roots++
				if roots > 1 {
					return reject(ReasonMalformed, "more than one root element")
				}
			}
			if lim.MaxElements > 0 && elements > lim.MaxElements {
				return reject(ReasonTooLarge, "more than %d elements", lim.MaxElements)
			}
			if lim.MaxDepth > 0 && depth > lim.MaxDepth {
				return reject(ReasonTooLarge, "nesting deeper than %d", lim.MaxDepth)
			}
			seen := make(map[xml.Name]bool, len(t.Attr))
			for _, a := range t.Attr {
				if seen[a.Name] {
					return reject(ReasonMalformed, "duplicate attribute %s:%s", a.Name.Space, a.Name.Local)
				}
				seen[a.Name] = true
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return reject(ReasonMalformed, "text outside the root element")
			}
		}
	}
	if roots != 1 {
		return reject(ReasonMalformed, "no root element")
	}
	return nil
}
