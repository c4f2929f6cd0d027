// Package conformance is the test suite every session.Store backend passes. A backend's test
// calls Run with a constructor; the suite drives the store only through session.Store and a fake
// clock, so it cannot see storage: what a backend must not store (raw session IDs) is checked in
// the backend's own tests.
//
// Times in the suite are whole milliseconds; a backend must keep at least that precision.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
)

// Clock is a fake clock for tests: it stands still until told to move.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass it as a store's clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (backwards if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Start is where the suite's clocks start.
var Start = time.Date(2026, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)

// NewStore returns an empty store that judges time by now, and a function that opens another
// handle on the same data with the same clock, as a second instance would (nil when the backend
// cannot open one; the tests that need it are then skipped). The suite closes every store it is
// given at the end of each subtest.
type NewStore func(t *testing.T, now func() time.Time) (s session.Store, another func() session.Store)

// Run runs the suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s session.Store, clk *Clock)
	}{
		{"ok/session-round-trip", testSessionRoundTrip},
		{"ok/session-defaults", testSessionDefaults},
		{"ok/touch", testTouch},
		{"ok/delete-session", testDeleteSession},
		{"fail/session-expired", testSessionExpired},
		{"fail/session-invalid", testSessionInvalid},
		{"ok/delete-by-session-index", testDeleteBySessionIndex},
		{"ok/pending-take-once", testPendingTakeOnce},
		{"fail/pending-expired", testPendingExpired},
		{"fail/pending-invalid", testPendingInvalid},
		{"ok/pending-concurrent-take", testPendingConcurrentTake},
		{"ok/claim", withClaim(testClaim, plainClaim)},
		{"ok/claim-after-until", withClaim(testClaimAfterUntil, plainClaim)},
		{"ok/claim-concurrent", withClaim(testClaimConcurrent, plainClaim)},
		{"ok/take-pending-and-claim", testTakePendingAndClaim},
		{"fail/take-pending-and-claim-no-pending-claims-nothing", testTakePendingAndClaimNoPending},
		{"ok/take-pending-and-claim-as-claim", withClaim(testClaim, pendingClaim)},
		{"ok/take-pending-and-claim-after-until", withClaim(testClaimAfterUntil, pendingClaim)},
		{"ok/take-pending-and-claim-concurrent", withClaim(testClaimConcurrent, pendingClaim)},
		{"ok/take-pending-and-claim-shares-keys", testTakePendingAndClaimSharesKeys},
		{"ok/claim-and-create-session", testClaimAndCreateSession},
		{"fail/claim-and-create-session-replay-makes-none", testClaimAndCreateSessionReplay},
		{"fail/claim-and-create-session-bad-session-claims-nothing", testClaimAndCreateSessionBadSession},
		{"ok/claim-and-create-session-concurrent", testClaimAndCreateSessionConcurrent},
		{"ok/sweep", testSweep},
		{"ok/document-round-trip", testDocumentRoundTrip},
		{"ok/document-defaults", testDocumentDefaults},
		{"ok/document-absent", testDocumentAbsent},
		{"fail/document-too-large", testDocumentTooLarge},
		{"fail/document-bad-key", testDocumentBadKey},
		{"ok/audit-round-trip", testAuditRoundTrip},
		{"ok/audit-order", testAuditOrder},
		{"ok/audit-trim", testAuditTrim},
		{"ok/audit-concurrent", testAuditConcurrent},
		{"ok/audit-batch", testAuditBatch},
		{"fail/audit-batch-cancelled-stores-none", testAuditBatchCancelled},
		{"fail/context-cancelled", testContextCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewClock(Start)
			s, _ := newStore(t, clk.Now)
			closeAtEnd(t, s)
			tc.fn(t, s, clk)
		})
	}
	// Documents and the audit trail are what instances share beyond logins: what one handle
	// writes, another reads.
	t.Run("ok/shared-between-handles", func(t *testing.T) {
		clk := NewClock(Start)
		a, another := newStore(t, clk.Now)
		closeAtEnd(t, a)
		if another == nil {
			t.Skip("the backend opens no second handle on the same data")
		}
		b := another()
		closeAtEnd(t, b)
		testSharedBetweenHandles(t, a, b, clk)
	})
}

