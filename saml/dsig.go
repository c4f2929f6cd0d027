package saml

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"

	// Registered for the digests and signature hashes of the allow-lists.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Algorithms are the signature and digest algorithms accepted from one IdP.
type Algorithms struct {
	Signature []string
	Digest    []string
}

// DefaultAlgorithms accepts RSA-SHA256/512 only.
func DefaultAlgorithms() Algorithms {
	return Algorithms{
		Signature: []string{AlgRSASHA256, AlgRSASHA512},
		Digest:    []string{AlgSHA256, AlgSHA512},
	}
}

// WithSHA1 adds RSA-SHA1 and SHA-1 digests, for IdPs (ID-porten) that documented only those.
func (a Algorithms) WithSHA1() Algorithms {
	return Algorithms{
		Signature: append(slices.Clone(a.Signature), AlgRSASHA1),
		Digest:    append(slices.Clone(a.Digest), AlgSHA1),
	}
}

const (
	algExcC14N    = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algEnveloped  = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	maxTransforms = 2
)

// hashFor maps a signature algorithm to its hash.
func hashFor(sigAlg string) (crypto.Hash, bool) {
	switch sigAlg {
	case AlgRSASHA1:
		return crypto.SHA1, true
	case AlgRSASHA256:
		return crypto.SHA256, true
	case AlgRSASHA512:
		return crypto.SHA512, true
	}
	return 0, false
}

// children returns the direct children of el in namespace ns with local name tag.
func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for c := range el.ChildElementsSeq() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// countChildren is len(children(el, ns, tag)) without the slice.
func countChildren(el *etree.Element, ns, tag string) int {
	n := 0
	for c := range el.ChildElementsSeq() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			n++
		}
	}
	return n
}

// elementCount is how many child elements el has.
func elementCount(el *etree.Element) int {
	n := 0
	for _, t := range el.Child {
		if _, ok := t.(*etree.Element); ok {
			n++
		}
	}
	return n
}

// only returns the single direct child ns:tag, or an error when there are none or several.
func only(el *etree.Element, ns, tag string) (*etree.Element, error) {
	var one *etree.Element
	n := 0
	for c := range el.ChildElementsSeq() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			one = c
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%s has %d %s elements, want 1", el.Tag, n, tag)
	}
	return one, nil
}

