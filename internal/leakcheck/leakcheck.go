// Package leakcheck finds secrets in text that must never carry them (logs, error messages),
// for tests.
package leakcheck

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
)

// b64JSON is a base64url run that starts as a JSON object does: "{\"" encodes as "eyJ".
var b64JSON = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*`)

// JWTLike reports whether s holds a JWT or a part of one: a base64url JSON header followed by a
// dot (a JWS or JWE in compact form, whole or cut short), or a base64url run that decodes to a
// JSON object (a header or claims set alone). Random base64url text such as a key ID may hold
// "eyJ" by chance, but then neither follows.
func JWTLike(s string) bool {
	for _, m := range b64JSON.FindAllStringIndex(s, -1) {
		if m[1] < len(s) && s[m[1]] == '.' {
			return true
		}
		if dec, err := base64.RawURLEncoding.DecodeString(s[m[0]:m[1]]); err == nil && json.Valid(dec) {
			return true
		}
	}
	return false
}
