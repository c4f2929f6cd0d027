package saml

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// goxmldsigC14N is the canonicalization verifyEnveloped used before c14n.go: goxmldsig's
// exclusive canonicalizer on a detached copy of el carrying its inherited declarations.
func goxmldsigC14N(t testing.TB, el *etree.Element, prefixList string) ([]byte, bool) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, false
	}
	work, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, false
	}
	out, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(prefixList).Canonicalize(work)
	return out, err == nil
}

// goxmldsigSortsAlike excludes the one place goxmldsig departs from the recommendation:
// attributes with different prefixes are ordered by local name there, by namespace URI then
// local name in exclusive c14n (and in xmlsec1 and c14n.go).
func goxmldsigSortsAlike(el *etree.Element) bool {
	space := ""
	for _, a := range el.Attr {
		if a.Space == "" || a.Space == "xmlns" {
			continue
		}
		if space != "" && space != a.Space {
			return false
		}
		space = a.Space
	}
	for _, c := range el.ChildElements() {
		if !goxmldsigSortsAlike(c) {
			return false
		}
	}
	return true
}

// emptyDefault is written by goxmldsig wherever an element undeclares the default namespace,
// also where no output ancestor declared one; the recommendation and libxml2 write it only in
// the second case (TestCanonicalizeLibxml2).
var emptyDefault = []byte(` xmlns=""`)

// undeclaresDefault reports whether el's nearest default namespace declaration is xmlns="":
// goxmldsig then writes xmlns="" on el as an apex, which the recommendation (and xmlsec1) do
// not, since no output ancestor has a default namespace to undeclare.
func undeclaresDefault(el *etree.Element) bool {
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "" && a.Key == "xmlns" {
				return a.Value == ""
			}
		}
	}
	return false
}

func TestCanonicalizeSignedAssertion(t *testing.T) {
	idp := newTestKey(t, "idp")
	root := parseRoot(t, signedAssertion(t, idp, AlgRSASHA256))
	for _, el := range append([]*etree.Element{root}, root.FindElements("//*")...) {
		want, ok := goxmldsigC14N(t, el, "")
		if !ok {
			t.Fatalf("goxmldsig cannot canonicalize %s", el.Tag)
		}
		got, err := excC14N(nil, el, nil, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s (%v)\nwant %s", el.Tag, got, err, want)
		}
	}
}

// FuzzCanonicalizeDifferential: for every element of every document ParseUntrusted accepts,
// c14n.go writes what goxmldsig's canonicalizer writes, with and without an inclusive prefix,
// except where goxmldsig departs from the recommendation (goxmldsigSortsAlike,
// undeclaresDefault, emptyDefault).
func FuzzCanonicalizeDifferential(f *testing.F) {
	f.Add([]byte(normalResponse), "")
	f.Add([]byte(`<a:r xmlns:a="u" xmlns="d" xmlns:b="v" b:x="1" y="&#xD;&#9;&#10;&lt;&amp;&quot;>"><c xmlns="" a:z="2"><a:d xmlns:a="w">t&#xD;&gt;</a:d></c><!-- x --></a:r>`), "b")
	f.Add([]byte(`<r xmlns="urn:x"><s xmlns=""/><t/></r>`), "#default")
	lim := Limits{MaxBytes: 16 << 10, MaxElements: 100, MaxDepth: 16}
	f.Fuzz(func(t *testing.T, data []byte, prefix string) {
		doc, err := ParseUntrusted(data, lim)
		if err != nil || !goxmldsigSortsAlike(doc.Root()) {
			return
		}
		var list []string
		if prefix != "" {
			// One prefix: goxmldsig splits a list at white space, excC14N is given it split.
			if (!isNCName(prefix) && prefix != "#default") || strings.ContainsAny(prefix, " \t\r\n") {
				return
			}
			list = []string{prefix}
		}
		for _, el := range append([]*etree.Element{doc.Root()}, doc.Root().FindElements("//*")...) {
			want, ok := goxmldsigC14N(t, el, prefix)
			if !ok || undeclaresDefault(el) {
				continue
			}
			got, err := excC14N(nil, el, nil, list)
			if err != nil {
				t.Fatalf("%s: %v", el.Tag, err)
			}
			if !bytes.Equal(got, want) && !(bytes.Count(got, emptyDefault) < bytes.Count(want, emptyDefault) &&
				bytes.Equal(bytes.ReplaceAll(got, emptyDefault, nil), bytes.ReplaceAll(want, emptyDefault, nil))) {
				t.Fatalf("%s:\n got %s\nwant %s\nin %q", el.Tag, got, want, data)
			}
		}
	})
}

// TestCanonicalizeLibxml2 takes libxml2 (xmllint --exc-c14n, what xmlsec1 uses) as the reference
// where goxmldsig departs from the recommendation.
func TestCanonicalizeLibxml2(t *testing.T) {
	xmllint := requireTool(t, "xmllint")
	for _, in := range []string{
		`<a:r xmlns:a="urn:u" xmlns="urn:d" xmlns:b="urn:v" b:x="1"><c xmlns="" a:z="2"><a:d xmlns:a="urn:w">t</a:d></c></a:r>`,
		`<r xmlns="urn:x"><s xmlns=""/><t/></r>`,
		`<r xmlns:b="urn:b" xmlns:a="urn:z" b:y="1" a:x="2" c="3" xml:lang="nb"><e xmlns="urn:d"><f xmlns=""/></e></r>`,
	} {
		doc, err := ParseUntrusted([]byte(in), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		got, err := excC14N(nil, doc.Root(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(xmllint, "--exc-c14n", "-")
		cmd.Stdin = bytes.NewReader([]byte(in))
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("xmllint: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
	}
}
