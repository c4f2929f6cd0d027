package devidp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
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
