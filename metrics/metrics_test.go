package metrics

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample returns the value of the series name{labels}, and whether it exists. Histograms answer
// with their sample count.
func sample(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !labelsEqual(m.GetLabel(), labels) {
				continue
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

func login(result, reason, idp, profile, instrument string) map[string]string {
	return map[string]string{"result": result, "reason": reason, "idp": idp, "profile": profile, "instrument": instrument}
}

func TestCounters(t *testing.T) {
	m := New(Options{Instruments: []string{"ips:NEW"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m.Login("success", "", "ips", "buypass", "ips:BPSC")
	m.Login("success", "", "ips", "buypass", "ips:BPSC")
	m.Login("success", "", "ips", "buypass", "ips:NEW")
	m.Login("success", "", "ips", "buypass", "<script>alert(1)</script>")
	m.Login("success", "", "ips", "buypass", "ips:ANOTHER")
	m.Login("failure", "signature", "ips", "buypass", "")
	m.Logout("sp", "sent")
	m.Logout("idp", "success")
	m.Logout("idp", "success")
	m.ObserveArtifactResolution(120 * time.Millisecond)
	m.ObserveACS("artifact", 300*time.Millisecond)
	m.ObserveACS("post", 20*time.Millisecond)
	m.ObserveACS("post", 30*time.Millisecond)

	for _, tt := range []struct {
		name   string
		series string
		labels map[string]string
		want   float64
	}{
		{"ok/success by instrument", "eidsp_logins_total", login("success", "", "ips", "buypass", "ips:BPSC"), 2},
		{"ok/configured instrument", "eidsp_logins_total", login("success", "", "ips", "buypass", "ips:NEW"), 1},
		{"ok/unknown instruments are other", "eidsp_logins_total", login("success", "", "ips", "buypass", "other"), 2},
		{"ok/failure with reason", "eidsp_logins_total", login("failure", "signature", "ips", "buypass", ""), 1},
		{"ok/sp logout", "eidsp_logouts_total", map[string]string{"initiator": "sp", "result": "sent"}, 1},
		{"ok/idp logout", "eidsp_logouts_total", map[string]string{"initiator": "idp", "result": "success"}, 2},
		{"ok/artifact resolution", "eidsp_artifact_resolution_seconds", map[string]string{}, 1},
		{"ok/acs artifact", "eidsp_acs_seconds", map[string]string{"binding": "artifact"}, 1},
		{"ok/acs post", "eidsp_acs_seconds", map[string]string{"binding": "post"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(t, m.reg, tt.series, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.series, tt.labels, got, ok, tt.want)
			}
		})
	}
	if _, ok := sample(t, m.reg, "eidsp_logins_total", login("success", "", "ips", "buypass", "<script>alert(1)</script>")); ok {
		t.Error("an instrument the IdP made up became a label value")
	}
	if _, ok := sample(t, m.reg, "eidsp_active_sessions", map[string]string{}); ok {
		t.Error("eidsp_active_sessions without a store that counts")
	}
}

// TestOwnRegistry: two Metrics side by side (two servers in one test binary) must not collide,
// and nothing lands in the global default registry.
func TestOwnRegistry(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	a.Login("success", "", "ips", "buypass", "ips:BPSC")
	if _, ok := sample(t, b.reg, "eidsp_logins_total", login("success", "", "ips", "buypass", "ips:BPSC")); ok {
		t.Error("a login counted by one Metrics shows in another")
	}
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "eidsp_") {
			t.Errorf("%s registered in the global default registry", f.GetName())
		}
	}
}

type fakeCounter struct {
	n   int
	err error
}

func (f *fakeCounter) CountSessions(ctx context.Context) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("no deadline: a hung store would hang the scrape")
	}
	return f.n, f.err
}

func TestActiveSessions(t *testing.T) {
	t.Run("ok/asks the store at scrape time", func(t *testing.T) {
		fc := &fakeCounter{n: 7}
		m := New(Options{Sessions: fc})
		if got, ok := sample(t, m.reg, "eidsp_active_sessions", map[string]string{}); !ok || got != 7 {
			t.Errorf("eidsp_active_sessions = %v (%v), want 7", got, ok)
		}
		fc.n = 3
		if got, _ := sample(t, m.reg, "eidsp_active_sessions", map[string]string{}); got != 3 {
			t.Errorf("eidsp_active_sessions = %v after the store changed, want 3", got)
		}
	})
	t.Run("fail/store down leaves the other series and logs", func(t *testing.T) {
		var logs bytes.Buffer
		m := New(Options{Sessions: &fakeCounter{err: errors.New("store down")}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		m.Login("success", "", "ips", "buypass", "ips:BPSC")
		body := scrape(t, m)
		if strings.Contains(body, "eidsp_active_sessions ") {
			t.Errorf("a gauge value although the store failed:\n%s", body)
		}
		if !strings.Contains(body, `eidsp_logins_total{idp="ips",instrument="ips:BPSC",profile="buypass",reason="",result="success"} 1`) {
			t.Errorf("the other series are gone when the store fails:\n%s", body)
		}
		if !strings.Contains(logs.String(), "store down") {
			t.Errorf("scrape error not logged: %q", logs.String())
		}
	})
}

func TestCertificateExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	sp := &x509.Certificate{NotAfter: now.Add(48 * time.Hour)}
	idp := []*x509.Certificate{{NotAfter: now.Add(time.Hour)}, {NotAfter: now.Add(-10 * time.Second)}}
	certs := append([]Certificate{{Name: "sp", Cert: sp}, {Name: "sp", Cert: idp[0]}}, IdPCertificates("idporten", idp)...)
	m := New(Options{Now: func() time.Time { return now }, Certificates: func() []Certificate { return certs }})
	for name, want := range map[string]float64{"sp": 48 * 3600, "idp:idporten:0": 3600, "idp:idporten:1": -10} {
		if got, ok := sample(t, m.reg, "eidsp_certificate_expiry_seconds", map[string]string{"cert": name}); !ok || got != want {
			t.Errorf("expiry of %s = %v (%v), want %v", name, got, ok, want)
		}
	}
	if body := scrape(t, m); strings.Count(body, `eidsp_certificate_expiry_seconds{cert="sp"}`) != 1 {
		t.Errorf("want exactly one series per certificate name:\n%s", body)
	}
}

// scrape GETs the handler and returns the exposition text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestHandlerExposesRuntimeAndProcess(t *testing.T) {
	m := New(Options{})
	m.ObserveACS("artifact", 1500*time.Millisecond)
	body := scrape(t, m)
	for _, want := range []string{
		"# TYPE eidsp_acs_seconds histogram",
		`eidsp_acs_seconds_bucket{binding="artifact",le="2.5"} 1`,
		`eidsp_acs_seconds_bucket{binding="artifact",le="1"} 0`,
		"eidsp_acs_seconds_sum{binding=\"artifact\"} 1.5",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics has no %q", want)
		}
	}
}
