package oidc

import (
	"net/url"
)

// Callback is the authorization response (BASE/oidc/callback?…): either Code or Error is set,
// and State always.
type Callback struct {
	Code, State, Iss, Error, ErrorDescription string
}

// Bounds on the authorization response parameters. Our state is 43 characters and real codes
// are well under 1 KiB; the bounds leave room without letting the query grow unchecked.
const (
	maxStateLen     = 256
	maxCodeLen      = 2048
	maxIssLen       = 1024
	maxErrorLen     = 64
	maxErrorDescLen = 512
)

// ParseCallback reads the authorization response strictly: code, state, iss, error and
// error_description may each appear at most once; state is required, and exactly one of code
// and error; state must be of the base64url/unreserved alphabet, code and iss of RFC 6749's
// VSCHAR without space (%x21-7E), error of [A-Za-z0-9_.-], error_description of NQSCHAR
// (RFC 6749 §4.1.2.1); each is bounded in length. Other parameters (session_state, …) are
// ignored. Every failure is ReasonMalformed and quotes no value.
//
// On an error the returned Callback still carries the state when that parameter by itself is
// well-formed, so that the caller can consume the pending login it names (a malformed answer
// must not leave the login usable).
func ParseCallback(q url.Values) (Callback, error) {
	cb, err := parseCallback(q)
	if err != nil {
		st := Callback{}
		if v, present, serr := single(q, "state"); serr == nil && present && len(v) <= maxStateLen && allBytes(v, isUnreserved) {
			st.State = v
		}
		return st, err
	}
	return cb, nil
}

func parseCallback(q url.Values) (Callback, error) {
	var cb Callback
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"code", &cb.Code}, {"state", &cb.State}, {"iss", &cb.Iss},
		{"error", &cb.Error}, {"error_description", &cb.ErrorDescription},
	} {
		v, present, err := single(q, f.name)
		if err != nil {
			return Callback{}, err
		}
		if present && v == "" {
			return Callback{}, reject(ReasonMalformed, "parameter %s is empty", f.name)
		}
		*f.dst = v
	}
	if err := cb.check(); err != nil {
		return Callback{}, err
	}
	return cb, nil
}

// check applies ParseCallback's rules to the fields; Exchange runs it too, so a Callback built
// by hand gets the same treatment.
func (cb Callback) check() error {
	switch {
	case cb.State == "":
		return reject(ReasonMalformed, "no state")
	case cb.Code == "" && cb.Error == "":
		return reject(ReasonMalformed, "neither code nor error")
	case cb.Code != "" && cb.Error != "":
		return reject(ReasonMalformed, "both code and error")
	case cb.ErrorDescription != "" && cb.Error == "":
		return reject(ReasonMalformed, "error_description without error")
	}
	for _, f := range []struct {
		name, v string
		max     int
		ok      func(byte) bool
	}{
		{"state", cb.State, maxStateLen, isUnreserved},
		{"code", cb.Code, maxCodeLen, isVSChar},
		{"iss", cb.Iss, maxIssLen, isVSChar},
		{"error", cb.Error, maxErrorLen, isErrorChar},
		{"error_description", cb.ErrorDescription, maxErrorDescLen, isNQSChar},
	} {
		if len(f.v) > f.max {
			return reject(ReasonMalformed, "parameter %s longer than %d bytes", f.name, f.max)
		}
		if !allBytes(f.v, f.ok) {
			return reject(ReasonMalformed, "parameter %s has characters outside its alphabet", f.name)
		}
	}
	return nil
}

// single returns the one value of a parameter; more than one is an error, since which of them
// a proxy, a framework and we would each read is anyone's guess.
func single(q url.Values, name string) (string, bool, error) {
	vs, ok := q[name]
	switch {
	case !ok:
		return "", false, nil
	case len(vs) != 1:
		return "", false, reject(ReasonMalformed, "parameter %s appears %d times", name, len(vs))
	}
	return vs[0], true, nil
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// isUnreserved is RFC 3986's unreserved set, which holds base64url.
func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isVSChar(c byte) bool { return c >= 0x21 && c <= 0x7e }

func isNQSChar(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

func isErrorChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}
