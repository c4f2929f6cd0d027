// Package certs owns the SP's RSA key pairs: loading them from PEM files (PKCS#1 or PKCS#8
// keys) and checking that key and certificate belong together, generating self-signed pairs for
// development and tests, and parsing the IdP certificates found in metadata and configuration.
// SAML signing here is RSA-SHA1/RSA-SHA256, so only RSA keys of at least 2048 bits are accepted.
package certs

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// MinRSABits is the smallest RSA key accepted for our own signing and decryption key. ID-porten
// allowed 1024 bits; we do not.
const MinRSABits = 2048

// PEM block types.
const (
	pemCertificate   = "CERTIFICATE"
	pemPKCS1Key      = "RSA PRIVATE KEY"
	pemPKCS8Key      = "PRIVATE KEY"
	pemEncryptedKey  = "ENCRYPTED PRIVATE KEY"
	pemPrivateSuffix = "PRIVATE KEY"
)

// KeyPair is an RSA private key and the certificate for its public key.
type KeyPair struct {
	Key     *rsa.PrivateKey
	Cert    *x509.Certificate
	CertPEM []byte // the certificate alone, PEM-encoded
}

// LoadKeyPair reads a PEM certificate and a PEM private key (PKCS#1 or PKCS#8, unencrypted) and
// checks that they belong together. When the certificate file holds a chain, the first
// certificate must be the one for the key. Errors name the file, never its contents.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: read private key: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate %s: %w", certFile, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: private key %s: %w", keyFile, err)
	}
	kp, err := newKeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("certs: %s and %s: %w", certFile, keyFile, err)
	}
	return kp, nil
}

// ParseKeyPair is LoadKeyPair for PEM already in memory.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: private key: %w", err)
	}
	kp, err := newKeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return kp, nil
}

func newKeyPair(cert *x509.Certificate, key *rsa.PrivateKey) (*KeyPair, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("certificate has a %s public key, RSA required", cert.PublicKeyAlgorithm)
	}
	if !pub.Equal(&key.PublicKey) {
		return nil, errors.New("private key does not match the certificate")
	}
	kp := &KeyPair{Key: key, Cert: cert}
	kp.CertPEM = kp.certPEM()
	return kp, nil
}

// parseCertPEM returns the first certificate in data. Other block types before it (a private key
// in a combined file) are skipped; text around the blocks is ignored by PEM decoding anyway.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != pemCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		return cert, nil
	}
}

// parseKeyPEM returns the one private key in data, which must be RSA and at least MinRSABits.
// Parser errors are not wrapped: they describe DER structure, and the message should stay about
// the file, not its bytes.
func parseKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	var found *pem.Block
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if !strings.HasSuffix(block.Type, pemPrivateSuffix) {
			continue
		}
		if found != nil {
			return nil, errors.New("more than one PEM private key block")
		}
		found = block
	}
	if found == nil {
		return nil, errors.New("no PEM private key block")
	}
	if _, encrypted := found.Headers["Proc-Type"]; encrypted || found.Type == pemEncryptedKey {
		return nil, errors.New("key is encrypted; an unencrypted PKCS#1 or PKCS#8 key is required")
	}

	var key *rsa.PrivateKey
	switch found.Type {
	case pemPKCS1Key:
		k, err := x509.ParsePKCS1PrivateKey(found.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#1 RSA private key")
		}
		key = k
	case pemPKCS8Key:
		k, err := x509.ParsePKCS8PrivateKey(found.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %s, RSA required", keyTypeName(k))
		}
		key = rk
	default:
		return nil, fmt.Errorf("PEM block %q is not an RSA key, RSA required", found.Type)
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Errorf("RSA key has %d bits, at least %d required", bits, MinRSABits)
	}
	return key, nil
}

func keyTypeName(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PrivateKey:
		return "ECDH"
	}
	return "not RSA"
}

// ExpiresWithin reports whether the certificate is no longer valid at now+d, so callers can warn
// ahead of a rollover. An already expired certificate expires within any d.
func (k *KeyPair) ExpiresWithin(d time.Duration, now time.Time) bool {
	return !now.Add(d).Before(k.Cert.NotAfter)
}

// ParseCertificatePEMOrBase64 parses one certificate given either as a PEM block or as bare
// base64 DER with any whitespace in it, the way ds:X509Certificate carries it in metadata.
func ParseCertificatePEMOrBase64(s string) (*x509.Certificate, error) {
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return nil, errors.New("certs: empty certificate")
	}
	if strings.HasPrefix(trimmed, "-----BEGIN") {
		block, rest := pem.Decode([]byte(trimmed))
		if block == nil {
			return nil, errors.New("certs: malformed PEM certificate")
		}
		if block.Type != pemCertificate {
			return nil, fmt.Errorf("certs: PEM block %q is not a CERTIFICATE", block.Type)
		}
		if len(strings.TrimSpace(string(rest))) != 0 {
			return nil, errors.New("certs: data after the PEM certificate")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: parse certificate: %w", err)
		}
		return cert, nil
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, trimmed)
	der, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		return nil, errors.New("certs: certificate is neither PEM nor base64 DER")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse certificate: %w", err)
	}
	return cert, nil
}

// LoadPrivateKey reads an RSA private key (PKCS#1 or PKCS#8 PEM) of at least 2048 bits: the
// key of OIDC private_key_jwt client authentication, which has no certificate.
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		return nil, err
	}
	if key.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key of %d bits; at least 2048 are required", key.N.BitLen())
	}
	return key, nil
}
