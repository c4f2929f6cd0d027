package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidsp/eidsp/session"
)

// openNoDelay opens a store whose committer never waits for company (queueWrites needs one).
func openNoDelay(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{CommitDelay: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// queueWrites holds the store's write lock while fn starts n writes, waits until the committer
// holds the first and the other n-1 are queued behind it, and then lets them go: they commit
// as one group. s must have no commit delay (openNoDelay): a committer waiting for company
// would take the queued writes before the count is reached.
func queueWrites(t *testing.T, s *Store, n int, fn func(i int) error) []error {
	t.Helper()
	if s.commit.delay.delay > 0 {
		t.Fatal("queueWrites: the store has a commit delay")
	}
	s.writeMu.Lock()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.commit.ops) < n-1 {
		if time.Now().After(deadline) {
			s.writeMu.Unlock()
			t.Fatalf("only %d of %d writes queued", len(s.commit.ops), n-1)
		}
		time.Sleep(time.Millisecond)
	}
	s.writeMu.Unlock()
	wg.Wait()
	return errs
}

// Writes queued together commit in one transaction, each returns once it is committed (another
// handle sees it), and each keeps its own outcome (a lost claim is still ErrReplay).
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	s := openNoDelay(t, path)
	defer s.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	if err := s.Claim(ctx, "taken", until); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := queueWrites(t, s, n, func(i int) error {
		if i == 0 {
			return s.Claim(ctx, "taken", until)
		}
		return s.Claim(ctx, fmt.Sprint("key-", i), until)
	})
	if !errors.Is(errs[0], session.ErrReplay) {
		t.Errorf("claim of a taken key in a group: %v, want ErrReplay", errs[0])
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("claim %d in a group: %v", i+1, err)
		}
	}
	if g, w := s.commit.groups.Load(), s.commit.grouped.Load(); g != 1 || w != n {
		t.Errorf("%d groups holding %d writes, want 1 holding all %d", g, w, n)
	}
	other := openTemp(t, path, nil)
	defer other.Close()
	for i := 1; i < n; i++ {
		if err := other.Claim(ctx, fmt.Sprint("key-", i), until); !errors.Is(err, session.ErrReplay) {
			t.Errorf("claim %d seen from another handle after its call returned: %v, want ErrReplay", i, err)
		}
	}
}

// A write that fails inside a group fails alone: the group is rolled back and its writes run
// one by one, so the others commit.
func TestGroupCommitFailureIsolated(t *testing.T) {
	s := openNoDelay(t, filepath.Join(t.TempDir(), "eidsp.db"))
	defer s.Close()
	ctx := context.Background()
	dup := testSession(t, time.Now())
	if err := s.CreateSession(ctx, dup); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	const n = 8
	errs := queueWrites(t, s, n, func(i int) error {
		if i == n/2 {
			again := *dup
			return s.CreateSession(ctx, &again) // the same ID: a constraint error
		}
		return s.Claim(ctx, fmt.Sprint("key-", i), until)
	})
	for i, err := range errs {
		switch {
		case i == n/2 && err == nil:
			t.Errorf("duplicate session in a group: no error")
		case i != n/2 && err != nil:
			t.Errorf("claim %d beside a failing write: %v", i, err)
		}
	}
	for i := range n {
		if i == n/2 {
			continue
		}
		if err := s.Claim(ctx, fmt.Sprint("key-", i), until); !errors.Is(err, session.ErrReplay) {
			t.Errorf("claim %d not committed beside a failing write: %v", i, err)
		}
	}
	if got, err := s.GetSession(ctx, dup.ID); err != nil || got.Identity.NationalID != dup.Identity.NationalID {
		t.Errorf("the first session = %+v, %v; want it unchanged", got, err)
	}
}

