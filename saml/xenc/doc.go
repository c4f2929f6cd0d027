// Package xenc is XML Encryption for SAML EncryptedAssertion/EncryptedID: strict, allow-listed,
// panic-free on hostile input.
//
// Decrypt is the SP side. It takes the container element (saml:EncryptedAssertion or
// saml:EncryptedID), finds its single xenc:EncryptedData, collects the candidate xenc:EncryptedKeys
// (inside EncryptedData/ds:KeyInfo, referenced by ds:RetrievalMethod, or beside EncryptedData in
// the container), unwraps the content-encryption key with each of the SP's RSA keys in turn (key
// rollover) and decrypts the ciphertext. Every algorithm is checked against an allow-list, every
// length is checked before it is used, and the plaintext must be exactly one well-formed XML element
// without a DOCTYPE. DecryptFunc hands each candidate plaintext to the caller's parser instead, so
// that it is checked and parsed once (the saml package parses it straight into its tree).
//
// Once the structure has been accepted, all cryptographic failures (RSA unwrap, key length, CBC
// padding, GCM tag, malformed plaintext) collapse into one indistinguishable error: telling them
// apart would hand an attacker a Bleichenbacher or padding oracle (Jager and Somorovsky, "How to
// break XML Encryption", CCS 2011). rsa-1_5 is unwrapped with a random key pre-filled so that a bad
// RSA padding is only noticed, indistinguishably, at the block cipher. AES-GCM is the better choice
// wherever the IdP offers it: CBC without an authenticated envelope stays malleable.
//
// Encrypt is the IdP side, for the development IdP and tests: it produces EncryptedData with the
// EncryptedKey inside ds:KeyInfo, as xmlsec1 and pysaml2 do.
package xenc
