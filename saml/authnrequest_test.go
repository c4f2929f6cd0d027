package saml

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/eidsp/eidsp/identity"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// ipsNamespace stands for the per-IdP configured namespace of Buypass InstrumentAttribute.
const ipsNamespace = "urn:example:buypass:ips"

// baseRequest is an ID-porten level-3 request with a fixed ID and time, so the golden files are
// stable.
func baseRequest() AuthnRequest {
	return AuthnRequest{
		ID:              "_0123456789abcdef0123456789abcdef01234567",
		IssueInstant:    time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC),
		Issuer:          "https://sp.example.no/saml",
		Destination:     "https://idporten.example.no/idporten-oidc-to-saml/sso",
		ACSURL:          "https://sp.example.no/saml/acs",
		ProtocolBinding: BindingHTTPArtifact,
		MinLevel:        3,
	}
}

func TestAuthnRequestBuild(t *testing.T) {
	with := func(f func(*AuthnRequest)) AuthnRequest {
		r := baseRequest()
		f(&r)
		return r
	}
	tests := []struct {
		name        string
		req         AuthnRequest
		wantClass   string // "" when no RequestedAuthnContext is expected
		wantOBO     string
		wantInstrum []string
	}{
		{
			name:      "ok/idporten-level3",
			req:       baseRequest(),
			wantClass: identity.ClassRefPasswordProtectedTransport,
		},
		{
			name: "ok/idporten-no-level",
			req:  with(func(r *AuthnRequest) { r.MinLevel = 0 }),
		},
		{
			name: "ok/buypass-shared-level4",
			req: with(func(r *AuthnRequest) {
				r.MinLevel = 4
				r.Instruments = []string{identity.InstrumentSmartCard, identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}
				r.InstrumentNamespace = ipsNamespace
			}),
			wantClass:   identity.ClassRefSmartcardPKI,
			wantInstrum: []string{"ips:BPSC", "ips:OTP1PKI", "ips:CC2PKI"},
		},
		{
			name: "ok/buypass-split-smartcard",
			req: with(func(r *AuthnRequest) {
				r.MinLevel = 4
				r.Instruments = []string{identity.InstrumentSmartCard}
				r.InstrumentNamespace = ipsNamespace
			}),
			wantClass:   identity.ClassRefSmartcardPKI,
			wantInstrum: []string{"ips:BPSC"},
		},
		{
			name: "ok/buypass-split-mobile",
			req: with(func(r *AuthnRequest) {
				r.MinLevel = 4
				r.Instruments = []string{identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}
				r.InstrumentNamespace = ipsNamespace
			}),
			wantClass:   identity.ClassRefSmartcardPKI,
			wantInstrum: []string{"ips:OTP1PKI", "ips:CC2PKI"},
		},
		{
			name:      "ok/force-authn",
			req:       with(func(r *AuthnRequest) { r.ForceAuthn = true }),
			wantClass: identity.ClassRefPasswordProtectedTransport,
		},
		{
			name:      "ok/on-behalf-of",
			req:       with(func(r *AuthnRequest) { r.OnBehalfOf = "ServiceOwner42" }),
			wantClass: identity.ClassRefPasswordProtectedTransport,
			wantOBO:   "ServiceOwner42",
		},
		{
			name: "ok/on-behalf-of-with-instruments",
			req: with(func(r *AuthnRequest) {
				r.OnBehalfOf = "ServiceOwner42"
				r.MinLevel = 4
				r.Instruments = []string{identity.InstrumentSmartCard}
				r.InstrumentNamespace = ipsNamespace
			}),
			wantClass:   identity.ClassRefSmartcardPKI,
			wantOBO:     "ServiceOwner42",
			wantInstrum: []string{"ips:BPSC"},
		},
		{
			name:      "ok/post-binding",
			req:       with(func(r *AuthnRequest) { r.ProtocolBinding = BindingHTTPPost }),
			wantClass: identity.ClassRefPasswordProtectedTransport,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.req.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			validateSchema(t, out)
			checkAuthnRequestShape(t, out, tc.req, tc.wantClass, tc.wantOBO, tc.wantInstrum)
			golden(t, filepath.Join("testdata", "golden", "authnrequest", strings.TrimPrefix(tc.name, "ok/")+".xml"), out)

			// What we build must read back the same through our own parser (the dev IdP uses it).
			back, err := ParseAuthnRequest(out, DefaultLimits())
			if err != nil {
				t.Fatalf("ParseAuthnRequest: %v", err)
			}
			if back.ID != tc.req.ID || back.Issuer != tc.req.Issuer || back.ACSURL != tc.req.ACSURL ||
				back.Destination != tc.req.Destination || back.ProtocolBinding != tc.req.ProtocolBinding ||
				back.ForceAuthn != tc.req.ForceAuthn || back.MinLevel != tc.req.MinLevel ||
				back.OnBehalfOf != tc.req.OnBehalfOf || !back.IssueInstant.Equal(tc.req.IssueInstant) ||
				strings.Join(back.Instruments, " ") != strings.Join(tc.req.Instruments, " ") {
				t.Errorf("round trip changed the request:\n got %+v\nwant %+v", *back, tc.req)
			}
		})
	}
}

