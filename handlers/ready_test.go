package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	now := f.srv.Now()
	f.srv.Expiring = func() []Expiring {
		return []Expiring{
			{What: "sp certificate", NotAfter: now.Add(400 * 24 * time.Hour)},
			{What: "sp next certificate", NotAfter: now.Add(10*24*time.Hour + time.Hour)},
			{What: "idp a signing certificate", NotAfter: now.Add(-time.Hour)},
			{What: "idp b metadata", Unusable: true},
			{What: "idp c metadata"},
		}
	}
	f.srv.Warnings = func() []string { return []string{"oidc x: discovery could not be read again"} }
	rec := f.request(http.MethodGet, "/readyz", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("ready with a live store: %d", rec.Code)
	}
	var body struct {
		Status   string
		Store    string
		Warnings []string
		Expiring []struct {
			What     string
			DaysLeft *int `json:"days_left"`
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(body.Warnings, "\n")
	for _, want := range []string{"sp next certificate expires in 10 days", "idp a signing certificate has expired",
		"idp b metadata has expired and could not be renewed", "oidc x: discovery could not be read again"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if len(body.Warnings) != 4 || body.Status != "ok" || len(body.Expiring) != 5 || *body.Expiring[0].DaysLeft != 400 {
		t.Errorf("body %+v", body)
	}
	if err := f.srv.Store.Close(); err != nil {
		t.Fatal(err)
	}
	if rec := f.request(http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"store":"down"`) {
		t.Fatalf("ready with a closed store: %d %s", rec.Code, rec.Body)
	}
}