func closeAtEnd(t *testing.T, s session.Store) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func newID(t *testing.T) string {
	t.Helper()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fullIdentity sets every field, including the json:"-" ones a backend must persist separately.
func fullIdentity() identity.Identity {
	return identity.Identity{
		NationalID:      "12345678901",
		Kind:            identity.KindSyntheticFNR,
		Instrument:      identity.InstrumentMobileApp,
		Level:           4,
		LoA:             identity.LoAHigh,
		AuthMethod:      "BuyPass",
		IdP:             "buypass",
		SessionIndex:    "s2a1b2c3",
		NameID:          "AAdzZWNyZXQxbmFtZWlk",
		NameIDFormat:    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
		Culture:         "nb",
		OnBehalfOf:      "portal-a",
		AuthenticatedAt: Start.Add(-2 * time.Second),
	}
}

func newSession(t *testing.T, clk *Clock, ident identity.Identity) *session.Session {
	now := clk.Now()
	return &session.Session{
		ID:        newID(t),
		Identity:  ident,
		Profile:   "buypass-mobile",
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(8 * time.Hour),
	}
}

func equalIdentity(a, b identity.Identity) bool {
	at, bt := a.AuthenticatedAt, b.AuthenticatedAt
	a.AuthenticatedAt, b.AuthenticatedAt = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}

func checkSession(t *testing.T, got, want *session.Session) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("ID = %q, want %q", got.ID, want.ID)
	}
	if !equalIdentity(got.Identity, want.Identity) {
		t.Errorf("Identity =\n%+v\nwant\n%+v", got.Identity, want.Identity)
	}
	if got.Profile != want.Profile {
		t.Errorf("Profile = %q, want %q", got.Profile, want.Profile)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"LastSeen", got.LastSeen, want.LastSeen},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
	} {
		if !f.got.Equal(f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
}

func mustGet(t *testing.T, s session.Store, id string) *session.Session {
	t.Helper()
	got, err := s.GetSession(context.Background(), id)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func testSessionRoundTrip(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	want := newSession(t, clk, fullIdentity())
	want.LastSeen = want.CreatedAt.Add(time.Millisecond)
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	checkSession(t, mustGet(t, s, want.ID), want)

	// A second session with the same ID is a bug in the caller; it must not overwrite.
	dup := *want
	dup.Profile = "other"
	if err := s.CreateSession(ctx, &dup); err == nil {
		t.Fatal("CreateSession with an existing ID: no error")
	}
	checkSession(t, mustGet(t, s, want.ID), want)
}

func testSessionDefaults(t *testing.T, s session.Store, clk *Clock) {
	sess := &session.Session{ID: newID(t), Identity: fullIdentity(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if !sess.CreatedAt.Equal(clk.Now()) || !sess.LastSeen.Equal(clk.Now()) {
		t.Errorf("CreatedAt, LastSeen = %v, %v; want both %v", sess.CreatedAt, sess.LastSeen, clk.Now())
	}
	checkSession(t, mustGet(t, s, sess.ID), sess)
}

func testTouch(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	sess := newSession(t, clk, fullIdentity())
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	clk.Advance(10 * time.Minute)
	later := clk.Now()
	if err := s.TouchSession(ctx, sess.ID, later); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	if got := mustGet(t, s, sess.ID).LastSeen; !got.Equal(later) {
		t.Errorf("LastSeen = %v, want %v", got, later)
	}
	// A slower concurrent request finishing last must not move LastSeen back.
	if err := s.TouchSession(ctx, sess.ID, later.Add(-time.Minute)); err != nil {
		t.Fatalf("TouchSession (earlier): %v", err)
	}
	got := mustGet(t, s, sess.ID)
	if !got.LastSeen.Equal(later) {
		t.Errorf("LastSeen after an earlier touch = %v, want %v", got.LastSeen, later)
	}
	want := *sess
	want.LastSeen = later
	checkSession(t, got, &want)

	wantErr(t, "TouchSession (absent)", s.TouchSession(ctx, newID(t), later), session.ErrNotFound)
}

func testDeleteSession(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	a, b := newSession(t, clk, fullIdentity()), newSession(t, clk, fullIdentity())
	for _, sess := range []*session.Session{a, b} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.DeleteSession(ctx, a.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err := s.GetSession(ctx, a.ID)
	wantErr(t, "GetSession (deleted)", err, session.ErrNotFound)
	mustGet(t, s, b.ID)
	if err := s.DeleteSession(ctx, a.ID); err != nil {
		t.Fatalf("DeleteSession (absent): %v", err)
	}
	_, err = s.GetSession(ctx, newID(t))
	wantErr(t, "GetSession (never created)", err, session.ErrNotFound)
	_, err = s.GetSession(ctx, "")
	wantErr(t, "GetSession (empty ID)", err, session.ErrNotFound)
}

func testSessionExpired(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	sess := newSession(t, clk, fullIdentity())
	sess.ExpiresAt = clk.Now().Add(time.Hour)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	clk.Advance(time.Hour - time.Millisecond)
	mustGet(t, s, sess.ID)
	clk.Advance(time.Millisecond) // ExpiresAt reached: the session is over
	_, err := s.GetSession(ctx, sess.ID)
	wantErr(t, "GetSession at ExpiresAt", err, session.ErrNotFound)
	wantErr(t, "TouchSession at ExpiresAt", s.TouchSession(ctx, sess.ID, clk.Now()), session.ErrNotFound)
}

func testSessionInvalid(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	noID := newSession(t, clk, fullIdentity())
	noID.ID = ""
	if err := s.CreateSession(ctx, noID); err == nil {
		t.Error("CreateSession with empty ID: no error")
	}
	noExpiry := newSession(t, clk, fullIdentity())
	noExpiry.ExpiresAt = time.Time{}
	if err := s.CreateSession(ctx, noExpiry); err == nil {
		t.Error("CreateSession with zero ExpiresAt: no error")
	}
}

func testDeleteBySessionIndex(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	mk := func(idp, nameID, index string) *session.Session {
		ident := fullIdentity()
		ident.IdP, ident.NameID, ident.SessionIndex = idp, nameID, index
		sess := newSession(t, clk, ident)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		return sess
	}
	target := mk("idporten", "alice", "idx1")
	sameUserOtherIndex := mk("idporten", "alice", "idx2")
	sameUserOtherIndex2 := mk("idporten", "alice", "idx3")
	otherUser := mk("idporten", "bob", "idx1")
	otherIdP := mk("buypass", "alice", "idx1")

	n, err := s.DeleteSessionsBySessionIndex(ctx, "idporten", "alice", "idx1")
	if err != nil || n != 1 {
		t.Fatalf("DeleteSessionsBySessionIndex(idx1) = %d, %v; want 1, nil", n, err)
	}
	_, err = s.GetSession(ctx, target.ID)
	wantErr(t, "GetSession (logged out)", err, session.ErrNotFound)
	for _, sess := range []*session.Session{sameUserOtherIndex, sameUserOtherIndex2, otherUser, otherIdP} {
		mustGet(t, s, sess.ID)
	}

	n, err = s.DeleteSessionsBySessionIndex(ctx, "idporten", "alice", "")
	if err != nil || n != 2 {
		t.Fatalf("DeleteSessionsBySessionIndex(all) = %d, %v; want 2, nil", n, err)
	}
	for _, sess := range []*session.Session{sameUserOtherIndex, sameUserOtherIndex2} {
		_, err = s.GetSession(ctx, sess.ID)
		wantErr(t, "GetSession (logged out)", err, session.ErrNotFound)
	}
	for _, sess := range []*session.Session{otherUser, otherIdP} {
		checkSession(t, mustGet(t, s, sess.ID), sess)
	}

	n, err = s.DeleteSessionsBySessionIndex(ctx, "idporten", "alice", "")
	if err != nil || n != 0 {
		t.Fatalf("DeleteSessionsBySessionIndex(none left) = %d, %v; want 0, nil", n, err)
	}
	for _, args := range [][2]string{{"", "bob"}, {"idporten", ""}} {
		if _, err := s.DeleteSessionsBySessionIndex(ctx, args[0], args[1], ""); err == nil {
			t.Errorf("DeleteSessionsBySessionIndex(%q, %q): no error", args[0], args[1])
		}
	}
	mustGet(t, s, otherUser.ID)
}

func newPending(t *testing.T, clk *Clock) *session.PendingLogin {
	now := clk.Now()
	return &session.PendingLogin{
		Key:            newID(t),
		RequestID:      "_a" + newID(t),
		IdP:            "buypass",
		Profile:        "buypass-mobile",
		ReturnTo:       "/cases?id=7",
		BrowserBinding: session.HashKey("cookie value"),
		Locale:         "nn",
		MinLevel:       4,
		ForceAuthn:     true,
		Purpose:        session.PurposeLogout,
		CreatedAt:      now,
		ExpiresAt:      now.Add(10 * time.Minute),
	}
}

func checkPending(t *testing.T, got, want *session.PendingLogin) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) {
		t.Errorf("CreatedAt, ExpiresAt = %v, %v; want %v, %v", g.CreatedAt, g.ExpiresAt, w.CreatedAt, w.ExpiresAt)
	}
	g.CreatedAt, g.ExpiresAt, w.CreatedAt, w.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("PendingLogin =\n%+v\nwant\n%+v", g, w)
	}
}

func testPendingTakeOnce(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	want, other := newPending(t, clk), newPending(t, clk)
	other.ForceAuthn = false
	for _, p := range []*session.PendingLogin{want, other} {
		if err := s.PutPending(ctx, p); err != nil {
			t.Fatalf("PutPending: %v", err)
		}
	}
	clk.Advance(time.Minute)
	got, err := s.TakePending(ctx, want.Key)
	if err != nil {
		t.Fatalf("TakePending: %v", err)
	}
	checkPending(t, got, want)
	_, err = s.TakePending(ctx, want.Key)
	wantErr(t, "TakePending (second time)", err, session.ErrNotFound)

	got, err = s.TakePending(ctx, other.Key)
	if err != nil {
		t.Fatalf("TakePending (other): %v", err)
	}
	checkPending(t, got, other)

	_, err = s.TakePending(ctx, newID(t))
	wantErr(t, "TakePending (never put)", err, session.ErrNotFound)

	noCreated := newPending(t, clk)
	noCreated.CreatedAt = time.Time{}
	if err := s.PutPending(ctx, noCreated); err != nil {
		t.Fatalf("PutPending: %v", err)
	}
	if !noCreated.CreatedAt.Equal(clk.Now()) {
		t.Errorf("PutPending left CreatedAt = %v, want the store's clock %v", noCreated.CreatedAt, clk.Now())
	}
}

func testPendingExpired(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	p := newPending(t, clk)
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatalf("PutPending: %v", err)
	}
	clk.Advance(10 * time.Minute) // ExpiresAt reached
	_, err := s.TakePending(ctx, p.Key)
	wantErr(t, "TakePending at ExpiresAt", err, session.ErrNotFound)
	// The expired login was deleted, not merely hidden: with the clock turned back it stays gone.
	clk.Advance(-5 * time.Minute)
	_, err = s.TakePending(ctx, p.Key)
	wantErr(t, "TakePending after an expired take", err, session.ErrNotFound)
}

func testPendingInvalid(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	noKey := newPending(t, clk)
	noKey.Key = ""
	if err := s.PutPending(ctx, noKey); err == nil {
		t.Error("PutPending with empty key: no error")
	}
	noExpiry := newPending(t, clk)
	noExpiry.ExpiresAt = time.Time{}
	if err := s.PutPending(ctx, noExpiry); err == nil {
		t.Error("PutPending with zero ExpiresAt: no error")
	}
	p := newPending(t, clk)
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatalf("PutPending: %v", err)
	}
	dup := *p
	dup.ReturnTo = "/elsewhere"
	if err := s.PutPending(ctx, &dup); err == nil {
		t.Error("PutPending with an existing key: no error")
	}
}

