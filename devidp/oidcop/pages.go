package oidcop

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/eidsp/eidsp/devidp/internal/devkit"
)

var catalogue = map[string]map[string]string{
	"nb": {
		"title":        "Innlogging (utviklings-OP)",
		"dev":          "Utviklings-OpenID-leverandør for eidsp: bare syntetiske testpersoner. Aldri i produksjon.",
		"login_to":     "Logg inn på",
		"plays":        "Spiller",
		"person":       "Velg testperson",
		"eid":          "Velg eID",
		"level":        "nivå",
		"required":     "Tjenesten krever minst sikkerhetsnivå",
		"cancel":       "Avbryt",
		"err_person":   "Velg en testperson.",
		"err_eid":      "Velg en eID.",
		"error_title":  "Forespørselen kan ikke fullføres",
		"error_detail": "Detaljer for utviklere:",
		"logout_title": "Du er logget ut",
		"logged_out":   "Du er logget ut av utviklings-OP-en. Tjenestene du var innlogget på, blir varslet.",
		"notifying":    "Varsler om utlogging:",
		"frame":        "Utlogging fra",
		"continue":     "Gå tilbake til tjenesten",
	},
	"nn": {
		"title":        "Innlogging (utviklings-OP)",
		"dev":          "Utviklings-OpenID-leverandør for eidsp: berre syntetiske testpersonar. Aldri i produksjon.",
		"login_to":     "Logg inn på",
		"plays":        "Speler",
		"person":       "Vel testperson",
		"eid":          "Vel eID",
		"level":        "nivå",
		"required":     "Tenesta krev minst tryggleiksnivå",
		"cancel":       "Avbryt",
		"err_person":   "Vel ein testperson.",
		"err_eid":      "Vel ein eID.",
		"error_title":  "Førespurnaden kan ikkje fullførast",
		"error_detail": "Detaljar for utviklarar:",
		"logout_title": "Du er logga ut",
		"logged_out":   "Du er logga ut av utviklings-OP-en. Tenestene du var innlogga på, blir varsla.",
		"notifying":    "Varslar om utlogging:",
		"frame":        "Utlogging frå",
		"continue":     "Gå tilbake til tenesta",
	},
	"en": {
		"title":        "Log in (development OP)",
		"dev":          "Development OpenID provider for eidsp: synthetic test persons only. Never in production.",
		"login_to":     "Log in to",
		"plays":        "Playing",
		"person":       "Choose a test person",
		"eid":          "Choose an eID",
		"level":        "level",
		"required":     "The service requires at least security level",
		"cancel":       "Cancel",
		"err_person":   "Choose a test person.",
		"err_eid":      "Choose an eID.",
		"error_title":  "The request cannot be completed",
		"error_detail": "Details for developers:",
		"logout_title": "You are logged out",
		"logged_out":   "You are logged out of the development OP. The services you were logged in to are being told.",
		"notifying":    "Telling of the logout:",
		"frame":        "Logout from",
		"continue":     "Return to the service",
	},
}

