package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/beevik/etree"
	rtvalidator "github.com/mattermost/xml-roundtrip-validator"
)

// oracleParse is ParseUntrusted as it was before the one-pass parser: a strict encoding/xml
// token scan with our checks, mattermost/xml-roundtrip-validator, then etree's reader. It is
// kept, unchanged, as the differential oracle of FuzzParseUntrustedDifferential.
func oracleParse(data []byte, lim Limits) (doc *etree.Document, err error) {
	defer guard(&err)
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		return nil, reject(ReasonTooLarge, "document of %d bytes exceeds %d", len(data), lim.MaxBytes)
	}
	if err := oracleScanTokens(data, lim); err != nil {
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

func oracleScanTokens(data []byte, lim Limits) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil
	elements, roots := 0, 0
	scopes := []map[string]string{{"xml": "http://www.w3.org/XML/1998/namespace"}}
	resolve := func(prefix string) (string, bool) {
		for i := len(scopes) - 1; i >= 0; i-- {
			if uri, ok := scopes[i][prefix]; ok {
				return uri, true
			}
		}
		return "", prefix == ""
	}
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
			if len(scopes) == 1 {
				roots++
				if roots > 1 {
					return reject(ReasonMalformed, "more than one root element")
				}
			}
			if lim.MaxElements > 0 && elements > lim.MaxElements {
				return reject(ReasonTooLarge, "more than %d elements", lim.MaxElements)
			}
			if lim.MaxDepth > 0 && len(scopes) > lim.MaxDepth {
				return reject(ReasonTooLarge, "nesting deeper than %d", lim.MaxDepth)
			}
			scope := map[string]string{}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					if a.Name.Local == "" || a.Value == "" || a.Name.Local == "xmlns" {
						return reject(ReasonMalformed, "bad namespace declaration xmlns:%s", a.Name.Local)
					}
					scope[a.Name.Local] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					scope[""] = a.Value
				}
			}
			scopes = append(scopes, scope)
			if !oracleWellFormedName(t.Name) {
				return reject(ReasonMalformed, "malformed element name")
			}
			if _, ok := resolve(t.Name.Space); !ok {
				return reject(ReasonMalformed, "unbound prefix %q", t.Name.Space)
			}
			seen := make(map[xml.Name]bool, len(t.Attr))
			for _, a := range t.Attr {
				if !oracleWellFormedName(a.Name) {
					return reject(ReasonMalformed, "malformed attribute name")
				}
				name := xml.Name{Local: a.Name.Local}
				switch {
				case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
					name.Space = "xmlns"
				case a.Name.Space != "":
					uri, ok := resolve(a.Name.Space)
					if !ok {
						return reject(ReasonMalformed, "unbound prefix %q", a.Name.Space)
					}
					name.Space = uri
				}
				if seen[name] {
					return reject(ReasonMalformed, "duplicate attribute %s", a.Name.Local)
				}
				seen[name] = true
			}
		case xml.EndElement:
			if len(scopes) <= 1 {
				return reject(ReasonMalformed, "unbalanced end element")
			}
			scopes = scopes[:len(scopes)-1]
		case xml.CharData:
			if len(scopes) == 1 && len(bytes.TrimSpace(t)) > 0 {
				return reject(ReasonMalformed, "text outside the root element")
			}
		}
	}
	if roots != 1 {
		return reject(ReasonMalformed, "no root element")
	}
	return nil
}

func oracleWellFormedName(n xml.Name) bool {
	return n.Local != "" && !strings.Contains(n.Local, ":")
}
