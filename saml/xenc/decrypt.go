package xenc

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
)

const (
	cbcIVSize  = aes.BlockSize
	gcmIVSize  = 12
	gcmTagSize = 16
	// maxEncryptedKeys bounds the RSA work an attacker can make us do: each candidate is tried with
	// every SP key.
	maxEncryptedKeys = 8
	// maxWrappedKey is far above any RSA modulus we accept (16384 bits) and keeps a hostile
	// EncryptedKey from costing a large allocation.
	maxWrappedKey = 2048
)

func fail(reason string) error { return fmt.Errorf("%w: %s", ErrDecrypt, reason) }

// errNoKey is the one answer for every cryptographic failure; see the package comment for why.
var errNoKey = fail("no key could decrypt the data")

// Decrypt decrypts an EncryptedAssertion-like container: container is the element holding one
// xenc:EncryptedData (e.g. saml:EncryptedAssertion), with the xenc:EncryptedKey either inside
// EncryptedData/ds:KeyInfo or as a sibling of EncryptedData inside the container (referenced by
// ds:RetrievalMethod or not). Every key in keys is tried (SP key rollover: current and next).
// It returns the plaintext bytes, the serialized element, with the namespace declarations it
// inherits from the container added to its start tag so that it parses on its own.
func Decrypt(container *etree.Element, keys []*rsa.PrivateKey, opt Options) ([]byte, error) {
	var out []byte
	err := DecryptFunc(container, keys, opt, func(pt []byte) error {
		root, err := checkElement(pt)
		if err != nil {
			return ErrNotElement
		}
		out = inheritNamespaces(pt, root, container)
		return nil
	})
	return out, err
}

// ErrNotElement is what a DecryptFunc callback returns for a plaintext that is not one
// well-formed XML element: Decrypt then goes on with the next key, and in the end fails with
// the one indistinguishable error.
var ErrNotElement = errors.New("plaintext is not a single XML element")

// DecryptFunc is Decrypt for a caller that reads the plaintext itself, so that it is checked
// and parsed once: accept is called with each candidate plaintext (it must not keep the slice).
// If accept returns ErrNotElement the candidate counts as a failed decryption, like a bad
// padding; any other error ends DecryptFunc with that error, unwrapped (well-formed XML that the
// caller's policy refuses is not a cryptographic failure); nil ends it with success. The
// plaintext has no namespace declarations added: XML Encryption decrypts it in the context of
// the container, whose in-scope declarations the caller applies.
func DecryptFunc(container *etree.Element, keys []*rsa.PrivateKey, opt Options, accept func(plaintext []byte) error) error {
	if container == nil {
		return fail("no container element")
	}
	if len(keys) == 0 {
		return fail("no decryption key configured")
	}
	maxPlain := opt.MaxPlaintext
	if maxPlain <= 0 {
		maxPlain = defaultMaxPlaintext
	}
	// Keeps the ciphertext bound computed from it from overflowing.
	maxPlain = min(maxPlain, 1<<30)

	var data *etree.Element
	var siblings []*etree.Element
	for c := range container.ChildElementsSeq() {
		switch {
		case is(c, nsXENC, "EncryptedData"):
			if data != nil {
				return fail("more than one EncryptedData")
			}
			data = c
		case is(c, nsXENC, "EncryptedKey"):
			siblings = append(siblings, c)
		default:
			return fail("unexpected element in encrypted container")
		}
	}
	if data == nil {
		return fail("no EncryptedData")
	}

	ed, err := parseEncryptedData(data, opt)
	if err != nil {
		return err
	}
	ct, err := cipherValue(ed.cipherData, maxPlain+cbcIVSize+2*aes.BlockSize)
	if err != nil {
		return err
	}
	if err := checkCiphertext(ed.alg, len(ct), maxPlain); err != nil {
		return err
	}

	keyElems, err := candidateKeys(ed.keyInfo, siblings)
	if err != nil {
		return err
	}
	wrapped := make([]encryptedKey, 0, len(keyElems))
	for _, k := range keyElems {
		ek, err := parseEncryptedKey(k, opt)
		if err != nil {
			return err
		}
		wrapped = append(wrapped, ek)
	}

	for _, ek := range wrapped {
		for _, key := range keys {
			if key == nil || key.N == nil {
				continue
			}
			cek, ok := ek.unwrap(key, ed.alg.keySize)
			if !ok {
				continue
			}
			pt, err := decryptBlock(ed.alg, cek, ct)
			if err != nil || len(pt) > maxPlain {
				continue
			}
			if err := accept(pt); err != nil {
				if errors.Is(err, ErrNotElement) {
					continue
				}
				return err
			}
			return nil
		}
	}
	return errNoKey
}

