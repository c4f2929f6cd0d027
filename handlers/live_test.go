package handlers

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/saml"
)

// liveSource is a DescriptorSource whose answer the test changes.
type liveSource struct {
	desc *saml.IdPDescriptor
	err  error
}

func (l *liveSource) Descriptor(string) (*saml.IdPDescriptor, error) { return l.desc, l.err }

// TestLiveMetadata: with a DescriptorSource the login uses the metadata in force at the request
// (new endpoints at once), and metadata that may not be used stops the login with a clear page
// and no pending record.
func TestLiveMetadata(t *testing.T) {
	f := newFixture(t)
	cur := *f.srv.IdPs["idp"].Policy.Descriptor
	cur.SingleSignOn = []saml.Endpoint{{Binding: saml.BindingHTTPRedirect, Location: "https://idp.example/new-sso"}}
	live := &liveSource{desc: &cur}
	f.srv.IdPs["idp"].Live = live

	rec := f.request(http.MethodGet, "/login?profile=p3", "")
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "https://idp.example/new-sso?") {
		t.Fatalf("login with live metadata: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if f.srv.IdPs["idp"].SSOURL != testSSO || f.srv.IdPs["idp"].Policy.Descriptor.SingleSignOn[0].Location != testSSO {
		t.Fatal("the configured IdP was modified by a request")
	}

	live.err = errors.New("expired")
	rec = f.request(http.MethodGet, "/login?profile=p3", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `data-key="idp_unreachable"`) {
		t.Fatalf("login with expired metadata: %d\n%s", rec.Code, rec.Body)
	}
	if c := rec.Header().Values("Set-Cookie"); len(c) != 0 {
		t.Fatalf("a login that could not start set cookies: %v", c)
	}
	if !strings.Contains(f.logs.String(), `"reason":"metadata"`) {
		t.Errorf("no log line with reason metadata:\n%s", f.logs)
	}
}