// checkSignatureShape enforces the only signature shape we accept on el: one ds:Signature as a
// direct child, SignedInfo with exclusive c14n, an allowed SignatureMethod, exactly one
// Reference whose URI is "#" + el's ID, transforms from {enveloped, exc-c14n} only, an allowed
// DigestMethod and a DigestValue of plain text. Everything else (extra References, XSLT or XPath
// transforms, #WithComments, ds:Object, comments inside values) is refused before any
// cryptography runs.
func checkSignatureShape(el *etree.Element, algs Algorithms) error {
	id := attrValue(el, "ID", "")
	if id == "" {
		return reject(ReasonSignature, "signed element %s has no ID", el.Tag)
	}
	sigs := children(el, NSDSig, "Signature")
	if len(sigs) == 0 {
		return reject(ReasonSignature, "%s is not signed", el.Tag)
	}
	if len(sigs) > 1 {
		return reject(ReasonSignature, "%s has %d signatures", el.Tag, len(sigs))
	}
	sig := sigs[0]
	for c := range sig.ChildElementsSeq() {
		if c.NamespaceURI() != NSDSig {
			return reject(ReasonSignature, "foreign element %s in Signature", c.Tag)
		}
		switch c.Tag {
		case "SignedInfo", "SignatureValue", "KeyInfo":
		default:
			return reject(ReasonSignature, "element %s not allowed in Signature", c.Tag)
		}
	}
	si, err := only(sig, NSDSig, "SignedInfo")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	sv, err := only(sig, NSDSig, "SignatureValue")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if countChildren(sig, NSDSig, "KeyInfo") > 1 {
		return reject(ReasonSignature, "more than one KeyInfo")
	}
	if elementCount(si) != 3 {
		return reject(ReasonSignature, "SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference")
	}
	cm, err := only(si, NSDSig, "CanonicalizationMethod")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if a := attrValue(cm, "Algorithm", ""); a != algExcC14N {
		return reject(ReasonAlgorithm, "canonicalization %q not allowed", a)
	}
	if err := checkC14NParams(cm); err != nil {
		return err
	}
	sm, err := only(si, NSDSig, "SignatureMethod")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if a := attrValue(sm, "Algorithm", ""); !slices.Contains(algs.Signature, a) {
		return reject(ReasonAlgorithm, "signature algorithm %q not allowed", a)
	}
	if elementCount(sm) > 0 {
		return reject(ReasonAlgorithm, "SignatureMethod parameters not allowed")
	}
	ref, err := only(si, NSDSig, "Reference")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if uri := attrValue(ref, "URI", ""); uri != "#"+id {
		return reject(ReasonSignature, "reference %q does not point at the signed element", uri)
	}
	for c := range ref.ChildElementsSeq() {
		if c.NamespaceURI() != NSDSig || (c.Tag != "Transforms" && c.Tag != "DigestMethod" && c.Tag != "DigestValue") {
			return reject(ReasonSignature, "element %s not allowed in Reference", c.Tag)
		}
	}
	if ts := children(ref, NSDSig, "Transforms"); len(ts) != 1 {
		return reject(ReasonSignature, "reference must have one Transforms")
	} else {
		list := ts[0].ChildElements()
		if len(list) == 0 || len(list) > maxTransforms {
			return reject(ReasonAlgorithm, "%d transforms", len(list))
		}
		enveloped, exclusive := false, false
		for _, t := range list {
			if t.Tag != "Transform" || t.NamespaceURI() != NSDSig {
				return reject(ReasonSignature, "element %s not allowed in Transforms", t.Tag)
			}
			switch a := attrValue(t, "Algorithm", ""); a {
			case algEnveloped:
				if enveloped {
					return reject(ReasonAlgorithm, "enveloped transform repeated")
				}
				if elementCount(t) > 0 {
					return reject(ReasonAlgorithm, "enveloped transform with parameters")
				}
				enveloped = true
			case algExcC14N:
				if exclusive {
					return reject(ReasonAlgorithm, "exclusive c14n transform repeated")
				}
				if err := checkC14NParams(t); err != nil {
					return err
				}
				exclusive = true
			default:
				return reject(ReasonAlgorithm, "transform %q not allowed", a)
			}
		}
		if !enveloped {
			return reject(ReasonAlgorithm, "enveloped-signature transform missing")
		}
		// Without it XMLDSig canonicalizes the reference with inclusive C14N 1.0, which we do
		// not implement: such a reference is refused rather than digested differently.
		if !exclusive {
			return reject(ReasonAlgorithm, "exclusive c14n transform missing")
		}
	}
	dm, err := only(ref, NSDSig, "DigestMethod")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if a := attrValue(dm, "Algorithm", ""); !slices.Contains(algs.Digest, a) {
		return reject(ReasonAlgorithm, "digest algorithm %q not allowed", a)
	}
	dv, err := only(ref, NSDSig, "DigestValue")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	for _, v := range []*etree.Element{dv, sv} {
		for _, tok := range v.Child {
			if _, ok := tok.(*etree.CharData); !ok {
				return reject(ReasonSignature, "%s must be plain text", v.Tag)
			}
		}
	}
	return nil
}