// race starts n goroutines at once and returns how many got nil and how many got want; any other
// error fails the test.
func race(t *testing.T, n int, want error, fn func() error) (won, lost int) {
	t.Helper()
	var (
		start sync.WaitGroup
		done  sync.WaitGroup
		mu    sync.Mutex
		other []error
	)
	start.Add(1)
	for range n {
		done.Go(func() {
			start.Wait()
			err := fn()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, want):
				lost++
			default:
				other = append(other, err)
			}
		})
	}
	start.Done()
	done.Wait()
	for _, err := range other {
		t.Errorf("unexpected error: %v", err)
	}
	return won, lost
}

func testPendingConcurrentTake(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	p := newPending(t, clk)
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatalf("PutPending: %v", err)
	}
	const n = 20
	won, lost := race(t, n, session.ErrNotFound, func() error {
		got, err := s.TakePending(ctx, p.Key)
		if err == nil && got.RequestID != p.RequestID {
			return fmt.Errorf("TakePending returned RequestID %q, want %q", got.RequestID, p.RequestID)
		}
		return err
	})
	if won != 1 || lost != n-1 {
		t.Errorf("TakePending by %d goroutines: %d won, %d got ErrNotFound; want 1 and %d", n, won, lost, n-1)
	}
}

// claimFunc is Claim, or the claim TakePendingAndClaim makes, of one store: the claim cases run
// against both.
type claimFunc func(ctx context.Context, key string, until time.Time) error

func plainClaim(t *testing.T, s session.Store, clk *Clock) claimFunc { return s.Claim }

// pendingClaim puts a pending login and claims key with it.
func pendingClaim(t *testing.T, s session.Store, clk *Clock) claimFunc {
	return func(ctx context.Context, key string, until time.Time) error {
		p := newPending(t, clk)
		if err := s.PutPending(ctx, p); err != nil {
			return fmt.Errorf("PutPending: %w", err)
		}
		got, err := s.TakePendingAndClaim(ctx, p.Key, key, until)
		if (err == nil || errors.Is(err, session.ErrReplay)) && (got == nil || got.RequestID != p.RequestID) {
			return fmt.Errorf("TakePendingAndClaim returned %+v with %v, want the pending login", got, err)
		}
		return err
	}
}

func withClaim(fn func(*testing.T, claimFunc, *Clock), pick func(*testing.T, session.Store, *Clock) claimFunc) func(*testing.T, session.Store, *Clock) {
	return func(t *testing.T, s session.Store, clk *Clock) { fn(t, pick(t, s, clk), clk) }
}

