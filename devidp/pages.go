package devidp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/eidsp/eidsp/devidp/internal/devkit"
)

// The pages speak nb, nn and en; devkit.Locale maps a request's language to one of them.
var catalogue = map[string]map[string]string{
	"nb": {
		"title":        "Innlogging (utviklings-IdP)",
		"dev":          "Utviklings-IdP for eidsp: bare syntetiske testpersoner. Aldri i produksjon.",
		"login_to":     "Logg inn på",
		"person":       "Velg testperson",
		"method":       "Velg innloggingsmetode",
		"m_minid":      "MinID (nivå 3)",
		"m_bankid":     "BankID (nivå 4)",
		"m_buypass":    "Buypass ID (nivå 4)",
		"m_commfides":  "Commfides (nivå 4)",
		"m_testid3":    "TestID (nivå 3)",
		"m_testid4":    "TestID (nivå 4)",
		"m_bpsc":       "Buypass ID på smartkort",
		"m_otp":        "Logg inn med PasswordID",
		"m_app":        "Godkjenn i Buypass ID-appen",
		"otp_heading":  "Buypass ID i mobil: passord og engangskode",
		"password":     "Passord (testpersoner godtar hvilket som helst)",
		"otp_sent":     "Engangskode sendt på SMS:",
		"otp":          "Engangskode",
		"cancel":       "Avbryt",
		"err_person":   "Velg en testperson.",
		"err_method":   "Velg en innloggingsmetode.",
		"err_otp":      "Feil engangskode eller manglende passord. Prøv igjen.",
		"post_title":   "Sender deg tilbake",
		"continue":     "Fortsett",
		"noscript":     "JavaScript er slått av. Trykk Fortsett for å gå tilbake til tjenesten.",
		"error_title":  "Innloggingen kan ikke fullføres",
		"error_detail": "Detaljer for utviklere:",
		"logout_error": "Utloggingen kan ikke fullføres",
		"logout_title": "Du er logget ut",
		"logged_out":   "Du er logget ut av utviklings-IdP-en og av tjenestene du var innlogget på.",
		"partial":      "Ikke alle tjenestene bekreftet utloggingen. Lukk nettleseren for å være sikker på at du er logget ut overalt.",

		// The admin page (admin.go).
		"admin_title":         "Tjenester (utviklings-IdP)",
		"admin_intro":         "Registrer en tjeneste (SAML-tjenesteleverandør) ved å laste opp metadataene, slik som i ID-portens selvbetjening. Metadataene kontrolleres etter ID-portens regler; ved feil blir ingenting registrert. Metadata for en entitets-ID som er registrert fra før, erstatter den gamle registreringen.",
		"admin_upload":        "Last opp metadata",
		"admin_file":          "Metadatafil (XML)",
		"admin_paste":         "Eller lim inn metadataene",
		"admin_submit":        "Kontroller og registrer",
		"admin_registered":    "Registrerte tjenester",
		"admin_none":          "Ingen tjenester er registrert.",
		"admin_acs":           "AssertionConsumerService (ACS)",
		"admin_slo":           "SingleLogoutService (SLO)",
		"admin_default":       "standard",
		"admin_response":      "svar til",
		"admin_certs":         "Sertifikater",
		"admin_signing":       "Signering",
		"admin_encryption":    "Kryptering",
		"admin_expires":       "utløper",
		"admin_expired":       "utløpt",
		"admin_ok":            "Registrert:",
		"admin_err_token":     "Skjemaet kom ikke fra denne siden eller mangler kontrollfeltet. Send det på nytt herfra.",
		"admin_err_too_large": "Metadataene er for store: høyst 4 MiB.",
		"admin_err_form":      "Skjemaet kunne ikke leses. Prøv igjen.",
		"admin_err_empty":     "Velg en metadatafil eller lim inn metadataene.",
		"admin_err_refused":   "Metadataene ble ikke godtatt, og ingenting ble registrert. Rett disse feilene (beskrevet på engelsk) og last opp på nytt:",
	},
	"nn": {
		"title":        "Innlogging (utviklings-IdP)",
		"dev":          "Utviklings-IdP for eidsp: berre syntetiske testpersonar. Aldri i produksjon.",
		"login_to":     "Logg inn på",
		"person":       "Vel testperson",
		"method":       "Vel innloggingsmetode",
		"m_minid":      "MinID (nivå 3)",
		"m_bankid":     "BankID (nivå 4)",
		"m_buypass":    "Buypass ID (nivå 4)",
		"m_commfides":  "Commfides (nivå 4)",
		"m_testid3":    "TestID (nivå 3)",
		"m_testid4":    "TestID (nivå 4)",
		"m_bpsc":       "Buypass ID på smartkort",
		"m_otp":        "Logg inn med PasswordID",
		"m_app":        "Godkjenn i Buypass ID-appen",
		"otp_heading":  "Buypass ID i mobil: passord og eingongskode",
		"password":     "Passord (testpersonar godtek kva som helst)",
		"otp_sent":     "Eingongskode sendt på SMS:",
		"otp":          "Eingongskode",
		"cancel":       "Avbryt",
		"err_person":   "Vel ein testperson.",
		"err_method":   "Vel ein innloggingsmetode.",
		"err_otp":      "Feil eingongskode eller manglande passord. Prøv igjen.",
		"post_title":   "Sender deg tilbake",
		"continue":     "Hald fram",
		"noscript":     "JavaScript er slått av. Trykk Hald fram for å gå tilbake til tenesta.",
		"error_title":  "Innlogginga kan ikkje fullførast",
		"error_detail": "Detaljar for utviklarar:",
		"logout_error": "Utlogginga kan ikkje fullførast",
		"logout_title": "Du er logga ut",
		"logged_out":   "Du er logga ut av utviklings-IdP-en og av tenestene du var innlogga på.",
		"partial":      "Ikkje alle tenestene stadfesta utlogginga. Lukk nettlesaren for å vere sikker på at du er logga ut overalt.",

		// The admin page (admin.go).
		"admin_title":         "Tenester (utviklings-IdP)",
		"admin_intro":         "Registrer ei teneste (SAML-tenesteleverandør) ved å laste opp metadataa, slik som i sjølvbeteninga til ID-porten. Metadataa blir kontrollerte etter reglane til ID-porten; ved feil blir ingenting registrert. Metadata for ein entitets-ID som er registrert frå før, erstattar den gamle registreringa.",
		"admin_upload":        "Last opp metadata",
		"admin_file":          "Metadatafil (XML)",
		"admin_paste":         "Eller lim inn metadataa",
		"admin_submit":        "Kontroller og registrer",
		"admin_registered":    "Registrerte tenester",
		"admin_none":          "Ingen tenester er registrerte.",
		"admin_acs":           "AssertionConsumerService (ACS)",
		"admin_slo":           "SingleLogoutService (SLO)",
		"admin_default":       "standard",
		"admin_response":      "svar til",
		"admin_certs":         "Sertifikat",
		"admin_signing":       "Signering",
		"admin_encryption":    "Kryptering",
		"admin_expires":       "går ut",
		"admin_expired":       "gått ut",
		"admin_ok":            "Registrert:",
		"admin_err_token":     "Skjemaet kom ikkje frå denne sida eller manglar kontrollfeltet. Send det på nytt herifrå.",
		"admin_err_too_large": "Metadataa er for store: høgst 4 MiB.",
		"admin_err_form":      "Skjemaet kunne ikkje lesast. Prøv igjen.",
		"admin_err_empty":     "Vel ei metadatafil eller lim inn metadataa.",
		"admin_err_refused":   "Metadataa vart ikkje godtekne, og ingenting vart registrert. Rett desse feila (skildra på engelsk) og last opp på nytt:",
	},
	"en": {
		"title":        "Log in (development IdP)",
		"dev":          "Development IdP for eidsp: synthetic test persons only. Never in production.",
		"login_to":     "Log in to",
		"person":       "Choose a test person",
		"method":       "Choose how to log in",
		"m_minid":      "MinID (level 3)",
		"m_bankid":     "BankID (level 4)",
		"m_buypass":    "Buypass ID (level 4)",
		"m_commfides":  "Commfides (level 4)",
		"m_testid3":    "TestID (level 3)",
		"m_testid4":    "TestID (level 4)",
		"m_bpsc":       "Buypass ID on smart card",
		"m_otp":        "Log in with PasswordID",
		"m_app":        "Approve in the Buypass ID app",
		"otp_heading":  "Buypass ID in mobile: password and one-time code",
		"password":     "Password (test persons accept any)",
		"otp_sent":     "One-time code sent by SMS:",
		"otp":          "One-time code",
		"cancel":       "Cancel",
		"err_person":   "Choose a test person.",
		"err_method":   "Choose how to log in.",
		"err_otp":      "Wrong one-time code or no password. Try again.",
		"post_title":   "Taking you back",
		"continue":     "Continue",
		"noscript":     "JavaScript is off. Press Continue to return to the service.",
		"error_title":  "The login cannot be completed",
		"error_detail": "Details for developers:",
		"logout_error": "The logout cannot be completed",
		"logout_title": "You are logged out",
		"logged_out":   "You are logged out of the development IdP and of the services you were logged in to.",
		"partial":      "Not every service confirmed the logout. Close the browser to be sure you are logged out everywhere.",

		// The admin page (admin.go).
		"admin_title":         "Service providers (development IdP)",
		"admin_intro":         "Register a service provider by uploading its SAML metadata, as in ID-porten's self-service. The metadata is checked against ID-porten's rules; if anything is wrong, nothing is registered. Metadata for an entity ID that is already registered replaces the earlier registration.",
		"admin_upload":        "Upload metadata",
		"admin_file":          "Metadata file (XML)",
		"admin_paste":         "Or paste the metadata",
		"admin_submit":        "Check and register",
		"admin_registered":    "Registered service providers",
		"admin_none":          "No service provider is registered.",
		"admin_acs":           "AssertionConsumerService (ACS)",
		"admin_slo":           "SingleLogoutService (SLO)",
		"admin_default":       "default",
		"admin_response":      "responses to",
		"admin_certs":         "Certificates",
		"admin_signing":       "Signing",
		"admin_encryption":    "Encryption",
		"admin_expires":       "expires",
		"admin_expired":       "expired",
		"admin_ok":            "Registered:",
		"admin_err_token":     "The form did not come from this page or lacks its check field. Send it again from here.",
		"admin_err_too_large": "The metadata is too large: at most 4 MiB.",
		"admin_err_form":      "The form could not be read. Try again.",
		"admin_err_empty":     "Choose a metadata file or paste the metadata.",
		"admin_err_refused":   "The metadata was not accepted, and nothing was registered. Fix these problems and upload again:",
	},
}

