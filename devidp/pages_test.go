package devidp

import (
	"html/template"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/identity"
)

// The login page from the cache with its slots filled is, byte for byte, the page the template
// renders with the request's own values, for every kind of page and on a cache hit as on a miss.
func TestLoginPageCacheMatchesTemplate(t *testing.T) {
	e := newEnv(t, nil)
	i := e.idp
	sp := i.lookupSP(e.sp.entityID)
	if sp == nil {
		t.Fatal("test SP not registered")
	}
	persons := i.cfg.Persons
	n := 0
	for _, locale := range []string{"nb", "nn", "en"} {
		for _, instruments := range [][]string{nil, {identity.InstrumentSmartCard}, {identity.InstrumentPasswordOTP, identity.InstrumentMobileApp}} {
			for _, errKey := range []string{"", "err_person", "err_otp"} {
				for _, selected := range []string{"", persons[len(persons)-1].NationalID} {
					for range 2 { // a miss, then a hit
						n++
						p := &pendingLogin{token: strings.Repeat("ab", 16) + string(rune('a'+n%26)), otp: "12345" + string(rune('0'+n%10)),
							req: &authnRequest{sp: sp, locale: locale, instruments: instruments}}
						rec := httptest.NewRecorder()
						i.renderLogin(rec, p, selected, errKey)
						if want := referenceLoginPage(t, i, p, selected, errKey); rec.Body.String() != want {
							t.Fatalf("%s %v %q %q: cached page differs from the template's:\n%s\nwant\n%s", locale, instruments, errKey, selected, rec.Body, want)
						}
						if strings.Contains(rec.Body.String(), i.loginPages.marker) {
							t.Fatal("a slot marker reached the page")
						}
					}
				}
			}
		}
	}
}

// referenceLoginPage renders the login page straight from the template.
func referenceLoginPage(t *testing.T, i *IdP, p *pendingLogin, selected, errKey string) string {
	t.Helper()
	if selected == "" {
		selected = i.cfg.Persons[0].NationalID
	}
	var rows strings.Builder
	for n, person := range i.cfg.Persons {
		rows.WriteString(string(i.personRows[n][boolIndex(person.NationalID == selected)]))
	}
	tr := catalogue[p.req.locale]
	var b strings.Builder
	err := pages.ExecuteTemplate(&b, "login", map[string]any{
		"Lang": p.req.locale, "T": tr, "SP": p.req.sp.entityID, "Error": tr[errKey], "Action": i.urls.login,
		"Token": p.token, "PersonRows": template.HTML(rows.String()), "Methods": p.req.methods(), "OTP": p.otp,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
