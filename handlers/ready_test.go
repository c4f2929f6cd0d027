package handlers

import (
	"net/http"
	"testing"
)

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	if rec := f.request(http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Fatalf("ready with a live store: %d", rec.Code)
	}
	if err := f.srv.Store.Close(); err != nil {
		t.Fatal(err)
	}
	if rec := f.request(http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("ready with a closed store: %d", rec.Code)
	}
}
