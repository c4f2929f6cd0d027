package registry

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/eidsp/eidsp/saml"
)

// Change is one difference between the metadata in force and a candidate, in plain words.
type Change struct {
	What   string // e.g. "signing certificate", "SingleSignOnService (HTTP-Redirect)"
	Before string // empty: added
	After  string // empty: removed
}

// Preview is what an upload would change, shown to the admin before it is saved.
type Preview struct {
	Desc    *saml.IdPDescriptor
	Changes []Change // empty: the candidate says the same as what is in force
}

// Preview checks data with the IdP's rules and compares it with the metadata in force; nothing
// is changed. A parse error lists every problem (see metadata.InvalidError).
func (r *Registry) Preview(name string, data []byte) (*Preview, error) {
	desc, err := r.Check(name, data)
	if err != nil {
		return nil, err
	}
	var cur *saml.IdPDescriptor
	if e, err := r.entry(name); err == nil {
		cur = e.Desc
	}
	return &Preview{Desc: desc, Changes: Diff(cur, desc)}, nil
}

// Diff lists what differs from a to b; a nil a lists all of b as added.
func Diff(a, b *saml.IdPDescriptor) []Change {
	if a == nil {
		a = &saml.IdPDescriptor{}
	}
	var out []Change
	str := func(what, x, y string) {
		if x != y {
			out = append(out, Change{What: what, Before: x, After: y})
		}
	}
	str("entity ID", a.EntityID, b.EntityID)
	endpoints := func(what string, x, y []saml.Endpoint) {
		for _, bind := range bindings(x, y) {
			ex, _ := saml.EndpointFor(x, bind)
			ey, _ := saml.EndpointFor(y, bind)
			str(what+" ("+shortBinding(bind)+")", ex.Location, ey.Location)
		}
	}
	endpoints("SingleSignOnService", a.SingleSignOn, b.SingleSignOn)
	endpoints("SingleLogoutService", a.SingleLogout, b.SingleLogout)
	endpoints("ArtifactResolutionService", a.ArtifactResolution, b.ArtifactResolution)
	certs := func(what string, x, y []*x509.Certificate) {
		for _, c := range y {
			if !containsCert(x, c) {
				out = append(out, Change{What: what, After: DescribeCert(c)})
			}
		}
		for _, c := range x {
			if !containsCert(y, c) {
				out = append(out, Change{What: what, Before: DescribeCert(c)})
			}
		}
	}
	certs("signing certificate", a.SigningCerts, b.SigningCerts)
	certs("encryption certificate", a.EncryptionCerts, b.EncryptionCerts)
	str("validUntil", formatTime(a.ValidUntil), formatTime(b.ValidUntil))
	str("cacheDuration", formatDur(a.CacheDuration), formatDur(b.CacheDuration))
	str("WantAuthnRequestsSigned", fmt.Sprint(a.WantAuthnRequestsSigned), fmt.Sprint(b.WantAuthnRequestsSigned))
	return out
}

func bindings(x, y []saml.Endpoint) []string {
	var out []string
	for _, e := range append(slices.Clone(x), y...) {
		if !slices.Contains(out, e.Binding) {
			out = append(out, e.Binding)
		}
	}
	return out
}

func shortBinding(b string) string {
	switch b {
	case saml.BindingHTTPRedirect:
		return "HTTP-Redirect"
	case saml.BindingHTTPPost:
		return "HTTP-POST"
	case saml.BindingHTTPArtifact:
		return "HTTP-Artifact"
	case saml.BindingSOAP:
		return "SOAP"
	}
	return b
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	return slices.ContainsFunc(list, func(x *x509.Certificate) bool { return x.Equal(c) })
}

// Fingerprint is the certificate's SHA-256 in hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// DescribeCert names a certificate for people: subject, expiry and the start of its fingerprint.
func DescribeCert(c *x509.Certificate) string {
	return fmt.Sprintf("%s, expires %s, SHA-256 %s…", c.Subject.String(), c.NotAfter.UTC().Format("2006-01-02"), Fingerprint(c)[:16])
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func formatDur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