// After Close, writes fail at once instead of waiting.
func TestGroupCommitAfterClose(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "eidsp.db"), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(context.Background(), "late", time.Now().Add(time.Hour)); err == nil {
		t.Fatal("Claim after Close: no error")
	}
	// Documents and the sweep, on the committer's connection, too, with the same error.
	if err := s.PutDocument(context.Background(), &session.Document{Key: "late", Value: []byte("v"), UpdatedBy: "test"}); !errors.Is(err, errClosed) {
		t.Fatalf("PutDocument after Close: %v; want %v", err, errClosed)
	}
	if err := s.Sweep(context.Background()); !errors.Is(err, errClosed) {
		t.Fatalf("Sweep after Close: %v; want %v", err, errClosed)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// ClaimAndCreateSession inside a group keeps its all-or-nothing: the one whose session cannot
// be stored fails alone and leaves its key unclaimed, a lost claim makes no session, and the
// others commit both.
func TestGroupClaimAndCreateSession(t *testing.T) {
	s := openNoDelay(t, filepath.Join(t.TempDir(), "eidsp.db"))
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	until := now.Add(time.Hour)
	dup := testSession(t, now)
	if err := s.CreateSession(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "taken", until); err != nil {
		t.Fatal(err)
	}
	const n = 8
	made := make([]*session.Session, n)
	errs := queueWrites(t, s, n, func(i int) error {
		sess := testSession(t, now)
		key := fmt.Sprint("key-", i)
		switch i {
		case 3:
			sess.ID = dup.ID // a constraint error after the claim
		case 5:
			key = "taken"
		}
		made[i] = sess
		return s.ClaimAndCreateSession(ctx, key, until, sess)
	})
	for i, err := range errs {
		_, gerr := s.GetSession(ctx, made[i].ID)
		switch i {
		case 3:
			if err == nil || errors.Is(err, session.ErrReplay) {
				t.Errorf("taken session ID in a group: %v, want a constraint error", err)
			}
			if cerr := s.Claim(ctx, "key-3", until); cerr != nil {
				t.Errorf("key of the failed write: %v, want it unclaimed", cerr)
			}
		case 5:
			if !errors.Is(err, session.ErrReplay) || !errors.Is(gerr, session.ErrNotFound) {
				t.Errorf("claimed key in a group: %v, session %v; want ErrReplay and no session", err, gerr)
			}
		default:
			if err != nil || gerr != nil {
				t.Errorf("write %d in a group: %v, session %v", i, err, gerr)
			}
		}
	}
}

// A lone write waits for company: writes that arrive within the commit delay share its
// transaction (with no delay the first would have committed alone long before the others).
func TestCommitDelayGroupsWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "eidsp.db"), Options{CommitDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	errs := make([]error, delayGroup)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.Claim(ctx, "key-0", until) })
	// Long enough for the first write to be committed alone if the committer did not wait
	// (a commit takes well under a millisecond); a slower machine only groups more.
	time.Sleep(20 * time.Millisecond)
	for i := 1; i < delayGroup; i++ {
		wg.Go(func() { errs[i] = s.Claim(ctx, fmt.Sprint("key-", i), until) })
	}
	wg.Wait() // a full group does not wait out the minute
	for i, err := range errs {
		if err != nil {
			t.Errorf("claim %d: %v", i, err)
		}
	}
	if g, w := s.commit.groups.Load(), s.commit.grouped.Load(); g != 1 || w != delayGroup {
		t.Errorf("%d groups holding %d writes, want 1 holding %d", g, w, delayGroup)
	}
}

