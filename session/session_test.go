package session

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 32 {
			t.Fatalf("NewID() = %q: want 32 bytes in base64url without padding (%d bytes, %v)", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewIDShortRead(t *testing.T) {
	boom := errors.New("no entropy")
	if _, err := newID(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("newID with a failing reader: err = %v, want %v", err, boom)
	}
	if _, err := newID(strings.NewReader("too short")); err == nil {
		t.Error("newID with a short reader: no error")
	}
}

func TestHashKey(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashKey("abc"); got != want {
		t.Errorf("HashKey(abc) = %s, want %s", got, want)
	}
}
