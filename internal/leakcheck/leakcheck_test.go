package leakcheck

import (
	"encoding/base64"
	"testing"
)

func TestJWTLike(t *testing.T) {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k"}`))
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x","pid":"12345678901"}`))
	for _, c := range []struct {
		text string
		want bool
	}{
		{"token=" + header + "." + claims + ".c2ln", true},
		{`"id_token":"` + header + "." + claims + `"`, true},
		{"cut short: " + header + ".", true},
		{"claims alone: " + claims, true},
		{"header alone " + header + " end", true},
		// A rotated key's ID that once failed the old check, which looked for "eyJ" anywhere.
		{"kid=tAANgEidn1c7GWCowtVaax11k_QeyJjS0JIPXdWYVZ4 more", false},
		{"nothing here", false},
		{"eyJ", false},
	} {
		if got := JWTLike(c.text); got != c.want {
			t.Errorf("JWTLike(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}