func is(e *etree.Element, ns, local string) bool {
	return e.Tag == local && e.NamespaceURI() == ns
}

// attr returns the value of the unprefixed attribute key. etree's SelectAttr would also match any
// prefixed attribute with that local name.
func attr(e *etree.Element, key string) (string, bool) {
	for _, a := range e.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

type encryptedData struct {
	alg        blockAlg
	keyInfo    *etree.Element
	cipherData *etree.Element
}

func parseEncryptedData(data *etree.Element, opt Options) (encryptedData, error) {
	var ed encryptedData
	if t, ok := attr(data, "Type"); ok && t != typeElement {
		return ed, fail("EncryptedData Type is not Element")
	}
	var method *etree.Element
	for c := range data.ChildElementsSeq() {
		switch {
		case is(c, nsXENC, "EncryptionMethod"):
			if method != nil {
				return ed, fail("more than one EncryptionMethod in EncryptedData")
			}
			method = c
		case is(c, nsDS, "KeyInfo"):
			if ed.keyInfo != nil {
				return ed, fail("more than one KeyInfo in EncryptedData")
			}
			ed.keyInfo = c
		case is(c, nsXENC, "CipherData"):
			if ed.cipherData != nil {
				return ed, fail("more than one CipherData in EncryptedData")
			}
			ed.cipherData = c
		case is(c, nsXENC, "EncryptionProperties"):
			// Informational only; nothing in it changes how we decrypt.
		default:
			return ed, fail("unexpected element in EncryptedData")
		}
	}
	if method == nil {
		return ed, fail("EncryptedData has no EncryptionMethod")
	}
	if ed.cipherData == nil {
		return ed, fail("EncryptedData has no CipherData")
	}
	uri, _ := attr(method, "Algorithm")
	alg, known := blockAlgs[uri]
	if !known {
		return ed, fail("unsupported block encryption algorithm")
	}
	if !allowed(uri, opt.AllowedBlock, allBlock) {
		return ed, fail("block encryption algorithm not allowed")
	}
	for c := range method.ChildElementsSeq() {
		if !is(c, nsXENC, "KeySize") {
			return ed, fail("unexpected element in block EncryptionMethod")
		}
		if strings.TrimSpace(c.Text()) != fmt.Sprint(alg.keySize*8) {
			return ed, fail("KeySize does not match the block algorithm")
		}
	}
	ed.alg = alg
	return ed, nil
}

// cipherValue decodes CipherData/CipherValue, refusing CipherReference and anything decoding to
// more than maxLen bytes before it allocates for it.
func cipherValue(cd *etree.Element, maxLen int) ([]byte, error) {
	var cv *etree.Element
	for c := range cd.ChildElementsSeq() {
		switch {
		case is(c, nsXENC, "CipherValue"):
			if cv != nil {
				return nil, fail("more than one CipherValue")
			}
			cv = c
		case is(c, nsXENC, "CipherReference"):
			return nil, fail("CipherReference is not supported")
		default:
			return nil, fail("unexpected element in CipherData")
		}
	}
	if cv == nil {
		return nil, fail("no CipherValue")
	}
	n := 0
	for _, tok := range cv.Child {
		cd, ok := tok.(*etree.CharData)
		if !ok {
			return nil, fail("CipherValue holds more than text")
		}
		n += len(cd.Data)
	}
	// The text without its whitespace, in one allocation no larger than the bound allows.
	b := make([]byte, 0, min(n, base64.StdEncoding.EncodedLen(maxLen+3)+1))
	for _, tok := range cv.Child {
		data := tok.(*etree.CharData).Data
		for i := 0; i < len(data); i++ {
			switch c := data[i]; c {
			case ' ', '\t', '\r', '\n':
			default:
				if base64.StdEncoding.DecodedLen(len(b)+1) > maxLen+3 {
					return nil, fail("CipherValue too large")
				}
				b = append(b, c)
			}
		}
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	k, err := base64.StdEncoding.Decode(raw, b)
	if err != nil {
		return nil, fail("CipherValue is not valid base64")
	}
	raw = raw[:k]
	if len(raw) > maxLen {
		return nil, fail("CipherValue too large")
	}
	return raw, nil
}

// checkCiphertext rejects, before any key work, a ciphertext whose length cannot be valid for the
// algorithm or whose plaintext would certainly exceed maxPlain.
func checkCiphertext(alg blockAlg, n, maxPlain int) error {
	switch alg.mode {
	case modeCBC:
		if n < cbcIVSize+aes.BlockSize || n%aes.BlockSize != 0 {
			return fail("CBC ciphertext length invalid")
		}
		// The padding is at most one block, so the plaintext is at least this long.
		if n-cbcIVSize-aes.BlockSize > maxPlain {
			return fail("plaintext exceeds the limit")
		}
	case modeGCM:
		if n < gcmIVSize+gcmTagSize {
			return fail("GCM ciphertext length invalid")
		}
		if n-gcmIVSize-gcmTagSize > maxPlain {
			return fail("plaintext exceeds the limit")
		}
	}
	return nil
}

// decryptBlock assumes checkCiphertext has accepted len(ct) but still checks every length itself.
func decryptBlock(alg blockAlg, key, ct []byte) ([]byte, error) {
	if len(key) != alg.keySize {
		return nil, errNoKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errNoKey
	}
	switch alg.mode {
	case modeCBC:
		if len(ct) < cbcIVSize+aes.BlockSize || len(ct)%aes.BlockSize != 0 {
			return nil, errNoKey
		}
		pt := make([]byte, len(ct)-cbcIVSize)
		cipher.NewCBCDecrypter(block, ct[:cbcIVSize]).CryptBlocks(pt, ct[cbcIVSize:])
		// XML Encryption padding: only the last byte counts; the others are arbitrary.
		n := int(pt[len(pt)-1])
		if n < 1 || n > aes.BlockSize || n > len(pt) {
			return nil, errNoKey
		}
		return pt[:len(pt)-n], nil
	case modeGCM:
		if len(ct) < gcmIVSize+gcmTagSize {
			return nil, errNoKey
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, errNoKey
		}
		pt, err := aead.Open(nil, ct[:gcmIVSize], ct[gcmIVSize:], nil)
		if err != nil {
			return nil, errNoKey
		}
		return pt, nil
	}
	return nil, errNoKey
}

// candidateKeys returns the EncryptedKeys to try: those inside KeyInfo, plus those a
// RetrievalMethod points to; without a RetrievalMethod, every sibling in the container.
func candidateKeys(keyInfo *etree.Element, siblings []*etree.Element) ([]*etree.Element, error) {
	var out []*etree.Element
	referenced := false
	if keyInfo != nil {
		for c := range keyInfo.ChildElementsSeq() {
			switch {
			case is(c, nsXENC, "EncryptedKey"):
				out = append(out, c)
			case is(c, nsDS, "RetrievalMethod"):
				if t, ok := attr(c, "Type"); ok && t != typeEncryptedKey {
					continue
				}
				if elementCount(c) != 0 {
					return nil, fail("RetrievalMethod with transforms is not supported")
				}
				uri, _ := attr(c, "URI")
				if len(uri) < 2 || uri[0] != '#' {
					return nil, fail("RetrievalMethod URI is not a same-document reference")
				}
				target := findByID(siblings, uri[1:])
				if target == nil {
					return nil, fail("RetrievalMethod points to no EncryptedKey in the container")
				}
				referenced = true
				out = append(out, target)
			}
		}
	}
	if !referenced {
		out = append(out, siblings...)
	}
	if len(out) == 0 {
		return nil, fail("no EncryptedKey")
	}
	if len(out) > maxEncryptedKeys {
		return nil, fail("too many EncryptedKeys")
	}
	return out, nil
}

func findByID(els []*etree.Element, id string) *etree.Element {
	var found *etree.Element
	for _, e := range els {
		if v, ok := attr(e, "Id"); ok && v == id {
			if found != nil {
				return nil // ambiguous: duplicate Id
			}
			found = e
		}
	}
	return found
}

type encryptedKey struct {
	alg  string
	oaep rsa.OAEPOptions
	ct   []byte
}

func parseEncryptedKey(ek *etree.Element, opt Options) (encryptedKey, error) {
	var out encryptedKey
	var method, cd *etree.Element
	for c := range ek.ChildElementsSeq() {
		switch {
		case is(c, nsXENC, "EncryptionMethod"):
			if method != nil {
				return out, fail("more than one EncryptionMethod in EncryptedKey")
			}
			method = c
		case is(c, nsXENC, "CipherData"):
			if cd != nil {
				return out, fail("more than one CipherData in EncryptedKey")
			}
			cd = c
		case is(c, nsDS, "KeyInfo"), is(c, nsXENC, "EncryptionProperties"),
			is(c, nsXENC, "ReferenceList"), is(c, nsXENC, "CarriedKeyName"):
			// They name or describe the recipient key; we simply try every key we hold.
		default:
			return out, fail("unexpected element in EncryptedKey")
		}
	}
	if method == nil {
		return out, fail("EncryptedKey has no EncryptionMethod")
	}
	if cd == nil {
		return out, fail("EncryptedKey has no CipherData")
	}
	out.alg, _ = attr(method, "Algorithm")
	switch out.alg {
	case RSAOAEPMGF1P, RSAOAEP11, RSA15:
	default:
		return out, fail("unsupported key transport algorithm")
	}
	if !allowed(out.alg, opt.AllowedKeyTransport, allKeyTransport) {
		return out, fail("key transport algorithm not allowed")
	}
	if err := parseOAEP(method, &out); err != nil {
		return out, err
	}
	ct, err := cipherValue(cd, maxWrappedKey)
	if err != nil {
		return out, err
	}
	out.ct = ct
	return out, nil
}

// parseOAEP reads DigestMethod, xenc11:MGF and OAEPparams. rsa-1_5 takes none of them, and
// rsa-oaep-mgf1p fixes the mask generation to MGF1 with SHA-1.
func parseOAEP(method *etree.Element, out *encryptedKey) error {
	out.oaep = rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	var seenDigest, seenMGF, seenParams bool
	for c := range method.ChildElementsSeq() {
		if out.alg == RSA15 {
			return fail("unexpected element in rsa-1_5 EncryptionMethod")
		}
		switch {
		case is(c, nsDS, "DigestMethod"):
			if seenDigest {
				return fail("more than one DigestMethod")
			}
			seenDigest = true
			alg, _ := attr(c, "Algorithm")
			h, ok := digests[alg]
			if !ok {
				return fail("unsupported OAEP digest")
			}
			out.oaep.Hash = h
		case is(c, nsXENC11, "MGF") && out.alg == RSAOAEP11:
			if seenMGF {
				return fail("more than one MGF")
			}
			seenMGF = true
			alg, _ := attr(c, "Algorithm")
			h, ok := mgfs[alg]
			if !ok {
				return fail("unsupported OAEP mask generation function")
			}
			out.oaep.MGFHash = h
		case is(c, nsXENC, "OAEPparams"):
			if seenParams {
				return fail("more than one OAEPparams")
			}
			seenParams = true
			label, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Text()), ""))
			if err != nil || elementCount(c) != 0 {
				return fail("OAEPparams is not valid base64")
			}
			out.oaep.Label = label
		default:
			return fail("unexpected element in key transport EncryptionMethod")
		}
	}
	return nil
}

