package saml

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Redirect-binding parameter names (SAML bindings §3.4.4).
const (
	ParamSAMLRequest  = "SAMLRequest"
	ParamSAMLResponse = "SAMLResponse"
	ParamRelayState   = "RelayState"
	ParamSigAlg       = "SigAlg"
	ParamSignature    = "Signature"
)

// MaxRelayState is the RelayState size SAML bindings §3.4.3 allows.
const MaxRelayState = 80

// RedirectURL encodes msg for the HTTP-Redirect binding to endpoint and signs it in the query
// string. The signed string is exactly `param=…[&RelayState=…]&SigAlg=…` with the values
// URL-encoded as sent; a query already on endpoint is kept but not signed, and extra parameters
// (locale) come after Signature, unsigned.
func (s Signer) RedirectURL(endpoint, param string, msg []byte, relayState string, extra [][2]string) (string, error) {
	if param != ParamSAMLRequest && param != ParamSAMLResponse {
		return "", fmt.Errorf("unknown redirect parameter %q", param)
	}
	if len(relayState) > MaxRelayState {
		return "", fmt.Errorf("RelayState longer than %d bytes", MaxRelayState)
	}
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("endpoint %q is not an absolute URL", endpoint)
	}
	deflated, err := deflate(msg)
	if err != nil {
		return "", err
	}
	signed := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflated))
	if relayState != "" {
		signed += "&" + ParamRelayState + "=" + url.QueryEscape(relayState)
	}
	signed += "&" + ParamSigAlg + "=" + url.QueryEscape(s.alg())
	sig, err := s.signString(signed)
	if err != nil {
		return "", err
	}
	q := signed + "&" + ParamSignature + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	for _, kv := range extra {
		q += "&" + url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1])
	}
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	u.ForceQuery = false
	return u.String(), nil
}

// flateWriters recycles compressors: flate.NewWriter allocates about 1 MB of tables, more
// than everything else of a login. Reset makes a recycled one produce the same bytes as a new
// one. BestSpeed: on a typical AuthnRequest (about 1.3 KB) it writes 3 % more than
// BestCompression (522 bytes against 506, some 20 more characters of URL) in a third of the
// time, most of which BestCompression spends clearing its 640 KB of hash chains on every Reset.
var flateWriters = sync.Pool{New: func() any {
	fw, _ := flate.NewWriter(nil, deflateLevel)
	return fw
}}

const deflateLevel = flate.BestSpeed

// deflate compresses msg as raw DEFLATE (RFC 1951), which the Redirect binding requires.
func deflate(msg []byte) ([]byte, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	fw.Reset(buf)
	if _, err := fw.Write(msg); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

func (s Signer) signString(signed string) ([]byte, error) {
	if s.Key == nil {
		return nil, errors.New("signer has no key")
	}
	h, ok := hashFor(s.alg())
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %q", s.alg())
	}
	d := h.New()
	d.Write([]byte(signed))
	return rsa.SignPKCS1v15(rand.Reader, s.Key, h, d.Sum(nil))
}

// RedirectMessage is a message received over the HTTP-Redirect binding, not yet trusted.
type RedirectMessage struct {
	Param      string // SAMLRequest or SAMLResponse
	XML        []byte // inflated message
	RelayState string
	SigAlg     string
	signed     string // the octets the signature covers, rebuilt from the raw query
	signature  []byte
}

// ParseRedirect takes the raw query string of a Redirect-binding request. Each SAML parameter
// may appear once; the message is inflated with a cap of maxInflated bytes (a deflate bomb is
// refused, not buffered).
func ParseRedirect(rawQuery string, maxInflated int) (m *RedirectMessage, err error) {
	defer guard(&err)
	raw := map[string]string{}
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, reject(ReasonMalformed, "query parameter name: %v", err)
		}
		switch name {
		case ParamSAMLRequest, ParamSAMLResponse, ParamRelayState, ParamSigAlg, ParamSignature:
			if _, dup := raw[name]; dup {
				return nil, reject(ReasonMalformed, "parameter %s repeated", name)
			}
			raw[name] = v
		}
	}
	m = &RedirectMessage{}
	_, hasReq := raw[ParamSAMLRequest]
	_, hasResp := raw[ParamSAMLResponse]
	switch {
	case hasReq && hasResp:
		return nil, reject(ReasonMalformed, "both SAMLRequest and SAMLResponse")
	case hasReq:
		m.Param = ParamSAMLRequest
	case hasResp:
		m.Param = ParamSAMLResponse
	default:
		return nil, reject(ReasonMalformed, "no SAML message in the query")
	}
	value := func(name string) (string, error) {
		v, err := url.QueryUnescape(raw[name])
		if err != nil {
			return "", reject(ReasonMalformed, "parameter %s: %v", name, err)
		}
		return v, nil
	}
	b64, err := value(m.Param)
	if err != nil {
		return nil, err
	}
	if m.RelayState, err = value(ParamRelayState); err != nil {
		return nil, err
	}
	if len(m.RelayState) > MaxRelayState {
		return nil, reject(ReasonMalformed, "RelayState longer than %d bytes", MaxRelayState)
	}
	if m.SigAlg, err = value(ParamSigAlg); err != nil {
		return nil, err
	}
	if sig, ok := raw[ParamSignature]; ok {
		s, err := value(ParamSignature)
		if err != nil {
			return nil, err
		}
		if m.signature, err = base64.StdEncoding.DecodeString(s); err != nil || len(sig) == 0 {
			return nil, reject(ReasonSignature, "Signature is not base64")
		}
		m.signed = m.Param + "=" + raw[m.Param]
		if rs, ok := raw[ParamRelayState]; ok {
			m.signed += "&" + ParamRelayState + "=" + rs
		}
		m.signed += "&" + ParamSigAlg + "=" + raw[ParamSigAlg]
	}
	deflated, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, reject(ReasonMalformed, "%s is not base64", m.Param)
	}
	if m.XML, err = inflate(deflated, maxInflated); err != nil {
		return nil, err
	}
	return m, nil
}

func inflate(b []byte, max int) ([]byte, error) {
	r := newFlateReader(bytes.NewReader(b))
	defer putFlateReader(r)
	// A Redirect message inflates to a few times its compressed size; max bounds the guess.
	out, err := ReadAll(r, int64(4*len(b)), int64(max))
	if err != nil {
		return nil, reject(ReasonMalformed, "inflate: %v", err)
	}
	if len(out) > max {
		return nil, reject(ReasonTooLarge, "inflated message exceeds %d bytes", max)
	}
	return out, nil
}

// Signed reports whether the message carried a query signature.
func (m *RedirectMessage) Signed() bool { return m.signature != nil }

// Verify checks the query signature against the trusted certificates (from metadata) with an
// algorithm on the allow-list. An unsigned message fails.
func (m *RedirectMessage) Verify(trusted []*x509.Certificate, algs Algorithms) error {
	if m.signature == nil {
		return reject(ReasonSignature, "message is not signed")
	}
	if !slices.Contains(algs.Signature, m.SigAlg) {
		return reject(ReasonAlgorithm, "signature algorithm %q not allowed", m.SigAlg)
	}
	h, ok := hashFor(m.SigAlg)
	if !ok {
		return reject(ReasonAlgorithm, "signature algorithm %q not supported", m.SigAlg)
	}
	d := h.New()
	d.Write([]byte(m.signed))
	sum := d.Sum(nil)
	for _, c := range trusted {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, h, sum, m.signature) == nil {
			return nil
		}
	}
	return reject(ReasonSignature, "query signature does not verify with any of %d trusted certificates", len(trusted))
}
