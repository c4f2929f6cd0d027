// Package devkit holds what the development SAML IdP (devidp) and the development OpenID provider
// (devidp/oidcop) share: the choice of page language and a random source that concurrent handlers
// can share.
package devkit

import (
	"io"
	"strings"
	"sync"

	"github.com/eidsp/eidsp/templates"
)

// DefaultLocale is the page language when the request names none the pages speak.
const DefaultLocale = "nb"

// Locale maps a language tag to a page language: nb, nn, en; Northern Sami (se) and unspecified
// Norwegian fall back to Bokmål, as at ID-porten for most eIDs.
func Locale(tag string) (string, bool) {
	primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
	switch primary {
	case "nb", "no", "se":
		return "nb", true
	case "nn":
		return "nn", true
	case "en":
		return "en", true
	}
	return "", false
}

// AcceptLocale is the page language from an Accept-Language header, else DefaultLocale.
func AcceptLocale(acceptLanguage string) string {
	for _, tag := range templates.AcceptLanguage(acceptLanguage) {
		if l, ok := Locale(tag); ok {
			return l
		}
	}
	return DefaultLocale
}

// LockedReader serialises reads: handlers run concurrently and a test's deterministic reader need
// not be safe for that.
type LockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

// NewLockedReader wraps r.
func NewLockedReader(r io.Reader) *LockedReader { return &LockedReader{r: r} }

func (l *LockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
