package metadata

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/eidsp/eidsp/saml"
)

const (
	algEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	algExcC14N   = "http://www.w3.org/2001/10/xml-exc-c14n#"
)

// Metadata signatures are checked against an allow-list: SHA-1 and anything exotic are refused
// before goxmldsig sees the document.
var (
	allowedSignatureMethods = map[string]bool{
		saml.AlgRSASHA256: true,
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": true,
		saml.AlgRSASHA512: true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": true,
	}
	allowedDigestMethods = map[string]bool{
		saml.AlgSHA256: true,
		"http://www.w3.org/2001/04/xmldsig-more#sha384": true,
		saml.AlgSHA512: true,
	}
)

// verifySignature checks the enveloped signature on the document's root element against each trusted
// certificate and returns the element the signature covers, re-read from the verified canonical
// bytes. Reading only that element is what defeats signature wrapping: nothing outside the signed
// bytes can reach the caller.
func verifySignature(root *etree.Element, trusted []*x509.Certificate, now time.Time) (*etree.Element, error) {
	if err := checkSignatureShape(root); err != nil {
		return nil, err
	}
	var last error
	for _, cert := range trusted {
		// One store per certificate: goxmldsig uses a lone trusted certificate when the signature
		// carries no KeyInfo, and requires KeyInfo otherwise.
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		ctx.IdAttribute = "ID"
		ctx.Clock = dsig.NewFakeClockAt(now)
		verified, err := ctx.Validate(root)
		if err == nil {
			return verified, nil
		}
		last = err
	}
	return nil, &saml.Error{Reason: saml.ReasonSignature,
		Err: fmt.Errorf("the IdP metadata signature does not verify with any trusted metadata-signing certificate: %w", last)}
}

// checkSignatureShape requires exactly one ds:Signature as the root's first child, referencing the
// root by its ID, with exclusive canonicalization, the enveloped-signature transform and allowed
// algorithms only.
func checkSignatureShape(root *etree.Element) error {
	sigs := children(root, saml.NSDSig, "Signature")
	if len(sigs) == 0 {
		return &saml.Error{Reason: saml.ReasonSignature,
			Err: errors.New("the IdP metadata is not signed, but metadata-signing certificates are configured, so a signature is required")}
	}
	bad := func(format string, args ...any) error {
		return &saml.Error{Reason: saml.ReasonSignature, Err: fmt.Errorf("the IdP metadata signature "+format, args...)}
	}
	badAlg := func(what, alg string) error {
		return &saml.Error{Reason: saml.ReasonAlgorithm, Err: fmt.Errorf("the IdP metadata signature uses %s %q, which is not allowed", what, alg)}
	}
	if len(sigs) > 1 {
		return bad("element appears %d times on the root element; expected one", len(sigs))
	}
	sig := sigs[0]
	if first := root.ChildElements()[0]; first != sig {
		return bad("must be the first child of the root element")
	}
	id := attr(root, "ID")
	if id == "" {
		return bad("cannot refer to the root element: it has no ID attribute")
	}
	infos := children(sig, saml.NSDSig, "SignedInfo")
	if len(infos) != 1 {
		return bad("has %d SignedInfo elements; expected one", len(infos))
	}
	info := infos[0]
	if c14n := children(info, saml.NSDSig, "CanonicalizationMethod"); len(c14n) != 1 || attr(c14n[0], "Algorithm") != algExcC14N {
		if len(c14n) == 1 {
			return badAlg("canonicalization", attr(c14n[0], "Algorithm"))
		}
		return bad("needs exactly one CanonicalizationMethod")
	}
	if sm := children(info, saml.NSDSig, "SignatureMethod"); len(sm) != 1 || !allowedSignatureMethods[attr(sm[0], "Algorithm")] {
		if len(sm) == 1 {
			return badAlg("signature method", attr(sm[0], "Algorithm"))
		}
		return bad("needs exactly one SignatureMethod")
	}
	refs := children(info, saml.NSDSig, "Reference")
	if len(refs) != 1 {
		return bad("has %d References; expected one", len(refs))
	}
	ref := refs[0]
	if uri := attr(ref, "URI"); uri != "#"+id {
		return bad("refers to %q instead of the root element %q", uri, "#"+id)
	}
	enveloped := false
	transforms := children(ref, saml.NSDSig, "Transforms")
	if len(transforms) > 1 {
		return bad("has %d Transforms elements; expected one", len(transforms))
	}
	for _, ts := range transforms {
		list := children(ts, saml.NSDSig, "Transform")
		if len(list) > 2 {
			return bad("has %d transforms; at most two are allowed", len(list))
		}
		for _, t := range list {
			switch alg := attr(t, "Algorithm"); alg {
			case algEnveloped:
				enveloped = true
			case algExcC14N:
			default:
				return badAlg("transform", alg)
			}
		}
	}
	if !enveloped {
		return bad("is not an enveloped signature")
	}
	if dm := children(ref, saml.NSDSig, "DigestMethod"); len(dm) != 1 || !allowedDigestMethods[attr(dm[0], "Algorithm")] {
		if len(dm) == 1 {
			return badAlg("digest method", attr(dm[0], "Algorithm"))
		}
		return bad("needs exactly one DigestMethod")
	}
	return nil
}