// Waiting backs off while it brings nothing (1 wait in 2, 4, … 64 lone writes) and starts
// again as soon as writes overlap.
func TestCommitDelayBacksOff(t *testing.T) {
	d := delayer{delay: time.Microsecond}
	ops := make(chan *groupOp, 1)
	quit := make(chan struct{})
	lone := func() int {
		if n := len(d.gather([]*groupOp{{}}, ops, quit)); n != 1 {
			t.Fatalf("a lone write with nothing arriving came back as %d", n)
		}
		return d.waits
	}
	var waitedAt []int
	for i := 1; i <= 200; i++ {
		before := d.waits
		if lone() > before {
			waitedAt = append(waitedAt, i)
		}
	}
	// Waits at writes 1, 4 (after 2 skipped), 9 (4), 18 (8), 35 (16), 68 (32), 133 (64), …
	want := []int{1, 4, 9, 18, 35, 68, 133, 198}
	if fmt.Sprint(waitedAt) != fmt.Sprint(want) {
		t.Errorf("lone writes waited at %v, want %v", waitedAt, want)
	}
	// A wait that brings company resets the back-off. The sender blocks on an unbuffered
	// channel, so the write is not queued when gather looks but comes while it waits (and the
	// delay is long, so that the timer cannot win the select).
	d.skip, d.delay = 0, time.Hour
	arriving := make(chan *groupOp)
	go func() { arriving <- &groupOp{} }()
	if n := len(d.gather([]*groupOp{{}}, arriving, quit)); n != 2 {
		t.Fatalf("a write arriving during the wait: batch of %d, want 2", n)
	}
	if d.skip != 0 || d.backoff != 0 {
		t.Errorf("after company: skip %d, backoff %d; want 0, 0", d.skip, d.backoff)
	}
	// So does a write that finds others queued: no wait for it, and the next lone write waits.
	d.skip, d.backoff, d.delay = 40, 64, time.Microsecond
	ops <- &groupOp{}
	before := d.waits
	if n := len(d.gather([]*groupOp{{}}, ops, quit)); n != 1 || d.waits != before {
		t.Errorf("a write with another queued: batch of %d, %d waits; want 1 and no wait", n, d.waits-before)
	}
	<-ops
	lone()
	if d.waits != before+1 {
		t.Error("after company the next lone write did not wait")
	}
	// Close ends a wait at once.
	d = delayer{delay: time.Hour}
	close(quit)
	if n := len(d.gather([]*groupOp{{}}, ops, quit)); n != 1 {
		t.Errorf("wait ended by quit: batch of %d, want 1", n)
	}
	// No delay, no wait.
	d = delayer{}
	d.gather([]*groupOp{{}}, ops, quit)
	if d.waits != 0 {
		t.Error("a delayer without delay waited")
	}
}

// leaveTransactionOpen begins a transaction on the idle committer's connection and leaves it
// open, as a ROLLBACK that failed would.
func leaveTransactionOpen(t *testing.T, s *Store) {
	t.Helper()
	s.writeMu.Lock() // the committer is idle: its connection is ours for a moment
	defer s.writeMu.Unlock()
	if _, err := s.w.begin.ExecContext(context.Background()); err != nil {
		t.Fatalf("BEGIN on the committer's connection: %v", err)
	}
}