// verifyEnveloped checks the enveloped signature of el against the trusted certificates (from
// metadata; KeyInfo in the message is ignored) and returns el itself, reduced to what the
// signature covers: the Signature and every comment are removed from it, so that nothing
// outside the signature's coverage (comments, the signature's own content) can reach the
// caller. Wrapped copies and unsigned siblings cannot: checkSignatureShape pins the one
// Reference to el's own ID, and the digest is computed over el, the tree the caller goes on to
// read. The canonical form is written from the parsed tree (c14n.go): no copy, no second parse.
func verifyEnveloped(el *etree.Element, trusted []*x509.Certificate, algs Algorithms) (out *etree.Element, err error) {
	defer guard(&err)
	if err := checkSignatureShape(el, algs); err != nil {
		return nil, err
	}
	if len(trusted) == 0 {
		return nil, reject(ReasonSignature, "no trusted signing certificate")
	}
	// checkSignatureShape has checked that each of these exists exactly once.
	sig := firstChild(el, NSDSig, "Signature")
	si := firstChild(sig, NSDSig, "SignedInfo")
	ref := firstChild(si, NSDSig, "Reference")
	sigHash, ok := hashFor(attrValue(firstChild(si, NSDSig, "SignatureMethod"), "Algorithm", ""))
	if !ok {
		return nil, reject(ReasonAlgorithm, "signature algorithm not supported")
	}
	digestHash, ok := digestFor(attrValue(firstChild(ref, NSDSig, "DigestMethod"), "Algorithm", ""))
	if !ok {
		return nil, reject(ReasonAlgorithm, "digest algorithm not supported")
	}
	siPrefixes := inclusivePrefixes(firstChild(si, NSDSig, "CanonicalizationMethod"))
	var refPrefixes []string
	for t := range firstChild(ref, NSDSig, "Transforms").ChildElementsSeq() {
		if attrValue(t, "Algorithm", "") == algExcC14N {
			refPrefixes = inclusivePrefixes(t)
		}
	}
	sigValue, err := base64Text(firstChild(sig, NSDSig, "SignatureValue"))
	if err != nil {
		return nil, err
	}
	digestValue, err := base64Text(firstChild(ref, NSDSig, "DigestValue"))
	if err != nil {
		return nil, err
	}

	// SignedInfo first: nothing it says is used until its signature holds.
	bp := getC14NBuffer()
	buf, err := excC14N((*bp)[:0], si, nil, siPrefixes)
	defer func() { putC14NBuffer(bp, buf) }()
	if err != nil {
		return nil, err
	}
	h := sigHash.New()
	h.Write(buf)
	signed := h.Sum(nil)
	verified := false
	for _, cert := range trusted {
		// Trust in the key comes from the IdP's metadata (and its validUntil), not from the
		// certificate's own dates, as in Shibboleth and SimpleSAMLphp: an IdP whose certificate
		// has passed NotAfter still signs with the key its metadata names.
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, sigHash, signed, sigValue) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, reject(ReasonSignature, "signature does not verify with any of %d trusted certificates", len(trusted))
	}
	if buf, err = excC14N(buf[:0], el, sig, refPrefixes); err != nil {
		return nil, err
	}
	d := digestHash.New()
	d.Write(buf)
	if subtle.ConstantTimeCompare(d.Sum(nil), digestValue) != 1 {
		return nil, reject(ReasonSignature, "digest of %s does not match the signed digest", el.Tag)
	}
	el.RemoveChild(sig)
	stripComments(el)
	return el, nil
}

// digestFor maps a DigestMethod to its hash.
func digestFor(alg string) (crypto.Hash, bool) {
	switch alg {
	case AlgSHA1:
		return crypto.SHA1, true
	case AlgSHA256:
		return crypto.SHA256, true
	case AlgSHA512:
		return crypto.SHA512, true
	}
	return 0, false
}

// Bounds of an InclusiveNamespaces PrefixList: the sender chooses it, and canonicalization
// (before the signature is checked) works through it for every element.
const (
	maxInclusivePrefixes   = 16
	maxPrefixListBytes     = 512
	maxCanonicalOutputSize = 4 << 20
)

// checkC14NParams admits at most one InclusiveNamespaces parameter of exclusive c14n, empty, with
// a short PrefixList, and nothing else.
func checkC14NParams(method *etree.Element) error {
	params := method.ChildElements()
	if len(params) > 1 {
		return reject(ReasonAlgorithm, "more than one canonicalization parameter")
	}
	for _, p := range params {
		if p.Tag != "InclusiveNamespaces" || p.NamespaceURI() != algExcC14N {
			return reject(ReasonAlgorithm, "canonicalization parameter %s not allowed", p.Tag)
		}
		if len(p.Child) > 0 {
			return reject(ReasonAlgorithm, "InclusiveNamespaces must be empty")
		}
		list := attrValue(p, "PrefixList", "")
		if len(list) > maxPrefixListBytes || len(strings.Fields(list)) > maxInclusivePrefixes {
			return reject(ReasonAlgorithm, "InclusiveNamespaces PrefixList too long")
		}
	}
	return nil
}