// unwrap reports ok=false for any failure, without saying which.
func (ek encryptedKey) unwrap(key *rsa.PrivateKey, size int) ([]byte, bool) {
	if len(ek.ct) != key.Size() {
		return nil, false
	}
	switch ek.alg {
	case RSA15:
		// A random key stands in for the real one when the padding is wrong, so a bad padding is
		// indistinguishable from a wrong key further on (Bleichenbacher). A message of another
		// length than the block key also leaves the random key in place.
		cek := make([]byte, size)
		if _, err := io.ReadFull(rand.Reader, cek); err != nil {
			return nil, false
		}
		//lint:ignore SA1019 rsa-1_5 is required for ID-porten interop; this is the Bleichenbacher-safe form.
		if err := rsa.DecryptPKCS1v15SessionKey(nil, key, ek.ct, cek); err != nil {
			return nil, false
		}
		return cek, true
	default:
		opts := ek.oaep
		cek, err := key.Decrypt(nil, ek.ct, &opts)
		if err != nil || len(cek) != size {
			return nil, false
		}
		return cek, true
	}
}

// rootInfo is what inheritNamespaces needs to know about the plaintext's root start tag.
type rootInfo struct {
	nameEnd  int // offset just after the root element's name
	declared map[string]bool
}

// checkElement accepts exactly one element, optionally preceded by an XML declaration and
// surrounded by whitespace and comments; DOCTYPE and other directives are refused.
func checkElement(pt []byte) (rootInfo, error) {
	var root rootInfo
	d := xml.NewDecoder(bytes.NewReader(pt))
	d.Strict = true
	depth, roots := 0, 0
	for {
		start := int(d.InputOffset())
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return root, ErrNotElement
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return root, ErrNotElement
				}
				root.nameEnd = start + 1
				for root.nameEnd < len(pt) && strings.IndexByte(" \t\r\n/>", pt[root.nameEnd]) < 0 {
					root.nameEnd++
				}
				root.declared = map[string]bool{}
				for _, a := range t.Attr {
					switch {
					case a.Name.Space == "xmlns":
						root.declared[a.Name.Local] = true
					case a.Name.Space == "" && a.Name.Local == "xmlns":
						root.declared[""] = true
					}
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) != 0 {
				return root, ErrNotElement
			}
		case xml.Directive:
			return root, ErrNotElement
		case xml.ProcInst:
			if depth == 0 && roots > 0 {
				return root, ErrNotElement
			}
		}
	}
	if roots != 1 || depth != 0 {
		return root, ErrNotElement
	}
	return root, nil
}