// A transaction left open on the committer's connection takes no write in: the next write
// fails, since its BEGIN does, instead of running inside that transaction and being answered
// without a commit; the failure ends the transaction, and the writes after it commit.
func TestCommitterLeftOpenTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	s := openNoDelay(t, path)
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	leaveTransactionOpen(t, s)
	if err := s.Claim(ctx, "lost", until); err == nil {
		t.Fatal("a write on a connection with an open transaction succeeded")
	}
	if err := s.Claim(ctx, "kept", until); err != nil {
		t.Fatalf("the write after the failure: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openNoDelay(t, path)
	defer s.Close()
	if err := s.Claim(ctx, "kept", until); !errors.Is(err, session.ErrReplay) {
		t.Errorf("claim of the write after the failure: %v, want ErrReplay (it was committed)", err)
	}
	if err := s.Claim(ctx, "lost", until); err != nil {
		t.Errorf("claim of the failed write: %v, want it free (nothing was committed)", err)
	}
}

// A ROLLBACK with no transaction open is told from other failures by its result code.
func TestNoTransaction(t *testing.T) {
	s := openNoDelay(t, filepath.Join(t.TempDir(), "eidsp.db"))
	defer s.Close()
	s.writeMu.Lock()
	_, err := s.w.rollback.ExecContext(context.Background())
	s.writeMu.Unlock()
	if err == nil || !noTransaction(err) {
		t.Fatalf("ROLLBACK with no transaction: %v, noTransaction %v; want an error it recognizes", err, noTransaction(err))
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("wrapped: %w", err), true},
		{errors.New("disk I/O error"), false},
		{context.Canceled, false},
	} {
		if got := noTransaction(c.err); got != c.want {
			t.Errorf("noTransaction(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// replaceConn ends a transaction the committer's connection had left open (the write lock is
// free for another connection at once), and the writes after it commit on the new connection.
func TestReplaceConnEndsLeftTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	s := openNoDelay(t, path)
	defer s.Close()
	ctx := context.Background()
	leaveTransactionOpen(t, s)
	s.writeMu.Lock()
	s.replaceConn(ctx)
	s.writeMu.Unlock()
	if err := s.commit.brokenErr(); err != nil {
		t.Fatalf("replaceConn: %v", err)
	}
	other, err := sql.Open("sqlite", dsn(path, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`BEGIN IMMEDIATE; COMMIT`); err != nil {
		t.Fatalf("another connection's write lock after replaceConn: %v", err)
	}
	if err := s.Claim(ctx, "after", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("a write after replaceConn: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after replaceConn: %v", err)
	}
}

// When no connection can replace the committer's, every write fails with that error and Ping
// reports it; Close still closes.
func TestReplaceConnFailureBreaks(t *testing.T) {
	s := openNoDelay(t, filepath.Join(t.TempDir(), "eidsp.db"))
	ctx := context.Background()
	s.writeMu.Lock()
	s.db.Close() // the pool can give no connection now
	s.replaceConn(ctx)
	s.writeMu.Unlock()
	if s.commit.brokenErr() == nil {
		t.Fatal("replaceConn with a closed pool left no error")
	}
	if err := s.Claim(ctx, "k", time.Now().Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "could not be replaced") {
		t.Fatalf("a write with the committer broken: %v", err)
	}
	// Documents and the sweep run on the committer's connection too.
	if err := s.PutDocument(ctx, &session.Document{Key: "k", Value: []byte("v"), UpdatedBy: "test"}); err == nil || !strings.Contains(err.Error(), "could not be replaced") {
		t.Fatalf("a document with the committer broken: %v", err)
	}
	if err := s.Sweep(ctx); err == nil || !strings.Contains(err.Error(), "could not be replaced") {
		t.Fatalf("a sweep with the committer broken: %v", err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "could not be replaced") {
		t.Fatalf("Ping with the committer broken: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close with the committer broken: %v", err)
	}
}

// dataVersion is PRAGMA data_version on the committer's connection: it changes when another
// connection has committed since the connection's last look, which is also when SQLite drops
// the connection's page cache.
func dataVersion(t *testing.T, s *Store) int64 {
	t.Helper()
	s.writeMu.Lock() // the committer holds it while it uses its connection
	defer s.writeMu.Unlock()
	var v int64
	if err := s.commit.conn.QueryRowContext(context.Background(), `PRAGMA data_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every write of the store (a login's, a logout's, the audit trail's, a document's, a sweep's)
// is made on the committer's connection, so that connection never finds the database changed
// by another and keeps its page cache. A write from the pool, which no method makes, shows
// that the check sees such a change.
func TestWritesOnTheCommittersConnection(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "eidsp.db"), time.Now)
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	before := dataVersion(t, s)
	p := &session.PendingLogin{Key: "relay", RequestID: "_req", ExpiresAt: now.Add(time.Minute)}
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakePendingAndClaim(ctx, "relay", "artifact", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sess := testSession(t, now)
	if err := s.ClaimAndCreateSession(ctx, "assertion", now.Add(time.Hour), sess); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, sess.ID, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	e := session.AuditEvent{Time: now, Event: "login", Result: "ok"}
	if err := s.AppendAudit(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteSessionsBySessionIndex(ctx, sess.Identity.IdP, sess.Identity.NameID, sess.Identity.SessionIndex); err != nil || n != 1 {
		t.Fatalf("DeleteSessionsBySessionIndex: %d, %v; want 1", n, err)
	}
	if err := s.PutDocument(ctx, &session.Document{Key: "k", Value: []byte("v"), UpdatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDocument(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := dataVersion(t, s); got != before {
		t.Fatalf("data_version %d after the writes, was %d: another connection wrote", got, before)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO documents (key, value, updated_at, updated_by) VALUES ('k', x'', 0, 'test')`); err != nil {
		t.Fatal(err)
	}
	if got := dataVersion(t, s); got == before {
		t.Fatal("data_version unchanged after a write from the pool: the check cannot fail")
	}
}
