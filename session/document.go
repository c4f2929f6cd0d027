package session

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxDocumentKeyBytes bounds a document's key. Keys are names the program chooses
// ("idp-metadata/<idp>"), not secrets, so backends store them as they are; the bound keeps a
// key, and a Redis key built from it, short.
const MaxDocumentKeyBytes = 200

// ErrBadDocumentKey is returned, wrapped, by PutDocument, GetDocument and DeleteDocument for a key
// that CheckDocumentKey refuses. Every backend refuses the same keys with this error.
var ErrBadDocumentKey = errors.New("session: bad document key")

// ErrDocumentTooLarge is returned, wrapped, by PutDocument for a value larger than
// MaxDocumentBytes, so that a caller can tell "too large" from a failing store.
var ErrDocumentTooLarge = errors.New("session: document larger than MaxDocumentBytes")

// CheckDocumentKey refuses a key that is empty, longer than MaxDocumentKeyBytes, not UTF-8, or
// holds a control character: keys show up in Redis key names, log lines and admin pages, where
// a newline or an escape sequence would mislead the reader.
func CheckDocumentKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrBadDocumentKey)
	case len(key) > MaxDocumentKeyBytes:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadDocumentKey, MaxDocumentKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not UTF-8", ErrBadDocumentKey)
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrBadDocumentKey, r)
		}
	}
	return nil
}

// Prepare checks what every backend requires of a document it is asked to store, before it
// writes anything: a good key and a value of at most MaxDocumentBytes. UpdatedAt defaults to now.
func (d *Document) Prepare(now time.Time) error {
	if err := CheckDocumentKey(d.Key); err != nil {
		return err
	}
	if len(d.Value) > MaxDocumentBytes {
		return fmt.Errorf("%w: %d bytes", ErrDocumentTooLarge, len(d.Value))
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now
	}
	return nil
}
