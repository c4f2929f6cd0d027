package xenc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/internal/xmlout"
)

// Encrypt replaces nothing: it returns a new xenc:EncryptedData element, with the EncryptedKey
// inside ds:KeyInfo as xmlsec1 does, that encrypts the serialization of el for the holder of pub.
// The serialization carries the namespace declarations el inherits from its ancestors, so the
// plaintext stands on its own. rsa-oaep-mgf1p is written with SHA-1, xmlenc11 rsa-oaep with SHA-256
// for both digest and MGF1.
func Encrypt(el *etree.Element, pub *rsa.PublicKey, blockAlg, keyTransportAlg string, rand io.Reader) (*etree.Element, error) {
	if el == nil || pub == nil || rand == nil {
		return nil, errors.New("xenc: Encrypt needs an element, a public key and a random source")
	}
	alg, ok := blockAlgs[blockAlg]
	if !ok {
		return nil, errors.New("xenc: unsupported block encryption algorithm")
	}
	plain := serialize(el)
	cek := make([]byte, alg.keySize)
	if _, err := io.ReadFull(rand, cek); err != nil {
		return nil, fmt.Errorf("xenc: content key: %w", err)
	}
	ct, err := encryptBlock(alg, cek, plain, rand)
	if err != nil {
		return nil, err
	}

	ed := etree.NewElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", nsXENC)
	ed.CreateAttr("Type", typeElement)
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", blockAlg)
	keyInfo := ed.CreateElement("ds:KeyInfo")
	keyInfo.CreateAttr("xmlns:ds", nsDS)
	ek := keyInfo.CreateElement("xenc:EncryptedKey")
	method := ek.CreateElement("xenc:EncryptionMethod")
	method.CreateAttr("Algorithm", keyTransportAlg)

	var wrapped []byte
	switch keyTransportAlg {
	case RSAOAEPMGF1P:
		method.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
		wrapped, err = rsa.EncryptOAEP(sha1.New(), rand, pub, cek, nil)
	case RSAOAEP11:
		method.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256")
		mgf := method.CreateElement("xenc11:MGF")
		mgf.CreateAttr("xmlns:xenc11", nsXENC11)
		mgf.CreateAttr("Algorithm", nsXENC11+"mgf1sha256")
		wrapped, err = rsa.EncryptOAEP(sha256.New(), rand, pub, cek, nil)
	case RSA15:
		//lint:ignore SA1019 rsa-1_5 is offered so tests and the development IdP can exercise ID-porten's option.
		wrapped, err = rsa.EncryptPKCS1v15(rand, pub, cek)
	default:
		return nil, errors.New("xenc: unsupported key transport algorithm")
	}
	if err != nil {
		return nil, fmt.Errorf("xenc: wrap content key: %w", err)
	}
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(ct))
	return ed, nil
}

// serialize writes el as a document of its own: with the namespace declarations it inherits
// copied onto it when it has ancestors, as it is when it has none (no copy of the tree).
func serialize(el *etree.Element) []byte {
	if el.Parent() != nil {
		el = withInherited(el)
	}
	var b bytes.Buffer
	b.Grow(8 << 10)
	xmlout.Write(&b, el)
	return b.Bytes()
}

// withInherited returns a copy of el that declares itself every namespace it inherits.
func withInherited(el *etree.Element) *etree.Element {
	c := el.Copy()
	declared := map[string]bool{}
	declare := func(a etree.Attr, add bool) {
		var prefix string
		switch {
		case a.Space == "xmlns":
			prefix = a.Key
		case a.Space == "" && a.Key == "xmlns":
			prefix = ""
		default:
			return
		}
		if declared[prefix] {
			return
		}
		declared[prefix] = true
		if add {
			c.CreateAttr(a.FullKey(), a.Value)
		}
	}
	for _, a := range c.Attr {
		declare(a, false)
	}
	for p := el.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			declare(a, true)
		}
	}
	return c
}

func encryptBlock(alg blockAlg, key, plain []byte, rand io.Reader) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("xenc: %w", err)
	}
	switch alg.mode {
	case modeCBC:
		n := aes.BlockSize - len(plain)%aes.BlockSize
		out := make([]byte, cbcIVSize+len(plain)+n)
		if _, err := io.ReadFull(rand, out[:cbcIVSize]); err != nil {
			return nil, fmt.Errorf("xenc: IV: %w", err)
		}
		body := out[cbcIVSize:]
		copy(body, plain)
		for i := len(plain); i < len(body); i++ {
			body[i] = byte(n)
		}
		cipher.NewCBCEncrypter(block, out[:cbcIVSize]).CryptBlocks(body, body)
		return out, nil
	case modeGCM:
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("xenc: %w", err)
		}
		nonce := make([]byte, gcmIVSize, gcmIVSize+len(plain)+gcmTagSize)
		if _, err := io.ReadFull(rand, nonce); err != nil {
			return nil, fmt.Errorf("xenc: IV: %w", err)
		}
		return aead.Seal(nonce, nonce, plain, nil), nil
	}
	return nil, errors.New("xenc: unsupported block mode")
}
