package devidp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/saml"
)

// FuzzSSO feeds arbitrary query strings to the SingleSignOnService: it must never panic and never
// answer with anything but the login page, a redirect to a registered ACS or the 400 page.
func FuzzSSO(f *testing.F) {
	e := newEnv(f, nil)
	for _, r := range []req{{}, {instruments: []string{"ips:BPSC", "ips:OTP1PKI"}, locale: "en"}, {minLevel: 4, force: true, onBehalfOf: "X"}} {
		u, _ := url.Parse(e.redirectURL(e.fill(r)))
		f.Add(u.RawQuery)
	}
	f.Add("")
	f.Add("SAMLRequest=&SigAlg=&Signature=")
	f.Add("SAMLRequest=%ZZ&RelayState=%00")
	f.Add("locale=se&SAMLRequest=AAAA&SAMLRequest=BBBB")
	h := e.idp.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/idp/sso", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
		case http.StatusFound:
			if loc := rec.Header().Get("Location"); len(loc) < len(e.sp.acsArtifact) || loc[:len(e.sp.acsArtifact)] != e.sp.acsArtifact {
				t.Fatalf("redirect to %q", loc)
			}
		default:
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

// FuzzSLO feeds arbitrary query strings to the SingleLogoutService while a session of two SPs is
// alive: it must never panic and never answer with anything but the 400 page or a redirect to a
// registered SP's SingleLogoutService.
func FuzzSLO(f *testing.F) {
	w := newSLOWorld(f, nil, spWithKey(f, "https://sp-b.test.example", keySPB))
	w.loginAll()
	b := w.sps[1]
	for _, rs := range []string{"", "relay"} {
		lr, _ := w.logoutRequestURL(w.a, rs, nil, nil)
		u, _ := url.Parse(lr)
		f.Add(u.RawQuery)
	}
	u, _ := url.Parse(w.logoutResponseURL(b, "_x", "0123456789abcdef0123456789abcdef", []string{saml.StatusPrefix + "Responder"}, nil))
	f.Add(u.RawQuery)
	f.Add("")
	f.Add("SAMLResponse=&SigAlg=&Signature=")
	f.Add("SAMLRequest=%ZZ&RelayState=%00")
	f.Add("SAMLRequest=AAAA&SAMLResponse=AAAA")
	h := w.idp.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/idp/slo", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest:
		case http.StatusFound:
			loc := rec.Header().Get("Location")
			for _, sp := range w.sps {
				if strings.HasPrefix(loc, sp.sloLocation+"?") || strings.HasPrefix(loc, sp.sloResponse+"?") {
					return
				}
			}
			t.Fatalf("redirect to %q", loc)
		default:
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}