// requestLocale picks the page language: the locale parameter (nb nn en; se falls back to nb),
// else the browser's Accept-Language, else Bokmål.
func requestLocale(r *http.Request) string {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	if l, ok := devkit.Locale(q.Get("locale")); ok {
		return l
	}
	return devkit.AcceptLocale(r.Header.Get("Accept-Language"))
}

const style = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:1.0625rem;line-height:1.5;max-width:40rem;margin:0 auto;padding:1rem;color:#1a1a1a;background:#fff}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
.dev{background:#fff3cd;border-left:.35rem solid #8a6d00;padding:.5rem .75rem}
.error{background:#fdf1f2;border-left:.35rem solid #a4000f;padding:.5rem .75rem;color:#1a1a1a}
fieldset{margin:1rem 0;border:1px solid #767676;border-radius:.4rem;padding:.5rem 1rem 1rem}legend{font-weight:700;padding:0 .25rem}
.person{margin:.35rem 0}.person input{width:1.1rem;height:1.1rem;vertical-align:-.15rem;margin-right:.4rem}
button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.7rem 1rem;font:inherit;font-weight:600;color:#0b5394;background:#fff;border:2px solid #0b5394;border-radius:.4rem;cursor:pointer}
button:hover{background:#f3f6fa}button.cancel{color:#1a1a1a;border-color:#767676;width:auto}
label{display:block;font-weight:600}input[type=text],input[type=password]{display:block;font:inherit;margin:.25rem 0 .75rem;padding:.4rem .5rem;border:1px solid #767676;border-radius:.25rem;width:100%;max-width:20rem}
.person label{display:inline;font-weight:400}
.otp{border-top:1px solid #767676;margin-top:.75rem;padding-top:.5rem}.code{font-size:1.5rem;letter-spacing:.2rem;font-family:ui-monospace,Menlo,Consolas,monospace}
a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #ffbf47;outline-offset:0;box-shadow:0 0 0 6px #1a1a1a}`

// adminStyle adds what only the admin page has: the file and paste fields, messages, the SP list.
const adminStyle = `
input[type=file]{display:block;font:inherit;margin:.25rem 0 .75rem}
textarea{display:block;box-sizing:border-box;width:100%;margin:.25rem 0 .75rem;padding:.4rem .5rem;border:1px solid #767676;border-radius:.25rem;font:.9rem/1.4 ui-monospace,Menlo,Consolas,monospace}
.ok{background:#eef7ee;border-left:.35rem solid #1e6b1e;padding:.5rem .75rem}
.error ul{margin:.25rem 0;padding-left:1.25rem}
.sp{border-top:1px solid #767676;margin-top:1rem}.sp h3{font-size:1.15rem;overflow-wrap:anywhere}
dt{font-weight:700}dd{margin:0 0 .5rem 1rem;overflow-wrap:anywhere}dd ul{margin:0;padding-left:1.25rem}`

var pages = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.title}}</title><style>` + style + `</style></head>
<body><main>
<h1>{{.T.title}}</h1>
<p class="dev">{{.T.dev}}</p>
<p>{{.T.login_to}} <strong>{{.SP}}</strong></p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<fieldset><legend>{{.T.person}}</legend>
{{.PersonRows}}</fieldset>
<fieldset><legend>{{.T.method}}</legend>
{{range .Methods}}{{if .OTP}}<div class="otp"><p><strong>{{index $.T "otp_heading"}}</strong></p>
<label for="password">{{index $.T "password"}}</label><input type="password" id="password" name="password" autocomplete="off">
<p>{{index $.T "otp_sent"}} <span class="code" id="otp-code">{{$.OTP}}</span></p>
<label for="otp">{{index $.T "otp"}}</label><input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code">
<button type="submit" name="method" value="{{.ID}}">{{index $.T .Label}}</button></div>
{{else}}<button type="submit" name="method" value="{{.ID}}">{{index $.T .Label}}</button>
{{end}}{{end}}</fieldset>
<button type="submit" name="action" value="cancel" class="cancel">{{.T.cancel}}</button>
</form>
</main></body></html>
{{define "person"}}<div class="person"><input type="radio" name="person" id="person-{{.N}}" value="{{.P.NationalID}}"{{if .Checked}} checked{{end}}> <label for="person-{{.N}}">{{.P.Name}} ({{.P.NationalID}})</label></div>
{{end}}
{{define "post"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.T.post_title}}</title></head>
<body><main><form method="post" action="{{.ACS}}">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><p>{{.T.noscript}}</p><button type="submit">{{.T.continue}}</button></noscript>
</form></main><script>` + autoSubmit + `</script></body></html>
{{end}}
{{define "error"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{index .T .Title}}</title><style>` + style + `</style></head>
<body><main><h1>{{index .T .Title}}</h1><p class="dev">{{.T.dev}}</p>
<p>{{.T.error_detail}}</p><p class="error">{{.Message}}</p></main></body></html>
{{end}}
{{define "admin"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.admin_title}}</title><style>` + style + adminStyle + `</style></head>
<body><main>
<h1>{{.T.admin_title}}</h1>
<p class="dev">{{.T.dev}}</p>
<p>{{.T.admin_intro}}</p>
{{if .Registered}}<p class="ok" role="status" id="registered">{{.T.admin_ok}} <strong>{{.Registered}}</strong></p>{{end}}
{{if .Error}}<div class="error" role="alert" id="admin-error"><p>{{index .T .Error}}</p>
{{if .Problems}}<ul lang="en" id="problems">{{range .Problems}}<li>{{.}}</li>{{end}}</ul>{{end}}</div>{{end}}
<h2>{{.T.admin_upload}}</h2>
<form method="post" action="{{.Action}}" enctype="multipart/form-data">
<input type="hidden" name="token" value="{{.Token}}">
<label for="file">{{.T.admin_file}}</label>
<input type="file" id="file" name="file" accept=".xml,application/samlmetadata+xml,application/xml,text/xml">
<label for="metadata">{{.T.admin_paste}}</label>
<textarea id="metadata" name="metadata" rows="10" spellcheck="false">{{.Pasted}}</textarea>
<button type="submit">{{.T.admin_submit}}</button>
</form>
<h2>{{.T.admin_registered}}</h2>
{{range .SPs}}<section class="sp"><h3>{{.EntityID}}</h3>
<dl>
<dt>{{$.T.admin_acs}}</dt><dd><ul>{{range .ACS}}<li>{{.Binding}}: {{.Location}}{{if .IsDefault}} ({{$.T.admin_default}}){{end}}</li>{{end}}</ul></dd>
<dt>{{$.T.admin_slo}}</dt><dd>{{if .SLO}}<ul>{{range .SLO}}<li>{{.Binding}}: {{.Location}}{{if .ResponseLocation}}; {{$.T.admin_response}} {{.ResponseLocation}}{{end}}</li>{{end}}</ul>{{else}}–{{end}}</dd>
<dt>{{$.T.admin_certs}}</dt><dd><ul>{{range .Certs}}<li>{{index $.T .Use}}: {{.Subject}}, {{if .Expired}}<strong>{{$.T.admin_expired}}</strong>{{else}}{{$.T.admin_expires}}{{end}} {{.NotAfter}}</li>{{end}}</ul></dd>
</dl></section>
{{else}}<p id="no-sps">{{.T.admin_none}}</p>{{end}}
</main></body></html>
{{end}}
{{define "logged_out"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.T.logout_title}}</title><style>` + style + `</style></head>
<body><main><h1>{{.T.logout_title}}</h1><p class="dev">{{.T.dev}}</p>
<p id="logged-out">{{.T.logged_out}}</p>
{{if .Partial}}<p class="error" id="partial" role="alert">{{.T.partial}}</p>{{end}}</main></body></html>
{{end}}`))

const autoSubmit = `document.forms[0].submit()`

// csp allows the inline style and exactly the one auto-submit script.
var csp = func() string {
	sum := sha256.Sum256([]byte(autoSubmit))
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-" +
		base64.StdEncoding.EncodeToString(sum[:]) + "'; frame-ancestors 'none'; base-uri 'none'"
}()

func (i *IdP) render(w http.ResponseWriter, name string, status int, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		i.cfg.Logger.Error("devidp: template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderLogin shows the login page of p; errKey names a catalogue message to show on top.
//
// The page differs between requests in the form token, the one-time code and which person is
// checked; everything else follows from the locale, the SP, the methods offered and the error.
// So the template runs once per such combination, with slot markers where the three go, and
// each request fills the slots of the cached page.
func (i *IdP) renderLogin(w http.ResponseWriter, p *pendingLogin, selected, errKey string) {
	if selected == "" {
		selected = i.cfg.Persons[0].NationalID
	}
	methods := p.req.methods()
	key := loginPageKey{locale: p.req.locale, sp: p.req.sp.entityID, errKey: errKey}
	for _, m := range methods {
		key.methods += m.ID + " "
	}
	page, err := i.loginPages.get(key, func() (string, error) {
		t := catalogue[p.req.locale]
		var b strings.Builder
		err := pages.ExecuteTemplate(&b, "login", map[string]any{
			"Lang":       p.req.locale,
			"T":          t,
			"SP":         p.req.sp.entityID,
			"Error":      t[errKey],
			"Action":     i.urls.login,
			"Token":      i.loginPages.slot(slotToken),
			"PersonRows": template.HTML(i.loginPages.slot(slotPersons)), // #nosec G203 -- a slot marker, replaced by rendered rows
			"Methods":    methods,
			"OTP":        i.loginPages.slot(slotOTP),
		})
		return b.String(), err
	})
	if err != nil {
		i.cfg.Logger.Error("devidp: template", "template", "login", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var rows strings.Builder
	for n, person := range i.cfg.Persons {
		rows.WriteString(string(i.personRows[n][boolIndex(person.NationalID == selected)]))
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(http.StatusOK)
	i.loginPages.fill(w, page, html.EscapeString(p.token), rows.String(), html.EscapeString(p.otp))
}

type loginPageKey struct{ locale, sp, errKey, methods string }

const (
	slotToken = iota
	slotPersons
	slotOTP
)

// loginPages caches rendered login pages by what they depend on besides the slots. The slot
// markers are random per IdP, so no SP name or catalogue text can contain one.
type loginPages struct {
	marker string // slot n is marker + the digit n
	mu     sync.Mutex
	pages  map[loginPageKey]string
}

// maxLoginPages bounds the cache (SPs are registered at run time); past it pages are rendered
// without being kept.
const maxLoginPages = 256

func (c *loginPages) slot(n int) string { return c.marker + strconv.Itoa(n) }

func (c *loginPages) get(key loginPageKey, render func() (string, error)) (string, error) {
	c.mu.Lock()
	page, ok := c.pages[key]
	c.mu.Unlock()
	if ok {
		return page, nil
	}
	page, err := render()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.pages) < maxLoginPages {
		c.pages[key] = page
	}
	c.mu.Unlock()
	return page, nil
}

// fill writes page with its slots replaced by the (already escaped) values.
func (c *loginPages) fill(w io.Writer, page string, values ...string) {
	for {
		i := strings.Index(page, c.marker)
		if i < 0 || i+len(c.marker) >= len(page) {
			io.WriteString(w, page)
			return
		}
		io.WriteString(w, page[:i])
		n := int(page[i+len(c.marker)] - '0')
		if n >= 0 && n < len(values) {
			io.WriteString(w, values[n])
		}
		page = page[i+len(c.marker)+1:]
	}
}

// renderPersonRows renders the person choices of the login page once, each unchecked and
// checked, with the page's own template: only the choice of which is checked varies by request.
func renderPersonRows(persons []Person) ([][2]template.HTML, error) {
	rows := make([][2]template.HTML, len(persons))
	for n, p := range persons {
		for checked := range 2 {
			var b strings.Builder
			if err := pages.ExecuteTemplate(&b, "person", map[string]any{"N": n, "P": p, "Checked": checked == 1}); err != nil {
				return nil, err
			}
			rows[n][checked] = template.HTML(b.String()) // #nosec G203 -- escaped by html/template
		}
	}
	return rows, nil
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// renderPost is the HTTP-POST binding: a form that submits itself to the ACS.
func (i *IdP) renderPost(w http.ResponseWriter, a *authnRequest, samlResponse string) {
	i.render(w, "post", http.StatusOK, map[string]any{
		"Lang":         a.locale,
		"T":            catalogue[a.locale],
		"ACS":          a.acs.Location,
		"SAMLResponse": samlResponse,
		"RelayState":   a.relayState,
	})
}

// errorPage shows msg, a fixed sentence for developers (never raw XML or a stack trace), under
// the translated heading titleKey.
func (i *IdP) errorPage(w http.ResponseWriter, r *http.Request, status int, titleKey, msg string) {
	l := requestLocale(r)
	i.render(w, "error", status, map[string]any{"Lang": l, "T": catalogue[l], "Title": titleKey, "Message": msg})
}

// refuse logs a refused request once and shows the 400 page; the heading says a login or, on
// the logout endpoints, a logout failed.
func (i *IdP) refuse(w http.ResponseWriter, r *http.Request, b *badRequest) {
	i.cfg.Logger.Warn("devidp: request refused", "path", r.URL.Path, "problem", b.msg, "err", b.err)
	i.errorPage(w, r, http.StatusBadRequest, i.titleFor(r), b.msg)
}

func (i *IdP) internalError(w http.ResponseWriter, r *http.Request, err error) {
	i.cfg.Logger.Error("devidp: internal error", "path", r.URL.Path, "err", err)
	i.errorPage(w, r, http.StatusInternalServerError, i.titleFor(r), "The development IdP failed; see its log.")
}

func (i *IdP) titleFor(r *http.Request) string {
	if r.URL.Path == i.prefix+"/slo" || r.URL.Path == i.prefix+"/logout" {
		return "logout_error"
	}
	return "error_title"
}

// renderLoggedOut is the IdP's own page at the end of a logout the user started here.
func (i *IdP) renderLoggedOut(w http.ResponseWriter, locale string, partial bool) {
	i.render(w, "logged_out", http.StatusOK, map[string]any{"Lang": locale, "T": catalogue[locale], "Partial": partial})
}

// randomMarker is a slot marker no page text contains: letters and digits, so that no escaper
// changes it.
func randomMarker(r io.Reader) (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return "slot" + hex.EncodeToString(b) + "x", nil
}
