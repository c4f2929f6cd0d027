package xenc

import (
	"crypto"
	"errors"

	// Registered for OAEP digests named in DigestMethod and xenc11:MGF.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Algorithm identifiers: the content-encryption (block) and key-transport algorithms this package
// speaks.
const (
	AES128CBC    = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	AES256CBC    = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	AES128GCM    = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	AES256GCM    = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	RSAOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	RSAOAEP11    = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	RSA15        = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
)

// ErrDecrypt is wrapped by every error Decrypt returns. The reason added to it never contains key
// material, plaintext or attacker-supplied strings.
var ErrDecrypt = errors.New("xenc: decryption failed")

// Options restricts what Decrypt accepts.
type Options struct {
	// AllowedBlock lists the accepted content-encryption algorithms; nil means all four AES ones.
	AllowedBlock []string
	// AllowedKeyTransport lists the accepted key-transport algorithms; nil means all three RSA ones.
	AllowedKeyTransport []string
	// MaxPlaintext caps the decrypted size in bytes; 0 means 1 MiB.
	MaxPlaintext int
}

const defaultMaxPlaintext = 1 << 20

const (
	nsXENC   = "http://www.w3.org/2001/04/xmlenc#"
	nsXENC11 = "http://www.w3.org/2009/xmlenc11#"
	nsDS     = "http://www.w3.org/2000/09/xmldsig#"

	typeElement      = nsXENC + "Element"
	typeEncryptedKey = nsXENC + "EncryptedKey"
)

type blockMode int

const (
	modeCBC blockMode = iota
	modeGCM
)

type blockAlg struct {
	keySize int
	mode    blockMode
}

var blockAlgs = map[string]blockAlg{
	AES128CBC: {16, modeCBC},
	AES256CBC: {32, modeCBC},
	AES128GCM: {16, modeGCM},
	AES256GCM: {32, modeGCM},
}

// digests maps DigestMethod URIs usable inside OAEP.
var digests = map[string]crypto.Hash{
	"http://www.w3.org/2000/09/xmldsig#sha1":        crypto.SHA1,
	"http://www.w3.org/2001/04/xmldsig-more#sha224": crypto.SHA224,
	"http://www.w3.org/2001/04/xmlenc#sha256":       crypto.SHA256,
	"http://www.w3.org/2001/04/xmldsig-more#sha384": crypto.SHA384,
	"http://www.w3.org/2001/04/xmlenc#sha512":       crypto.SHA512,
}

// mgfs maps xenc11:MGF URIs.
var mgfs = map[string]crypto.Hash{
	nsXENC11 + "mgf1sha1":   crypto.SHA1,
	nsXENC11 + "mgf1sha224": crypto.SHA224,
	nsXENC11 + "mgf1sha256": crypto.SHA256,
	nsXENC11 + "mgf1sha384": crypto.SHA384,
	nsXENC11 + "mgf1sha512": crypto.SHA512,
}

func allowed(alg string, list, all []string) bool {
	if list == nil {
		list = all
	}
	for _, a := range list {
		if a == alg {
			return true
		}
	}
	return false
}

var (
	allBlock        = []string{AES128CBC, AES256CBC, AES128GCM, AES256GCM}
	allKeyTransport = []string{RSAOAEPMGF1P, RSAOAEP11, RSA15}
)