// TakePendingAndClaim takes the pending login whether it wins the claim or not, and claims only
// with a live one.
func testTakePendingAndClaim(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	first, second := newPending(t, clk), newPending(t, clk)
	for _, p := range []*session.PendingLogin{first, second} {
		if err := s.PutPending(ctx, p); err != nil {
			t.Fatalf("PutPending: %v", err)
		}
	}
	clk.Advance(time.Minute)
	got, err := s.TakePendingAndClaim(ctx, first.Key, "artifact-1", until)
	if err != nil {
		t.Fatalf("TakePendingAndClaim: %v", err)
	}
	checkPending(t, got, first)
	_, err = s.TakePending(ctx, first.Key)
	wantErr(t, "TakePending after TakePendingAndClaim", err, session.ErrNotFound)
	wantErr(t, "Claim of the key TakePendingAndClaim claimed", s.Claim(ctx, "artifact-1", until), session.ErrReplay)

	// Lost: the pending login comes back with ErrReplay, and is gone all the same.
	got, err = s.TakePendingAndClaim(ctx, second.Key, "artifact-1", until)
	wantErr(t, "TakePendingAndClaim of a claimed key", err, session.ErrReplay)
	if got == nil {
		t.Fatal("TakePendingAndClaim of a claimed key returned no pending login")
	}
	checkPending(t, got, second)
	_, err = s.TakePendingAndClaim(ctx, second.Key, "artifact-2", until)
	wantErr(t, "TakePendingAndClaim (second time)", err, session.ErrNotFound)
	if err := s.Claim(ctx, "artifact-2", until); err != nil {
		t.Errorf("Claim of the key a TakePendingAndClaim without a pending login named: %v", err)
	}

	if _, err := s.TakePendingAndClaim(ctx, newID(t), "", until); err == nil {
		t.Error("TakePendingAndClaim with an empty claim key: no error")
	}
}

// Without a live pending login nothing is claimed, and an expired one is deleted.
func testTakePendingAndClaimNoPending(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(time.Hour)
	_, err := s.TakePendingAndClaim(ctx, newID(t), "artifact-never", until)
	wantErr(t, "TakePendingAndClaim (never put)", err, session.ErrNotFound)
	p := newPending(t, clk)
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatalf("PutPending: %v", err)
	}
	clk.Advance(10 * time.Minute) // ExpiresAt reached
	_, err = s.TakePendingAndClaim(ctx, p.Key, "artifact-expired", until)
	wantErr(t, "TakePendingAndClaim at ExpiresAt", err, session.ErrNotFound)
	clk.Advance(-5 * time.Minute)
	_, err = s.TakePending(ctx, p.Key)
	wantErr(t, "TakePending after an expired TakePendingAndClaim", err, session.ErrNotFound)
	for _, key := range []string{"artifact-never", "artifact-expired"} {
		if err := s.Claim(ctx, key, until); err != nil {
			t.Errorf("Claim of %s: %v; TakePendingAndClaim claimed it without a pending login", key, err)
		}
	}
}

func testClaim(t *testing.T, claim claimFunc, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	if err := claim(ctx, "assertion-1", until); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	wantErr(t, "Claim (second)", claim(ctx, "assertion-1", until), session.ErrReplay)
	// A later claim must not extend or shorten the first: it lost.
	wantErr(t, "Claim (second, longer)", claim(ctx, "assertion-1", until.Add(time.Hour)), session.ErrReplay)
	if err := claim(ctx, "assertion-2", until); err != nil {
		t.Fatalf("Claim (other key): %v", err)
	}
	clk.Advance(5*time.Minute - time.Millisecond)
	wantErr(t, "Claim just before until", claim(ctx, "assertion-1", until), session.ErrReplay)
	if err := claim(ctx, "", until); err == nil {
		t.Error("Claim with empty key: no error")
	}
}

func testClaimAfterUntil(t *testing.T, claim claimFunc, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	if err := claim(ctx, "assertion-1", until); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	clk.Advance(5 * time.Minute) // until reached
	next := clk.Now().Add(5 * time.Minute)
	if err := claim(ctx, "assertion-1", next); err != nil {
		t.Fatalf("Claim at until: %v", err)
	}
	wantErr(t, "Claim after re-claim", claim(ctx, "assertion-1", next), session.ErrReplay)
	clk.Advance(time.Minute)
	wantErr(t, "Claim within the new claim", claim(ctx, "assertion-1", next), session.ErrReplay)
}

func testClaimConcurrent(t *testing.T, claim claimFunc, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(time.Minute)
	const n = 20
	for _, key := range []string{"fresh", "expired"} {
		if key == "expired" {
			// The expired-entry path of the upsert must be just as exclusive.
			if err := claim(ctx, key, clk.Now().Add(time.Second)); err != nil {
				t.Fatalf("Claim: %v", err)
			}
			clk.Advance(2 * time.Second)
			until = clk.Now().Add(time.Minute)
		}
		won, lost := race(t, n, session.ErrReplay, func() error { return claim(ctx, key, until) })
		if won != 1 || lost != n-1 {
			t.Errorf("%s key: Claim by %d goroutines: %d won, %d got ErrReplay; want 1 and %d", key, n, won, lost, n-1)
		}
	}
}

// Claim, TakePendingAndClaim and ClaimAndCreateSession are one replay cache: a key one took
// excludes the others.
func testTakePendingAndClaimSharesKeys(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	claimWithPending := pendingClaim(t, s, clk)
	if err := claimWithPending(ctx, "artifact-1", until); err != nil {
		t.Fatalf("TakePendingAndClaim: %v", err)
	}
	wantErr(t, "Claim of a key TakePendingAndClaim took", s.Claim(ctx, "artifact-1", until), session.ErrReplay)
	if err := s.Claim(ctx, "artifact-2", until); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	wantErr(t, "TakePendingAndClaim of a key Claim took", claimWithPending(ctx, "artifact-2", until), session.ErrReplay)
	sess := newSession(t, clk, fullIdentity())
	wantErr(t, "ClaimAndCreateSession of a key TakePendingAndClaim took",
		s.ClaimAndCreateSession(ctx, "artifact-1", until, sess), session.ErrReplay)
	if _, err := s.GetSession(ctx, sess.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("GetSession after a refused ClaimAndCreateSession: %v, want ErrNotFound", err)
	}
	if err := s.ClaimAndCreateSession(ctx, "assertion-1", until, newSession(t, clk, fullIdentity())); err != nil {
		t.Fatalf("ClaimAndCreateSession: %v", err)
	}
	wantErr(t, "TakePendingAndClaim of a key ClaimAndCreateSession took", claimWithPending(ctx, "assertion-1", until), session.ErrReplay)
}