// Namespace is one namespace declaration; Prefix "" is the default namespace.
type Namespace struct{ Prefix, URI string }

// InScopeNamespaces are the namespace declarations in scope at el, nearest first, without the
// reserved prefixes and an empty default namespace: the context XML Encryption decrypts an
// Element in when el is the EncryptedData's parent.
func InScopeNamespaces(el *etree.Element) []Namespace {
	var out []Namespace
	seen := map[string]bool{}
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			var prefix string
			switch {
			case a.Space == "xmlns":
				prefix = a.Key
			case a.Space == "" && a.Key == "xmlns":
			default:
				continue
			}
			if seen[prefix] {
				continue
			}
			seen[prefix] = true
			if prefix == "xml" || prefix == "xmlns" || (prefix == "" && a.Value == "") {
				continue
			}
			out = append(out, Namespace{prefix, a.Value})
		}
	}
	return out
}

// inheritNamespaces adds to the root start tag the namespace declarations in scope at the
// container that the root does not make itself. XML Encryption decrypts an Element in the context
// of the EncryptedData's parent, and xmlsec1 serializes an element without the declarations it
// inherits, so without this a saml: prefix declared on the Response would be unbound.
func inheritNamespaces(pt []byte, root rootInfo, container *etree.Element) []byte {
	var decls bytes.Buffer
	for _, ns := range InScopeNamespaces(container) {
		if root.declared[ns.Prefix] {
			continue
		}
		decls.WriteString(" xmlns")
		if ns.Prefix != "" {
			decls.WriteString(":" + ns.Prefix)
		}
		decls.WriteString(`="`)
		// EscapeText cannot fail writing to a bytes.Buffer.
		_ = xml.EscapeText(&decls, []byte(ns.URI))
		decls.WriteString(`"`)
	}
	if decls.Len() == 0 {
		return pt
	}
	out := make([]byte, 0, len(pt)+decls.Len())
	out = append(out, pt[:root.nameEnd]...)
	out = append(out, decls.Bytes()...)
	return append(out, pt[root.nameEnd:]...)
}

// elementCount is how many child elements el has (etree's ChildElements would build a slice).
func elementCount(el *etree.Element) int {
	n := 0
	for _, t := range el.Child {
		if _, ok := t.(*etree.Element); ok {
			n++
		}
	}
	return n
}
