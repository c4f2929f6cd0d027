package xenc

import (
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/beevik/etree"
)

// FuzzDecrypt feeds arbitrary documents to Decrypt, seeded from the table tests; it must never panic
// and must fail only with ErrDecrypt.
func FuzzDecrypt(f *testing.F) {
	for _, tc := range decryptCases(f) {
		f.Add([]byte(tc.doc))
	}
	keys := []*rsa.PrivateKey{wrongKey(), rightKey()}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(b); err != nil || doc.Root() == nil {
			return
		}
		pt, err := Decrypt(doc.Root(), keys, Options{MaxPlaintext: 64 << 10})
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("error does not wrap ErrDecrypt: %v", err)
			}
			return
		}
		if _, err := checkElement(pt); err != nil {
			t.Fatalf("returned plaintext is not a single element")
		}
	})
}
