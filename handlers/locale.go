package handlers

import (
	"net/http"
	"slices"

	"github.com/eidsp/eidsp/templates"
	"github.com/labstack/echo/v5"
)

// idpLocales are the values ID-porten's locale parameter takes; our own pages fall back to
// Bokmål for a language without a complete catalogue (Northern Sami).
var idpLocales = []string{"nb", "nn", "en", "se"}

const localeCookie = "eidsp_locale"

// locale picks the user's language: ?locale, then the cookie, then Accept-Language, then nb.
func (s *Server) locale(c *echo.Context) string {
	if l := c.QueryParam("locale"); slices.Contains(idpLocales, l) {
		return l
	}
	if ck, err := c.Cookie(localeCookie); err == nil && slices.Contains(idpLocales, ck.Value) {
		return ck.Value
	}
	for _, tag := range templates.AcceptLanguage(c.Request().Header.Get("Accept-Language")) {
		switch tag {
		case "nb", "no":
			return "nb"
		case "nn", "en", "se":
			return tag
		}
	}
	return "nb"
}

// rememberLocale keeps an explicit ?locale choice in a cookie.
func (s *Server) rememberLocale(c *echo.Context) {
	if l := c.QueryParam("locale"); slices.Contains(idpLocales, l) {
		c.SetCookie(&http.Cookie{Name: localeCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode})
	}
}
