package saml

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/beevik/etree"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
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

// child returns the direct children of el in namespace ns with local name tag.
func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// only returns the single direct child ns:tag, or an error when there are none or several.
func only(el *etree.Element, ns, tag string) (*etree.Element, error) {
	cs := children(el, ns, tag)
	if len(cs) != 1 {
		return nil, fmt.Errorf("%s has %d %s elements, want 1", el.Tag, len(cs), tag)
	}
	return cs[0], nil
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
	for _, c := range sig.ChildElements() {
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
	if len(children(sig, NSDSig, "KeyInfo")) > 1 {
		return reject(ReasonSignature, "more than one KeyInfo")
	}
	if len(si.ChildElements()) != 3 {
		return reject(ReasonSignature, "SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference")
	}
	cm, err := only(si, NSDSig, "CanonicalizationMethod")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if a := attrValue(cm, "Algorithm", ""); a != algExcC14N {
		return reject(ReasonAlgorithm, "canonicalization %q not allowed", a)
	}
	sm, err := only(si, NSDSig, "SignatureMethod")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if a := attrValue(sm, "Algorithm", ""); !slices.Contains(algs.Signature, a) {
		return reject(ReasonAlgorithm, "signature algorithm %q not allowed", a)
	}
	if len(sm.ChildElements()) > 0 {
		return reject(ReasonAlgorithm, "SignatureMethod parameters not allowed")
	}
	ref, err := only(si, NSDSig, "Reference")
	if err != nil {
		return reject(ReasonSignature, "%v", err)
	}
	if uri := attrValue(ref, "URI", ""); uri != "#"+id {
		return reject(ReasonSignature, "reference %q does not point at the signed element", uri)
	}
	for _, c := range ref.ChildElements() {
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
		enveloped := false
		for _, t := range list {
			if t.Tag != "Transform" || t.NamespaceURI() != NSDSig {
				return reject(ReasonSignature, "element %s not allowed in Transforms", t.Tag)
			}
			switch a := attrValue(t, "Algorithm", ""); a {
			case algEnveloped:
				if enveloped {
					return reject(ReasonAlgorithm, "enveloped transform repeated")
				}
				enveloped = true
			case algExcC14N:
				for _, p := range t.ChildElements() {
					if p.Tag != "InclusiveNamespaces" {
						return reject(ReasonAlgorithm, "transform parameter %s not allowed", p.Tag)
					}
				}
			default:
				return reject(ReasonAlgorithm, "transform %q not allowed", a)
			}
		}
		if !enveloped {
			return reject(ReasonAlgorithm, "enveloped-signature transform missing")
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
// metadata; KeyInfo in the message is ignored) and returns the element exactly as signed:
// canonicalized and parsed again, so that nothing outside the signature's coverage (comments,
// wrapped copies, unsigned siblings) can reach the caller.
func verifyEnveloped(el *etree.Element, trusted []*x509.Certificate, algs Algorithms) (out *etree.Element, err error) {
	defer guard(&err)
	if err := checkSignatureShape(el, algs); err != nil {
		return nil, err
	}
	if len(trusted) == 0 {
		return nil, reject(ReasonSignature, "no trusted signing certificate")
	}
	// Trust comes from metadata only: drop KeyInfo so that goxmldsig uses the one certificate we
	// give it instead of matching one from the message.
	// Detaching with the namespace context keeps prefixes declared on ancestors (an Assertion
	// inside a Response) bound after the copy.
	nsCtx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, reject(ReasonMalformed, "namespaces: %v", err)
	}
	work, err := etreeutils.NSDetatch(nsCtx, el)
	if err != nil {
		return nil, reject(ReasonMalformed, "namespaces: %v", err)
	}
	sig := children(work, NSDSig, "Signature")[0]
	for _, ki := range children(sig, NSDSig, "KeyInfo") {
		sig.RemoveChild(ki)
	}
	var lastErr error
	for _, cert := range trusted {
		// Trust in the key comes from the IdP's metadata (and its validUntil), not from the
		// certificate's own dates, as in Shibboleth and SimpleSAMLphp: an IdP whose certificate
		// has passed NotAfter still signs with the key its metadata names. goxmldsig checks the
		// dates against its clock, so it gets a clock inside the certificate's validity.
		ctx := &dsig.ValidationContext{
			CertificateStore: &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}},
			IdAttribute:      "ID",
			Clock:            dsig.NewFakeClock(clockwork.NewFakeClockAt(cert.NotBefore)),
		}
		verified, err := ctx.Validate(work)
		if err == nil {
			return verified, nil
		}
		lastErr = err
	}
	return nil, &Error{Reason: ReasonSignature, Err: fmt.Errorf("signature does not verify with any of %d trusted certificates: %w", len(trusted), lastErr)}
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

// SignEnveloped returns a copy of el with an enveloped signature placed right after its
// saml:Issuer (the position the SAML schema requires), using exclusive c14n.
func (s Signer) SignEnveloped(el *etree.Element) (*etree.Element, error) {
	if s.Key == nil || s.Cert == nil {
		return nil, errors.New("signer has no key")
	}
	h, ok := hashFor(s.alg())
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %q", s.alg())
	}
	ctx, err := dsig.NewSigningContext(s.Key, [][]byte{s.Cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Hash = h
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(s.alg()); err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, err
	}
	sig := signed.Child[len(signed.Child)-1].(*etree.Element)
	signed.RemoveChildAt(len(signed.Child) - 1)
	pos := 0
	for i, c := range signed.Child {
		if e, ok := c.(*etree.Element); ok && e.Tag == "Issuer" {
			pos = i + 1
			break
		}
	}
	signed.InsertChildAt(pos, sig)
	return signed, nil
}