func testClaimAndCreateSession(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	sess := newSession(t, clk, fullIdentity())
	if err := s.ClaimAndCreateSession(ctx, "assertion-1", until, sess); err != nil {
		t.Fatalf("ClaimAndCreateSession: %v", err)
	}
	checkSession(t, mustGet(t, s, sess.ID), sess)
	wantErr(t, "Claim of the key ClaimAndCreateSession took", s.Claim(ctx, "assertion-1", until), session.ErrReplay)
	// After until the key can be claimed again, with a new session.
	clk.Advance(5 * time.Minute)
	again := newSession(t, clk, fullIdentity())
	if err := s.ClaimAndCreateSession(ctx, "assertion-1", clk.Now().Add(time.Minute), again); err != nil {
		t.Fatalf("ClaimAndCreateSession after until: %v", err)
	}
	mustGet(t, s, again.ID)
	if err := s.ClaimAndCreateSession(ctx, "", until, newSession(t, clk, fullIdentity())); err == nil {
		t.Error("ClaimAndCreateSession with empty key: no error")
	}
}

func testClaimAndCreateSessionReplay(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	if err := s.Claim(ctx, "assertion-1", until); err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, clk, fullIdentity())
	wantErr(t, "ClaimAndCreateSession of a claimed key", s.ClaimAndCreateSession(ctx, "assertion-1", until, sess), session.ErrReplay)
	_, err := s.GetSession(ctx, sess.ID)
	wantErr(t, "GetSession after a replay", err, session.ErrNotFound)
	if n, err := s.DeleteSessionsBySessionIndex(ctx, sess.Identity.IdP, sess.Identity.NameID, ""); err != nil || n != 0 {
		t.Errorf("sessions of the replayed identity: %d, %v; want none", n, err)
	}
}

// A session that cannot be stored (invalid, or its ID taken) fails the call and leaves the key
// unclaimed.
func testClaimAndCreateSessionBadSession(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(5 * time.Minute)
	bad := newSession(t, clk, fullIdentity())
	bad.ID = ""
	if err := s.ClaimAndCreateSession(ctx, "assertion-1", until, bad); err == nil || errors.Is(err, session.ErrReplay) {
		t.Fatalf("ClaimAndCreateSession of a session without an ID: %v, want an error other than ErrReplay", err)
	}
	first := newSession(t, clk, fullIdentity())
	if err := s.CreateSession(ctx, first); err != nil {
		t.Fatal(err)
	}
	dup := newSession(t, clk, fullIdentity())
	dup.ID = first.ID
	dup.Profile = "other"
	if err := s.ClaimAndCreateSession(ctx, "assertion-2", until, dup); err == nil || errors.Is(err, session.ErrReplay) {
		t.Fatalf("ClaimAndCreateSession with a taken session ID: %v, want an error other than ErrReplay", err)
	}
	checkSession(t, mustGet(t, s, first.ID), first)
	for _, key := range []string{"assertion-1", "assertion-2"} {
		if err := s.Claim(ctx, key, until); err != nil {
			t.Errorf("Claim of %s after a failed ClaimAndCreateSession: %v, want it unclaimed", key, err)
		}
	}
}

func testClaimAndCreateSessionConcurrent(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	until := clk.Now().Add(time.Minute)
	const n = 20
	var mu sync.Mutex
	var made []string
	won, lost := race(t, n, session.ErrReplay, func() error {
		sess := newSession(t, clk, fullIdentity())
		err := s.ClaimAndCreateSession(ctx, "assertion-1", until, sess)
		if err == nil {
			mu.Lock()
			made = append(made, sess.ID)
			mu.Unlock()
		}
		return err
	})
	if won != 1 || lost != n-1 {
		t.Errorf("ClaimAndCreateSession by %d goroutines: %d won, %d got ErrReplay; want 1 and %d", n, won, lost, n-1)
	}
	if got, err := s.DeleteSessionsBySessionIndex(ctx, fullIdentity().IdP, fullIdentity().NameID, ""); err != nil || got != len(made) || got != 1 {
		t.Errorf("sessions made by the race: %d (%v), %d reported; want 1", got, err, len(made))
	}
}

func testSweep(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	shortSess, longSess := newSession(t, clk, fullIdentity()), newSession(t, clk, fullIdentity())
	shortSess.ExpiresAt = clk.Now().Add(time.Minute)
	shortPend, longPend := newPending(t, clk), newPending(t, clk)
	shortPend.ExpiresAt = clk.Now().Add(time.Minute)
	for _, sess := range []*session.Session{shortSess, longSess} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	for _, p := range []*session.PendingLogin{shortPend, longPend} {
		if err := s.PutPending(ctx, p); err != nil {
			t.Fatalf("PutPending: %v", err)
		}
	}
	for key, until := range map[string]time.Time{"short": clk.Now().Add(time.Minute), "long": clk.Now().Add(time.Hour)} {
		if err := s.Claim(ctx, key, until); err != nil {
			t.Fatalf("Claim: %v", err)
		}
	}

	clk.Advance(2 * time.Minute)
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// Turn the clock back to when everything was live: what Sweep removed is gone for good,
	// what it kept is still there.
	clk.Advance(-2 * time.Minute)
	_, err := s.GetSession(ctx, shortSess.ID)
	wantErr(t, "GetSession (swept)", err, session.ErrNotFound)
	checkSession(t, mustGet(t, s, longSess.ID), longSess)
	_, err = s.TakePending(ctx, shortPend.Key)
	wantErr(t, "TakePending (swept)", err, session.ErrNotFound)
	if _, err := s.TakePending(ctx, longPend.Key); err != nil {
		t.Errorf("TakePending (kept): %v", err)
	}
	if err := s.Claim(ctx, "short", clk.Now().Add(time.Minute)); err != nil {
		t.Errorf("Claim (swept): %v", err)
	}
	wantErr(t, "Claim (kept)", s.Claim(ctx, "long", clk.Now().Add(time.Minute)), session.ErrReplay)

	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep (nothing to do): %v", err)
	}
}

