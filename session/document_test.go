package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckDocumentKey(t *testing.T) {
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"ok/plain", "idp-metadata/idporten", true},
		{"ok/longest", strings.Repeat("k", MaxDocumentKeyBytes), true},
		{"ok/letters-beyond-ascii", "idp-metadata/Bærum kommune", true},
		{"ok/glob-characters", `a b:c/d*?[x]\`, true},
		{"fail/empty", "", false},
		{"fail/too-long", strings.Repeat("k", MaxDocumentKeyBytes+1), false},
		{"fail/too-long-in-bytes", strings.Repeat("æ", MaxDocumentKeyBytes/2) + "k", false},
		{"fail/newline", "idp\nmetadata", false},
		{"fail/nul", "idp\x00", false},
		{"fail/del", "idp\x7f", false},
		{"fail/c1-control", "idp\u0085", false},
		{"fail/escape-sequence", "\x1b[31mred", false},
		{"fail/not-utf8", "idp\xff", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDocumentKey(tc.key)
			if tc.ok && err != nil {
				t.Errorf("CheckDocumentKey(%q): %v", tc.key, err)
			}
			if !tc.ok && !errors.Is(err, ErrBadDocumentKey) {
				t.Errorf("CheckDocumentKey(%q): err = %v, want ErrBadDocumentKey", tc.key, err)
			}
		})
	}
}

func TestDocumentPrepare(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	d := &Document{Key: "k", Value: make([]byte, MaxDocumentBytes)}
	if err := d.Prepare(now); err != nil || !d.UpdatedAt.Equal(now) {
		t.Errorf("Prepare of a document of MaxDocumentBytes: %v, UpdatedAt %v", err, d.UpdatedAt)
	}
	set := now.Add(-time.Hour)
	d = &Document{Key: "k", UpdatedAt: set}
	if err := d.Prepare(now); err != nil || !d.UpdatedAt.Equal(set) {
		t.Errorf("Prepare with UpdatedAt set: %v, UpdatedAt %v, want %v", err, d.UpdatedAt, set)
	}
	d = &Document{Key: "k", Value: make([]byte, MaxDocumentBytes+1)}
	if err := d.Prepare(now); !errors.Is(err, ErrDocumentTooLarge) || !d.UpdatedAt.IsZero() {
		t.Errorf("Prepare of MaxDocumentBytes+1: err = %v, UpdatedAt %v; want ErrDocumentTooLarge and nothing filled", err, d.UpdatedAt)
	}
	if err := (&Document{Key: "a\nb"}).Prepare(now); !errors.Is(err, ErrBadDocumentKey) {
		t.Errorf("Prepare with a bad key: err = %v, want ErrBadDocumentKey", err)
	}
}