const style = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:1.0625rem;line-height:1.5;max-width:40rem;margin:0 auto;padding:1rem;color:#1a1a1a;background:#fff}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
.dev{background:#fff3cd;border-left:.35rem solid #8a6d00;padding:.5rem .75rem}
.error{background:#fdf1f2;border-left:.35rem solid #a4000f;padding:.5rem .75rem}
fieldset{margin:1rem 0;border:1px solid #767676;border-radius:.4rem;padding:.5rem 1rem 1rem}legend{font-weight:700;padding:0 .25rem}
.person{margin:.35rem 0}.person input{width:1.1rem;height:1.1rem;vertical-align:-.15rem;margin-right:.4rem}
button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.7rem 1rem;font:inherit;font-weight:600;color:#0b5394;background:#fff;border:2px solid #0b5394;border-radius:.4rem;cursor:pointer}
button:hover{background:#f3f6fa}button.cancel{color:#1a1a1a;border-color:#767676;width:auto}
.frontchannel{width:1px;height:1px;border:0;position:absolute;left:-9999px}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #ffbf47;outline-offset:0;box-shadow:0 0 0 6px #1a1a1a}`

// pages are parsed at start-up; a broken template stops the start, not a request.
var pages = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.title}}</title><style>` + style + `</style></head>
<body><main>
<h1>{{.T.title}}</h1>
<p class="dev">{{.T.dev}} {{.T.plays}} {{.Preset}}.</p>
<p>{{.T.login_to}} <strong id="client">{{.Client}}</strong></p>
<p id="required">{{.T.required}} {{.MinLevel}}.</p>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="login" value="{{.Token}}">
<fieldset><legend>{{.T.person}}</legend>
{{range $n, $p := .Persons}}<div class="person"><input type="radio" name="person" id="person-{{$n}}" value="{{$p.NationalID}}"{{if eq $p.NationalID $.Selected}} checked{{end}}> <label for="person-{{$n}}">{{$p.Name}} ({{$p.NationalID}})</label></div>
{{end}}</fieldset>
<fieldset><legend>{{.T.eid}}</legend>
{{range .EIDs}}<button type="submit" name="eid" value="{{.ID}}">{{.Name}} ({{$.T.level}} {{.Level}})</button>
{{end}}</fieldset>
<button type="submit" name="action" value="cancel" class="cancel">{{.T.cancel}}</button>
</form>
</main></body></html>
{{define "error"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.error_title}}</title><style>` + style + `</style></head>
<body><main><h1>{{.T.error_title}}</h1><p class="dev">{{.T.dev}}</p>
<p>{{.T.error_detail}}</p><p class="error" lang="en" id="message">{{.Message}}</p></main></body></html>
{{end}}
{{define "logged_out"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" {{.Refresh}}>{{end}}
<title>{{.T.logout_title}}</title><style>` + style + `</style></head>
<body><main><h1>{{.T.logout_title}}</h1><p class="dev">{{.T.dev}}</p>
<p id="logged-out" role="status">{{.T.logged_out}}</p>
{{if .Frames}}<h2>{{.T.notifying}}</h2><ul id="frontchannel">{{range .Frames}}<li>{{.ClientID}}<iframe class="frontchannel" src="{{.URL}}" title="{{$.T.frame}} {{.ClientID}}"></iframe></li>
{{end}}</ul>{{end}}
{{if .Target}}<p><a id="continue" href="{{.Target}}">{{.T.continue}}</a></p>{{end}}
</main></body></html>
{{end}}`))

// refreshDelay gives the front-channel iframes time to load before the page moves on.
const refreshDelay = 2

// pageCSP allows the inline style and nothing else: no script on any page. frameOrigins are the
// origins the logout page may frame.
func pageCSP(frameOrigins []string) string {
	frames := "'none'"
	if len(frameOrigins) > 0 {
		frames = strings.Join(frameOrigins, " ")
	}
	return "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-src " + frames +
		"; frame-ancestors 'none'; base-uri 'none'"
}

func (p *Provider) render(w http.ResponseWriter, name string, status int, csp string, data map[string]any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		p.cfg.Logger.Error("oidcop: template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderLogin shows the login page for req; errKey names a catalogue message to show on top.
func (p *Provider) renderLogin(w http.ResponseWriter, req *authRequest, token, selected, errKey string) {
	t := catalogue[req.locale]
	if selected == "" {
		selected = p.cfg.Persons[0].NationalID
	}
	p.render(w, "login", http.StatusOK, pageCSP(nil), map[string]any{
		"Lang":     req.locale,
		"T":        t,
		"Preset":   p.cfg.Preset,
		"Client":   req.clientID,
		"MinLevel": req.minLevel,
		"Error":    t[errKey],
		"Action":   p.prefix + "/authorize",
		"Token":    token,
		"Persons":  p.cfg.Persons,
		"Selected": selected,
		"EIDs":     p.offered(req.minLevel),
	})
}

// renderLoggedOut is the end of a logout: the front-channel iframes and, when the client named a
// post_logout_redirect_uri, a refresh to it (a meta refresh, not a script, to keep the CSP free of
// scripts) and a link for those who disable refreshes.
func (p *Provider) renderLoggedOut(w http.ResponseWriter, locale string, frames []frontchannelFrame, target string) {
	var origins []string
	for _, f := range frames {
		origins = append(origins, origin(f.URL))
	}
	data := map[string]any{"Lang": locale, "T": catalogue[locale], "Frames": frames, "Target": target}
	if target != "" {
		// target is a registered URI plus an encoded state; escaped as an attribute value here
		// because html/template refuses to fill a content attribute.
		data["Refresh"] = template.HTMLAttr(`content="` + template.HTMLEscapeString(fmt.Sprintf("%d;url=%s", refreshDelay, target)) + `"`)
	}
	p.render(w, "logged_out", http.StatusOK, pageCSP(origins), data)
}

// refuse logs a refused browser request once and shows the 400 page with a fixed sentence for
// developers.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, msg string, err error) {
	p.cfg.Logger.Warn("oidcop: request refused", "preset", p.cfg.Preset, "path", r.URL.Path, "problem", msg, "err", err)
	p.errorPage(w, r, http.StatusBadRequest, msg)
}

func (p *Provider) internalError(w http.ResponseWriter, r *http.Request, err error) {
	p.cfg.Logger.Error("oidcop: internal error", "preset", p.cfg.Preset, "path", r.URL.Path, "err", err)
	p.errorPage(w, r, http.StatusInternalServerError, "The development OP failed; see its log.")
}

func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	l := devkit.AcceptLocale(r.Header.Get("Accept-Language"))
	p.render(w, "error", status, pageCSP(nil), map[string]any{"Lang": l, "T": catalogue[l], "Message": msg})
}