// inclusivePrefixes reads the InclusiveNamespaces PrefixList of an exclusive c14n method or
// transform; checkSignatureShape (checkC14NParams) has admitted no other parameter.
func inclusivePrefixes(method *etree.Element) []string {
	var out []string
	for p := range method.ChildElementsSeq() {
		out = strings.Fields(attrValue(p, "PrefixList", ""))
	}
	return out
}

// base64Text decodes the text of DigestValue or SignatureValue (checkSignatureShape has checked
// it is text only), ignoring XML whitespace.
func base64Text(el *etree.Element) ([]byte, error) {
	s := text(el)
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, reject(ReasonSignature, "%s is not base64", el.Tag)
	}
	return b, nil
}

func stripComments(el *etree.Element) {
	for i := 0; i < len(el.Child); {
		switch t := el.Child[i].(type) {
		case *etree.Comment:
			el.RemoveChildAt(i)
			continue
		case *etree.Element:
			stripComments(t)
		}
		i++
	}
}

// Signer signs messages with the SP's (or, in the dev IdP, the IdP's) key.
type Signer struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	Alg  string // AlgRSASHA256 (default) or AlgRSASHA1
}

func (s Signer) alg() string {
	if s.Alg == "" {
		return AlgRSASHA256
	}
	return s.Alg
}

// SignEnveloped signs el in place with an enveloped signature, placed right after its
// saml:Issuer (the position the SAML schema requires), and returns el. The Reference points at
// el's ID; both the reference and SignedInfo use exclusive c14n without an InclusiveNamespaces
// list, canonicalized by excC14N from the tree itself (no copy), so what is signed is what
// verifyEnveloped reads back. el must declare the namespaces it uses on itself or its ancestors.
func (s Signer) SignEnveloped(el *etree.Element) (*etree.Element, error) {
	if s.Key == nil || s.Cert == nil {
		return nil, errors.New("signer has no key")
	}
	sigHash, ok := hashFor(s.alg())
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %q", s.alg())
	}
	digestAlg := AlgSHA256
	switch sigHash {
	case crypto.SHA1:
		digestAlg = AlgSHA1
	case crypto.SHA512:
		digestAlg = AlgSHA512
	}
	id := el.SelectAttrValue("ID", "")
	if id == "" {
		return nil, errors.New("element to sign has no ID")
	}
	bp := getC14NBuffer()
	buf, err := excC14N((*bp)[:0], el, nil, nil)
	defer func() { putC14NBuffer(bp, buf) }()
	if err != nil {
		return nil, err
	}
	d := sigHash.New()
	d.Write(buf)
	digest := d.Sum(nil)

	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NSDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", algExcC14N)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", s.alg())
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "#"+id)
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", algEnveloped)
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", algExcC14N)
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", digestAlg)
	ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(digest))
	sigValue := sig.CreateElement("ds:SignatureValue")
	sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(s.Cert.Raw))

	pos := 0
	for i, c := range el.Child {
		if e, ok := c.(*etree.Element); ok && e.Tag == "Issuer" {
			pos = i + 1
			break
		}
	}
	el.InsertChildAt(pos, sig)
	// SignedInfo is canonicalized in place, inheriting el's namespace context as the verifier's
	// will.
	if buf, err = excC14N(buf[:0], si, nil, nil); err != nil {
		el.RemoveChild(sig)
		return nil, err
	}
	h := sigHash.New()
	h.Write(buf)
	value, err := rsa.SignPKCS1v15(nil, s.Key, sigHash, h.Sum(nil))
	if err != nil {
		el.RemoveChild(sig)
		return nil, err
	}
	sigValue.SetText(base64.StdEncoding.EncodeToString(value))
	return el, nil
}