func testContextCancelled(t *testing.T, s session.Store, clk *Clock) {
	live := newSession(t, clk, fullIdentity())
	pend := newPending(t, clk)
	if err := s.CreateSession(context.Background(), live); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if err := s.PutPending(context.Background(), pend); err != nil {
		t.Fatalf("PutPending: %v", err)
	}
	doc := newDocument(clk, "cancelled", "kept")
	if err := s.PutDocument(context.Background(), doc); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	until := clk.Now().Add(time.Minute)
	calls := map[string]func() error{
		"CreateSession": func() error { return s.CreateSession(ctx, newSession(t, clk, fullIdentity())) },
		"GetSession":    func() error { _, err := s.GetSession(ctx, live.ID); return err },
		"TouchSession":  func() error { return s.TouchSession(ctx, live.ID, clk.Now()) },
		"DeleteSession": func() error { return s.DeleteSession(ctx, live.ID) },
		"DeleteSessionsBySessionIndex": func() error {
			_, err := s.DeleteSessionsBySessionIndex(ctx, live.Identity.IdP, live.Identity.NameID, "")
			return err
		},
		"PutPending":  func() error { return s.PutPending(ctx, newPending(t, clk)) },
		"TakePending": func() error { _, err := s.TakePending(ctx, pend.Key); return err },
		"Claim":       func() error { return s.Claim(ctx, "cancelled", until) },
		"TakePendingAndClaim": func() error {
			_, err := s.TakePendingAndClaim(ctx, pend.Key, "cancelled", until)
			return err
		},
		"ClaimAndCreateSession": func() error {
			return s.ClaimAndCreateSession(ctx, "cancelled", until, newSession(t, clk, fullIdentity()))
		},
		"PutDocument":    func() error { return s.PutDocument(ctx, newDocument(clk, doc.Key, "replaced")) },
		"GetDocument":    func() error { _, err := s.GetDocument(ctx, doc.Key); return err },
		"DeleteDocument": func() error { return s.DeleteDocument(ctx, doc.Key) },
		"AppendAudit":    func() error { e := newAuditEvent(clk, 0); return s.AppendAudit(ctx, &e) },
		"RecentAudit":    func() error { _, err := s.RecentAudit(ctx, 10); return err },
		"Sweep":          func() error { return s.Sweep(ctx) },
		"Ping":           func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s with a cancelled context: still running after 10s", name)
		}
	}

	// The cancelled calls changed nothing, and the store still works.
	ctx = context.Background()
	checkSession(t, mustGet(t, s, live.ID), live)
	if _, err := s.TakePending(ctx, pend.Key); err != nil {
		t.Errorf("TakePending after cancelled calls: %v", err)
	}
	if err := s.Claim(ctx, "cancelled", until); err != nil {
		t.Errorf("Claim after a cancelled claim: %v", err)
	}
	checkDocument(t, mustGetDocument(t, s, doc.Key), doc)
	if events, err := s.RecentAudit(ctx, 10); err != nil || len(events) != 0 {
		t.Errorf("RecentAudit after a cancelled append = %d events, %v; want none", len(events), err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func newDocument(clk *Clock, key, value string) *session.Document {
	return &session.Document{
		Key:       key,
		Value:     []byte(value),
		UpdatedAt: clk.Now().Add(-time.Hour), // not the store's clock: the store must keep it
		UpdatedBy: "admin 123456*****",
	}
}

func checkDocument(t *testing.T, got, want *session.Document) {
	t.Helper()
	if got.Key != want.Key || got.UpdatedBy != want.UpdatedBy || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("Document = %q, by %q at %v; want %q, by %q at %v",
			got.Key, got.UpdatedBy, got.UpdatedAt, want.Key, want.UpdatedBy, want.UpdatedAt)
	}
	if !bytes.Equal(got.Value, want.Value) {
		t.Errorf("Document %q: value of %d bytes differs from the %d bytes stored", got.Key, len(got.Value), len(want.Value))
	}
}

func mustGetDocument(t *testing.T, s session.Store, key string) *session.Document {
	t.Helper()
	got, err := s.GetDocument(context.Background(), key)
	if err != nil {
		t.Fatalf("GetDocument(%q): %v", key, err)
	}
	return got
}

// everyByte is a value with every byte value, NUL and invalid UTF-8 included: documents are
// bytes, not text.
func everyByte() []byte {
	b := make([]byte, 0, 512)
	for i := range 512 {
		b = append(b, byte(i))
	}
	return b
}

func testDocumentRoundTrip(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	want := newDocument(clk, "idp-metadata/buypass", "")
	want.Value = everyByte()
	put := *want
	put.Value = bytes.Clone(want.Value)
	if err := s.PutDocument(ctx, &put); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}
	// The caller's slice is its own again once PutDocument returns.
	put.Value[0] ^= 0xff
	got := mustGetDocument(t, s, want.Key)
	checkDocument(t, got, want)
	// So is the slice GetDocument returned.
	got.Value[1] ^= 0xff
	checkDocument(t, mustGetDocument(t, s, want.Key), want)

	other := newDocument(clk, "idp-metadata/idporten", "<EntityDescriptor/>")
	if err := s.PutDocument(ctx, other); err != nil {
		t.Fatalf("PutDocument (other): %v", err)
	}
	// Replacing swaps the whole document, with a shorter value so that no tail of the old one
	// can survive.
	repl := &session.Document{Key: want.Key, Value: []byte("short"), UpdatedAt: clk.Now(), UpdatedBy: "refresh"}
	if err := s.PutDocument(ctx, repl); err != nil {
		t.Fatalf("PutDocument (replace): %v", err)
	}
	checkDocument(t, mustGetDocument(t, s, want.Key), repl)
	checkDocument(t, mustGetDocument(t, s, other.Key), other)

	if err := s.DeleteDocument(ctx, want.Key); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
	_, err := s.GetDocument(ctx, want.Key)
	wantErr(t, "GetDocument (deleted)", err, session.ErrNotFound)
	checkDocument(t, mustGetDocument(t, s, other.Key), other)
}

