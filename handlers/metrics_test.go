package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/eidsp/eidsp/metrics"
)

var _ Observer = (*metrics.Metrics)(nil)

var (
	reSeries = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	reLabel  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// series reads the value of name{labels} from a Prometheus text exposition; the labels must
// match exactly.
func series(t *testing.T, body, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		m := reSeries.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		got := map[string]string{}
		for _, l := range reLabel.FindAllStringSubmatch(m[2], -1) {
			got[l[1]] = l[2]
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if got[k] != v {
				match = false
			}
		}
		if match {
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v, true
		}
	}
	return 0, false
}

func TestMetricsEndpointAbsentWithoutMetrics(t *testing.T) {
	f := newFixture(t)
	if rec := f.request(http.MethodGet, "/metrics", ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without Metrics: %d, want 404", rec.Code)
	}
	// Without an Observer nothing is counted, and nothing breaks.
	relay, bc := f.pendingFor(t, "p3")
	if rec := f.request(http.MethodGet, "/saml/acs?SAMLart=AAAA&RelayState="+relay, "", bc); rec.Code != http.StatusForbidden {
		t.Errorf("failed login without Metrics: %d", rec.Code)
	}
}

// TestMetricsAndAudit runs a real artifact login (the attack catalogue's positive control,
// resolved over SOAP), failed logins and a logout, and reads both /metrics and the audit lines.
func TestMetricsAndAudit(t *testing.T) {
	w := newAttackWorld(t)
	defer w.checkLog(t)
	sp := w.sp
	sp.srv.Metrics = metrics.New(metrics.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	get := func(target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		return sp.do(httptest.NewRequest(http.MethodGet, target, nil), cookies...)
	}

	// A successful artifact login.
	okc := w.m.byName["ok/artifact"]
	relay, bc := sp.login(t, okc.Profile, 0xa1)
	sess := w.accepted(t, sp, w.answer(sp, okc, okc.vector(t), relay, bc, newArtifact(w.m)), okc)
	// A failed one: the pending login is known, so the failure names IdP and profile.
	relay, bc = sp.login(t, "art", 0xb1)
	if rec := get("/saml/acs?SAMLart=AAAA&RelayState="+relay, bc); rec.Code != http.StatusForbidden {
		t.Fatalf("garbage artifact: %d", rec.Code)
	}
	// Failures whose request names no trusted login: no IdP, no profile, whatever the request says.
	if rec := get("/saml/acs?SAMLart=AAAA&RelayState=" + strings.Repeat("A", 43)); rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown RelayState: %d", rec.Code)
	}
	if rec := get("/login?profile=" + url.QueryEscape("made-up-by-the-client")); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown profile: %d", rec.Code)
	}
	// An SP-initiated logout of the session.
	if rec := get("/logout", sess); rec.Code != http.StatusFound {
		t.Fatalf("GET /logout: %d\n%s", rec.Code, rec.Body)
	}

	rec := get("/metrics")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	login := func(result, reason, idp, profile, instrument string) map[string]string {
		return map[string]string{"result": result, "reason": reason, "idp": idp, "profile": profile, "instrument": instrument}
	}
	for _, tt := range []struct {
		name   string
		series string
		labels map[string]string
		want   float64
	}{
		{"ok/login success", "eidsp_logins_total", login("success", "", "art", "art", "ips:BPSC"), 1},
		{"ok/login failure with its reason", "eidsp_logins_total", login("failure", "artifact", "art", "art", ""), 1},
		{"ok/failure without a pending login", "eidsp_logins_total", login("failure", "pending_login", "", "", ""), 1},
		{"ok/unknown profile is no label value", "eidsp_logins_total", login("failure", "unknown_profile", "", "", ""), 1},
		{"ok/logout", "eidsp_logouts_total", map[string]string{"initiator": "sp", "result": "sent"}, 1},
		{"ok/artifact resolution timed once", "eidsp_artifact_resolution_seconds_count", map[string]string{}, 1},
		{"ok/every ACS request timed", "eidsp_acs_seconds_count", map[string]string{"binding": "artifact"}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := series(t, body, tt.series, tt.labels); !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v\n%s", tt.series, tt.labels, got, ok, tt.want,
					grep(body, "eidsp_logins_total"))
			}
		})
	}
	if strings.Contains(body, "made-up-by-the-client") {
		t.Error("a value the client chose became a label value")
	}

	// The audit lines: one per login and logout, the fixed attribute set on each.
	fixed := []string{"audit", "action", "result", "reason", "idp", "profile", "session_index", "nid_hash", "client_ip", "ref"}
	check := func(name string, line map[string]any, want map[string]any) {
		t.Helper()
		for _, k := range fixed {
			if _, ok := line[k]; !ok {
				t.Errorf("%s: no %s in %v", name, k, line)
			}
		}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s: %s = %v, want %v", name, k, line[k], v)
			}
		}
	}
	logins := w.logs.records(t, "login")
	if len(logins) != 1 {
		t.Fatalf("%d login lines, want 1", len(logins))
	}
	check("login", logins[0], map[string]any{"audit": true, "action": "login", "result": "success", "reason": "",
		"idp": "art", "profile": "art"})
	if s, _ := logins[0]["nid_hash"].(string); len(s) != 16 {
		t.Errorf("login: nid_hash %v", logins[0]["nid_hash"])
	}
	fails := w.logs.records(t, "request failed")
	if len(fails) != 3 {
		t.Fatalf("%d 'request failed' lines for 3 failed requests, want 3", len(fails))
	}
	check("failed login", fails[0], map[string]any{"audit": true, "action": "login", "result": "failure",
		"reason": "artifact", "idp": "art", "profile": "art", "error_key": "verification"})
	check("failed login start", fails[2], map[string]any{"audit": true, "action": "login", "result": "failure",
		"reason": "unknown_profile", "profile": ""})
	logouts := w.logs.records(t, "logout")
	if len(logouts) != 1 {
		t.Fatalf("%d logout lines, want 1", len(logouts))
	}
	check("logout", logouts[0], map[string]any{"audit": true, "action": "logout", "initiator": "sp", "result": "sent",
		"idp": "art", "profile": "art", "nid_hash": logins[0]["nid_hash"], "session_index": logins[0]["session_index"]})
}

// TestNoAuditOnOtherFailures: a failure outside login and logout is logged once, without the
// audit attributes.
func TestNoAuditOnOtherFailures(t *testing.T) {
	f := newFixture(t)
	if rec := f.request(http.MethodGet, "/no-such-page", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	fails := f.logs.records(t, "request failed")
	if len(fails) != 1 || fails[0]["audit"] != nil || fails[0]["reason"] != "not_found" || fails[0]["ref"] == "" {
		t.Errorf("log %v", fails)
	}
}

func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestNIDHash: the audit log's nid_hash is stable for one key, differs between keys, and never
// looks like a national identity number to the logger's redaction.
func TestNIDHash(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	other.srv.Opt.HashKey = []byte(strings.Repeat("k", 32))
	elevenDigits := regexp.MustCompile(`\d{11}`)
	for i := range 20000 {
		nid := strconv.Itoa(10000000000 + i*7919)
		h := f.srv.nidHash(nid)
		if len(h) != 16 || elevenDigits.MatchString(h) || strings.Contains(h, nid) {
			t.Fatalf("nidHash(%s) = %q", nid, h)
		}
		if i < 10 && (h != f.srv.nidHash(nid) || h == other.srv.nidHash(nid)) {
			t.Fatalf("nidHash(%s) is not stable for one key or not different under another", nid)
		}
	}
}