// checkAuthnRequestShape checks what the schema cannot: the attributes we must send and the
// exact child order Issuer, Extensions?, NameIDPolicy, RequestedAuthnContext?.
func checkAuthnRequestShape(t *testing.T, out []byte, req AuthnRequest, wantClass, wantOBO string, wantInstr []string) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(out); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.Tag != "AuthnRequest" || root.NamespaceURI() != NSProtocol {
		t.Fatalf("root is %s in %q", root.Tag, root.NamespaceURI())
	}
	attrs := map[string]string{
		"ID": req.ID, "Version": "2.0", "IssueInstant": "2026-03-04T05:06:07.890Z",
		"Destination": req.Destination, "AssertionConsumerServiceURL": req.ACSURL,
		"ProtocolBinding": req.ProtocolBinding,
	}
	for k, v := range attrs {
		if got := root.SelectAttrValue(k, "<none>"); got != v {
			t.Errorf("attribute %s = %q, want %q", k, got, v)
		}
	}
	if got := root.SelectAttrValue("ForceAuthn", ""); (got == "true") != req.ForceAuthn || (got != "" && got != "true") {
		t.Errorf("ForceAuthn = %q, want set only when requested", got)
	}
	if root.SelectAttr("IsPassive") != nil {
		t.Errorf("IsPassive must not be sent")
	}

	var order []string
	for _, c := range root.ChildElements() {
		order = append(order, c.Tag)
	}
	want := []string{"Issuer"}
	if wantOBO != "" || len(wantInstr) > 0 {
		want = append(want, "Extensions")
	}
	want = append(want, "NameIDPolicy")
	if wantClass != "" {
		want = append(want, "RequestedAuthnContext")
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("children %v, want %v", order, want)
	}
	kids := root.ChildElements()
	if kids[0].NamespaceURI() != NSAssertion || kids[0].Text() != req.Issuer {
		t.Errorf("Issuer %q in %q", kids[0].Text(), kids[0].NamespaceURI())
	}
	pol := root.SelectElement("NameIDPolicy")
	if pol.NamespaceURI() != NSProtocol || pol.SelectAttrValue("Format", "") != NameIDFormatTransient || pol.SelectAttrValue("AllowCreate", "") != "true" {
		t.Errorf("NameIDPolicy %v", pol.Attr)
	}
	if wantClass != "" {
		rac := root.SelectElement("RequestedAuthnContext")
		if rac.NamespaceURI() != NSProtocol || rac.SelectAttrValue("Comparison", "") != "minimum" {
			t.Errorf("RequestedAuthnContext Comparison %q, want minimum", rac.SelectAttrValue("Comparison", ""))
		}
		refs := rac.ChildElements()
		if len(refs) != 1 || refs[0].Tag != "AuthnContextClassRef" || refs[0].NamespaceURI() != NSAssertion || refs[0].Text() != wantClass {
			t.Errorf("RequestedAuthnContext holds %d elements, want one AuthnContextClassRef %s", len(refs), wantClass)
		}
	}
	if ext := root.SelectElement("Extensions"); ext != nil {
		if ext.NamespaceURI() != NSProtocol {
			t.Errorf("Extensions in %q", ext.NamespaceURI())
		}
		var obo string
		var instr []string
		for _, c := range ext.ChildElements() {
			switch {
			case c.Tag == "OnBehalfOf" && c.NamespaceURI() == NSIDPortenExtensions:
				obo = c.Text()
			case c.Tag == "InstrumentAttribute" && c.NamespaceURI() == ipsNamespace:
				if c.Space != "ips" {
					t.Errorf("InstrumentAttribute prefix %q, want ips (values are ips:…)", c.Space)
				}
				instr = append(instr, c.SelectAttrValue("name", ""))
			default:
				t.Errorf("unexpected %s {%s} in Extensions", c.Tag, c.NamespaceURI())
			}
		}
		if obo != wantOBO || strings.Join(instr, " ") != strings.Join(wantInstr, " ") {
			t.Errorf("Extensions OnBehalfOf %q instruments %v, want %q %v", obo, instr, wantOBO, wantInstr)
		}
		// OnBehalfOf first, then the instruments in the order given.
		if wantOBO != "" && ext.ChildElements()[0].Tag != "OnBehalfOf" {
			t.Errorf("OnBehalfOf is not the first extension")
		}
	}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./saml/ -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is intended)\n got: %s\nwant: %s", path, got, want)
	}
}