func testDocumentDefaults(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	d := &session.Document{Key: "switch/maintenance", Value: []byte("on"), UpdatedBy: "command"}
	if err := s.PutDocument(ctx, d); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}
	if !d.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("PutDocument left UpdatedAt = %v, want the store's clock %v", d.UpdatedAt, clk.Now())
	}
	checkDocument(t, mustGetDocument(t, s, d.Key), d)

	// A document may be empty, nil or not.
	for _, value := range [][]byte{nil, {}} {
		empty := &session.Document{Key: "switch/empty", Value: value}
		if err := s.PutDocument(ctx, empty); err != nil {
			t.Fatalf("PutDocument (empty value %#v): %v", value, err)
		}
		if got := mustGetDocument(t, s, empty.Key); len(got.Value) != 0 || got.UpdatedBy != "" {
			t.Errorf("empty document came back as %q by %q", got.Value, got.UpdatedBy)
		}
	}
	// Documents do not expire: the clock moving a year on changes nothing, not even after Sweep.
	clk.Advance(365 * 24 * time.Hour)
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	checkDocument(t, mustGetDocument(t, s, d.Key), d)
}

func testDocumentAbsent(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	_, err := s.GetDocument(ctx, "never-put")
	wantErr(t, "GetDocument (never put)", err, session.ErrNotFound)
	if err := s.DeleteDocument(ctx, "never-put"); err != nil {
		t.Errorf("DeleteDocument (absent): %v", err)
	}
	d := newDocument(clk, "once", "value")
	if err := s.PutDocument(ctx, d); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}
	for range 2 { // the second delete finds nothing, which is not an error either
		if err := s.DeleteDocument(ctx, d.Key); err != nil {
			t.Errorf("DeleteDocument: %v", err)
		}
	}
	_, err = s.GetDocument(ctx, d.Key)
	wantErr(t, "GetDocument (deleted)", err, session.ErrNotFound)
}

func testDocumentTooLarge(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	prev := newDocument(clk, "idp-metadata/large", "previous")
	if err := s.PutDocument(ctx, prev); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}
	huge := bytes.Repeat([]byte("x"), session.MaxDocumentBytes+1)
	for _, key := range []string{prev.Key, "idp-metadata/new"} {
		err := s.PutDocument(ctx, &session.Document{Key: key, Value: huge, UpdatedBy: "admin"})
		wantErr(t, "PutDocument of MaxDocumentBytes+1", err, session.ErrDocumentTooLarge)
	}
	checkDocument(t, mustGetDocument(t, s, prev.Key), prev)
	_, err := s.GetDocument(ctx, "idp-metadata/new")
	wantErr(t, "GetDocument of a refused document", err, session.ErrNotFound)

	// The limit itself is allowed.
	limit := newDocument(clk, "idp-metadata/limit", "")
	limit.Value = huge[:session.MaxDocumentBytes]
	if err := s.PutDocument(ctx, limit); err != nil {
		t.Fatalf("PutDocument of MaxDocumentBytes: %v", err)
	}
	checkDocument(t, mustGetDocument(t, s, limit.Key), limit)
}

func testDocumentBadKey(t *testing.T, s session.Store, clk *Clock) {
	ctx := context.Background()
	for _, key := range []string{
		"",
		strings.Repeat("k", session.MaxDocumentKeyBytes+1),
		"idp-metadata/\nforged log line",
		"idp\tmetadata",
		"nul\x00",
		"del\x7f",
		"c1\u0085",
		"\x1b[31mred",
		"not utf-8 \xff",
	} {
		err := s.PutDocument(ctx, newDocument(clk, key, "value"))
		wantErr(t, fmt.Sprintf("PutDocument(%q)", key), err, session.ErrBadDocumentKey)
		_, err = s.GetDocument(ctx, key)
		wantErr(t, fmt.Sprintf("GetDocument(%q)", key), err, session.ErrBadDocumentKey)
		err = s.DeleteDocument(ctx, key)
		wantErr(t, fmt.Sprintf("DeleteDocument(%q)", key), err, session.ErrBadDocumentKey)
	}
	// What is not refused: the longest key, letters beyond ASCII, spaces, glob characters.
	for _, key := range []string{
		strings.Repeat("k", session.MaxDocumentKeyBytes),
		"idp-metadata/Bærum kommune",
		"a b:c/d*?[x]\\",
	} {
		d := newDocument(clk, key, "value")
		if err := s.PutDocument(ctx, d); err != nil {
			t.Fatalf("PutDocument(%q): %v", key, err)
		}
		checkDocument(t, mustGetDocument(t, s, key), d)
	}
	// A prefix of a stored key is another key.
	_, err := s.GetDocument(ctx, "idp-metadata/Bærum")
	wantErr(t, "GetDocument (prefix of a key)", err, session.ErrNotFound)
}

func newAuditEvent(clk *Clock, i int) session.AuditEvent {
	return session.AuditEvent{
		Time:       clk.Now().Add(time.Duration(i) * time.Millisecond),
		Event:      "admin",
		Result:     "ok",
		Person:     "123456*****",
		PersonHash: session.HashKey("12345678901"),
		IdP:        "buypass",
		Profile:    "buypass-mobile",
		Level:      4,
		Instrument: string(identity.InstrumentMobileApp),
		Action:     "upload idp metadata",
		Detail:     fmt.Sprintf("event %d: \"Bærum\" <kommune> \u2028", i),
		Ref:        fmt.Sprintf("req-%d", i),
	}
}

func checkAudit(t *testing.T, got, want []session.AuditEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("RecentAudit returned %d events, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("event %d: Time = %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("event %d =\n%+v\nwant\n%+v", i, g, w)
		}
	}
}

func mustAppend(t *testing.T, s session.Store, e session.AuditEvent) {
	t.Helper()
	if err := s.AppendAudit(context.Background(), &e); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
}

func mustRecent(t *testing.T, s session.Store, n int) []session.AuditEvent {
	t.Helper()
	events, err := s.RecentAudit(context.Background(), n)
	if err != nil {
		t.Fatalf("RecentAudit(%d): %v", n, err)
	}
	return events
}

