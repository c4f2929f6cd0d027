package templates

import (
	"sort"
	"strconv"
	"strings"
)

// AcceptLanguage returns the primary language subtags of an Accept-Language header, most
// preferred first (RFC 9110 §12.5.4): weights honoured, q=0 dropped, ties in header order.
func AcceptLanguage(header string) []string {
	type pref struct {
		tag string
		q   float64
	}
	var prefs []pref
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		p := pref{tag: strings.ToLower(strings.TrimSpace(tag)), q: 1}
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			p.q = f
		}
		if p.tag == "" || p.q == 0 {
			continue
		}
		p.tag, _, _ = strings.Cut(p.tag, "-")
		prefs = append(prefs, p)
	}
	sort.SliceStable(prefs, func(a, b int) bool { return prefs[a].q > prefs[b].q })
	out := make([]string, 0, len(prefs))
	for _, p := range prefs {
		out = append(out, p.tag)
	}
	return out
}