func TestAuthnRequestBuildRejects(t *testing.T) {
	with := func(f func(*AuthnRequest)) AuthnRequest {
		r := baseRequest()
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		req     AuthnRequest
		wantMsg string // a fragment of the error
	}{
		{"fail/on-behalf-of-space", with(func(r *AuthnRequest) { r.OnBehalfOf = "Service Owner" }), "OnBehalfOf"},
		{"fail/on-behalf-of-markup", with(func(r *AuthnRequest) { r.OnBehalfOf = "a<b>" }), "OnBehalfOf"},
		{"fail/on-behalf-of-non-ascii", with(func(r *AuthnRequest) { r.OnBehalfOf = "Tønsberg" }), "OnBehalfOf"},
		{"fail/on-behalf-of-dot", with(func(r *AuthnRequest) { r.OnBehalfOf = "a.b" }), "OnBehalfOf"},
		{"fail/on-behalf-of-too-long", with(func(r *AuthnRequest) { r.OnBehalfOf = strings.Repeat("A", 65) }), "OnBehalfOf"},
		{"fail/on-behalf-of-newline", with(func(r *AuthnRequest) { r.OnBehalfOf = "abc\n" }), "OnBehalfOf"},
		{"fail/missing-id", with(func(r *AuthnRequest) { r.ID = "" }), "required"},
		{"fail/missing-issuer", with(func(r *AuthnRequest) { r.Issuer = "" }), "required"},
		{"fail/missing-destination", with(func(r *AuthnRequest) { r.Destination = "" }), "required"},
		{"fail/missing-acs", with(func(r *AuthnRequest) { r.ACSURL = "" }), "required"},
		{"fail/missing-binding", with(func(r *AuthnRequest) { r.ProtocolBinding = "" }), "binding"},
		{"fail/redirect-binding", with(func(r *AuthnRequest) { r.ProtocolBinding = BindingHTTPRedirect }), "binding"},
		{"fail/unknown-binding", with(func(r *AuthnRequest) { r.ProtocolBinding = "urn:example:carrier-pigeon" }), "binding"},
		{"fail/level-2", with(func(r *AuthnRequest) { r.MinLevel = 2 }), "level 2"},
		{"fail/level-5", with(func(r *AuthnRequest) { r.MinLevel = 5 }), "level 5"},
		{"fail/instruments-without-namespace", with(func(r *AuthnRequest) { r.Instruments = []string{"ips:BPSC"} }), "namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.req.Build()
			if err == nil {
				t.Fatalf("built %s", out)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}

	t.Run("fail/every-problem-at-once", func(t *testing.T) {
		_, err := AuthnRequest{ProtocolBinding: "x", MinLevel: 9, OnBehalfOf: "a b"}.Build()
		if err == nil {
			t.Fatal("built")
		}
		for _, frag := range []string{"required", "binding", "level 9", "OnBehalfOf"} {
			if !strings.Contains(err.Error(), frag) {
				t.Errorf("error %q does not mention %q", err, frag)
			}
		}
	})
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := NewID(nil)
		if err != nil {
			t.Fatal(err)
		}
		// An NCName that cannot start with a digit, with 160 bits of randomness.
		if len(id) != 41 || id[0] != '_' || seen[id] {
			t.Fatalf("ID %q", id)
		}
		seen[id] = true
	}
	if _, err := NewID(bytes.NewReader(make([]byte, 3))); err == nil {
		t.Error("short random source accepted")
	}
}
