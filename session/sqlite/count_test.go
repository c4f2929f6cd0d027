package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/conformance"
)

func TestCountSessions(t *testing.T) {
	clk := conformance.NewClock(conformance.Start)
	s := openTemp(t, filepath.Join(t.TempDir(), "eidsp.db"), clk.Now)
	defer s.Close()
	ctx := context.Background()
	count := func() int {
		t.Helper()
		n, err := s.CountSessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("empty store counts %d sessions", n)
	}
	short := testSession(t, clk.Now())
	short.ExpiresAt = clk.Now().Add(time.Minute)
	long := testSession(t, clk.Now())
	gone := testSession(t, clk.Now())
	for _, sess := range []*session.Session{short, long, gone} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSession(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("count %d, want 2 (one deleted)", n)
	}
	clk.Advance(time.Minute)
	if n := count(); n != 1 {
		t.Errorf("count %d at the first session's ExpiresAt, want 1: an expired session is not live", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountSessions(ctx); err == nil {
		t.Error("CountSessions on a closed store: no error")
	}
}