func testAuditRoundTrip(t *testing.T, s session.Store, clk *Clock) {
	checkAudit(t, mustRecent(t, s, 10), nil)
	var want []session.AuditEvent
	for i := range 3 {
		e := newAuditEvent(clk, i)
		mustAppend(t, s, e)
		want = append([]session.AuditEvent{e}, want...)
	}
	checkAudit(t, mustRecent(t, s, 10), want)
	checkAudit(t, mustRecent(t, s, 3), want)
	checkAudit(t, mustRecent(t, s, 2), want[:2])
	for _, n := range []int{0, -1} {
		checkAudit(t, mustRecent(t, s, n), nil)
	}

	// A zero Time is the store's clock, for the caller and the trail alike.
	clk.Advance(time.Minute)
	e := newAuditEvent(clk, 0)
	e.Time = time.Time{}
	if err := s.AppendAudit(context.Background(), &e); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if !e.Time.Equal(clk.Now()) {
		t.Errorf("AppendAudit left Time = %v, want the store's clock %v", e.Time, clk.Now())
	}
	checkAudit(t, mustRecent(t, s, 1), []session.AuditEvent{e})
}

// Newest first means by Time, then by insertion: an event appended late with an earlier Time
// (another instance's clock, a retried write) sorts by its Time.
func testAuditOrder(t *testing.T, s session.Store, clk *Clock) {
	ev := func(ref string, at time.Duration) session.AuditEvent {
		e := newAuditEvent(clk, 0)
		e.Time, e.Ref = clk.Now().Add(at), ref
		return e
	}
	a, b, c, d, e := ev("a", 2*time.Second), ev("b", time.Second), ev("c", 2*time.Second), ev("d", 0), ev("e", time.Second)
	for _, x := range []session.AuditEvent{a, b, c, d, e} {
		mustAppend(t, s, x)
	}
	checkAudit(t, mustRecent(t, s, 10), []session.AuditEvent{c, a, e, b, d})
	checkAudit(t, mustRecent(t, s, 3), []session.AuditEvent{c, a, e})
}

func testAuditTrim(t *testing.T, s session.Store, clk *Clock) {
	const extra = 5
	var want []session.AuditEvent // newest first
	for i := range session.MaxAuditEvents + extra {
		e := newAuditEvent(clk, i)
		mustAppend(t, s, e)
		want = append(want, e)
	}
	slices.Reverse(want)
	checkAudit(t, mustRecent(t, s, session.MaxAuditEvents+extra), want[:session.MaxAuditEvents])
	checkAudit(t, mustRecent(t, s, 1), want[:1])
}

// One call with several events stores them in order, as that many calls would; a batch larger
// than the trail keeps its newest MaxAuditEvents; an empty one changes nothing.
func testAuditBatch(t *testing.T, s session.Store, clk *Clock) {
	if err := s.AppendAudit(context.Background()); err != nil {
		t.Fatalf("AppendAudit with no events: %v", err)
	}
	checkAudit(t, mustRecent(t, s, 10), nil)
	a, b, c := newAuditEvent(clk, 0), newAuditEvent(clk, 0), newAuditEvent(clk, 1)
	a.Ref, b.Ref, c.Ref = "a", "b", "c"
	b.Time = time.Time{} // filled from the store's clock, which is a's time
	if err := s.AppendAudit(context.Background(), &a, &b, &c); err != nil {
		t.Fatalf("AppendAudit(a, b, c): %v", err)
	}
	if !b.Time.Equal(clk.Now()) {
		t.Errorf("AppendAudit left b.Time = %v, want the store's clock %v", b.Time, clk.Now())
	}
	checkAudit(t, mustRecent(t, s, 10), []session.AuditEvent{c, b, a})

	const extra = 3
	batch := make([]*session.AuditEvent, session.MaxAuditEvents+extra)
	var want []session.AuditEvent
	for i := range batch {
		e := newAuditEvent(clk, 10+i)
		batch[i] = &e
		want = append(want, e)
	}
	if err := s.AppendAudit(context.Background(), batch...); err != nil {
		t.Fatalf("AppendAudit with %d events: %v", len(batch), err)
	}
	slices.Reverse(want)
	checkAudit(t, mustRecent(t, s, session.MaxAuditEvents+extra), want[:session.MaxAuditEvents])
}

// A batch whose write fails stores none of it.
func testAuditBatchCancelled(t *testing.T, s session.Store, clk *Clock) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, b := newAuditEvent(clk, 0), newAuditEvent(clk, 1)
	if err := s.AppendAudit(ctx, &a, &b); err == nil {
		t.Fatal("AppendAudit with a cancelled context: no error")
	}
	checkAudit(t, mustRecent(t, s, 10), nil)
}

func testAuditConcurrent(t *testing.T, s session.Store, clk *Clock) {
	const workers, each = 10, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := newAuditEvent(clk, i)
				e.Ref = fmt.Sprintf("worker-%d-%d", w, i)
				if err := s.AppendAudit(context.Background(), &e); err != nil {
					t.Errorf("AppendAudit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := mustRecent(t, s, session.MaxAuditEvents)
	if len(got) != workers*each {
		t.Fatalf("RecentAudit after %d concurrent appends: %d events", workers*each, len(got))
	}
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.Ref] {
			t.Errorf("event %s twice", e.Ref)
		}
		seen[e.Ref] = true
	}
}

func testSharedBetweenHandles(t *testing.T, a, b session.Store, clk *Clock) {
	ctx := context.Background()
	d := newDocument(clk, "idp-metadata/buypass", "")
	d.Value = everyByte()
	if err := a.PutDocument(ctx, d); err != nil {
		t.Fatalf("A PutDocument: %v", err)
	}
	checkDocument(t, mustGetDocument(t, b, d.Key), d)
	repl := newDocument(clk, d.Key, "replaced by B")
	if err := b.PutDocument(ctx, repl); err != nil {
		t.Fatalf("B PutDocument: %v", err)
	}
	checkDocument(t, mustGetDocument(t, a, d.Key), repl)
	if err := a.DeleteDocument(ctx, d.Key); err != nil {
		t.Fatalf("A DeleteDocument: %v", err)
	}
	_, err := b.GetDocument(ctx, d.Key)
	wantErr(t, "B GetDocument after A deleted it", err, session.ErrNotFound)

	e0, e1 := newAuditEvent(clk, 0), newAuditEvent(clk, 1)
	mustAppend(t, a, e0)
	mustAppend(t, b, e1)
	for _, s := range []session.Store{a, b} {
		checkAudit(t, mustRecent(t, s, 10), []session.AuditEvent{e1, e0})
	}
}
