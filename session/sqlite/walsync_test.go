package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/session"
)

// syncGate replaces the store's fsync of the WAL: each sync announces itself on entered and
// waits until the gate is open.
type syncGate struct {
	entered chan struct{}
	open    chan struct{}
	fail    error
}

func gateSyncs(t *testing.T, s *Store, fail error) *syncGate {
	t.Helper()
	if s.wal == nil {
		t.Fatal("the store does not sync the WAL itself")
	}
	g := &syncGate{entered: make(chan struct{}, 64), open: make(chan struct{}), fail: fail}
	s.wal.mu.Lock()
	s.wal.syncFile = func(f *os.File) error {
		g.entered <- struct{}{}
		<-g.open
		if g.fail != nil {
			return g.fail
		}
		return f.Sync()
	}
	s.wal.mu.Unlock()
	return g
}

func (g *syncGate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync of the WAL started")
	}
}

// async runs fn and hands back its error.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func stillWaiting(t *testing.T, name string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) before its fsync finished", name, err)
	default:
	}
}

// succeeds waits for ch's answer and fails the test unless it is nil.
func succeeds(t *testing.T, name string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer after 10s", name)
	}
}

// At FULL every durable write costs an fsync of the WAL and the relaxed ones none; a group
// shares one.
func TestSyncsPerWrite(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := openNoDelay(t, filepath.Join(t.TempDir(), "eidsp.db"))
	defer s.Close()
	sess := testSession(t, now)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	pending := &session.PendingLogin{Key: "relay", RequestID: "_r", ExpiresAt: now.Add(time.Minute)}
	relaxed := map[string]func() error{
		"PutPending": func() error { return s.PutPending(ctx, pending) },
		"TakePending": func() error {
			_, err := s.TakePending(ctx, "relay")
			return err
		},
		"TakePendingAndClaim": func() error { // a relaxed PutPending, then the step
			if err := s.PutPending(ctx, pending); err != nil {
				return err
			}
			_, err := s.TakePendingAndClaim(ctx, "relay", "artifact", now.Add(time.Hour))
			return err
		},
		"TouchSession": func() error { return s.TouchSession(ctx, sess.ID, now.Add(time.Second)) },
	}
	for _, name := range []string{"PutPending", "TakePending", "TakePendingAndClaim", "TouchSession"} {
		before := s.wal.syncs.Load()
		if err := relaxed[name](); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := s.wal.syncs.Load() - before; n != 0 {
			t.Errorf("%s made %d fsyncs, want none", name, n)
		}
	}
	event := &session.AuditEvent{Event: "login", Result: "ok"}
	durable := []struct {
		name string
		fn   func() error
	}{
		{"Claim", func() error { return s.Claim(ctx, "assertion", now.Add(time.Hour)) }},
		{"CreateSession", func() error { return s.CreateSession(ctx, testSession(t, now)) }},
		{"ClaimAndCreateSession", func() error {
			return s.ClaimAndCreateSession(ctx, "assertion-2", now.Add(time.Hour), testSession(t, now))
		}},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, sess.ID) }},
		{"DeleteSessionsBySessionIndex", func() error {
			_, err := s.DeleteSessionsBySessionIndex(ctx, "idporten", "nameid", "")
			return err
		}},
		{"PutDocument", func() error { return s.PutDocument(ctx, &session.Document{Key: "idp/x", Value: []byte("v")}) }},
		{"DeleteDocument", func() error { return s.DeleteDocument(ctx, "idp/x") }},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, event) }},
		{"Sweep", func() error { return s.Sweep(ctx) }},
	}
	for _, w := range durable {
		before := s.wal.syncs.Load()
		if err := w.fn(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if n := s.wal.syncs.Load() - before; n != 1 {
			t.Errorf("%s made %d fsyncs, want 1", w.name, n)
		}
	}

	// A mixed group: pending logins beside claims, one of which is lost; one fsync for all.
	before := s.wal.syncs.Load()
	const n = 10
	errs := queueWrites(t, s, n, func(i int) error {
		switch {
		case i == 0:
			return s.Claim(ctx, "assertion", now.Add(time.Hour))
		case i%2 == 0:
			return s.PutPending(ctx, &session.PendingLogin{Key: fmt.Sprint("relay-", i), RequestID: "_r", ExpiresAt: now.Add(time.Minute)})
		}
		return s.Claim(ctx, fmt.Sprint("key-", i), now.Add(time.Hour))
	})
	if !errors.Is(errs[0], session.ErrReplay) {
		t.Errorf("claim of a taken key in a mixed group: %v, want ErrReplay", errs[0])
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("write %d of a mixed group: %v", i+1, err)
		}
	}
	if got := s.wal.syncs.Load() - before; got != 1 {
		t.Errorf("a group of %d writes made %d fsyncs, want 1", n, got)
	}

	normal, err := Open(filepath.Join(t.TempDir(), "normal.db"), Options{Synchronous: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer normal.Close()
	if normal.wal != nil {
		t.Error("a store at NORMAL syncs the WAL")
	}
	if err := normal.Claim(ctx, "k", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// A durable write returns only after its fsync; meanwhile the committer goes on: relaxed
// writes return and durable ones commit (another handle sees them) and wait for the next.
func TestDurableWriteWaitsForSync(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	path := filepath.Join(t.TempDir(), "eidsp.db")
	s := openTemp(t, path, nil)
	defer s.Close()
	g := gateSyncs(t, s, nil)

	first := async(func() error { return s.Claim(ctx, "first", now.Add(time.Hour)) })
	g.waitEntered(t)
	if err := s.PutPending(ctx, &session.PendingLogin{Key: "relay", RequestID: "_r", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatalf("PutPending while an fsync runs: %v", err)
	}
	second := async(func() error { return s.Claim(ctx, "second", now.Add(time.Hour)) })
	raw := rawDB(t, path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM replay_cache`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay_cache holds %d rows while the first fsync runs; want both claims committed", n)
		}
		time.Sleep(time.Millisecond)
	}
	stillWaiting(t, "the first Claim", first)
	stillWaiting(t, "the second Claim", second)
	close(g.open)
	succeeds(t, "the first Claim", first)
	succeeds(t, "the second Claim", second)
}

// A failed fsync fails the durable writes it was for, with an error that says so; relaxed
// writes do not notice.
func TestSyncFailure(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := openTemp(t, filepath.Join(t.TempDir(), "eidsp.db"), nil)
	defer s.Close()
	g := gateSyncs(t, s, errors.New("input/output error"))
	close(g.open)
	err := s.Claim(ctx, "k", now.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "sync WAL") || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("Claim with a failing fsync: %v, want the sync's error", err)
	}
	if err := s.PutDocument(ctx, &session.Document{Key: "idp/x", Value: []byte("v")}); err == nil {
		t.Error("PutDocument with a failing fsync: no error")
	}
	if err := s.PutPending(ctx, &session.PendingLogin{Key: "relay", RequestID: "_r", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Errorf("PutPending with a failing fsync: %v", err)
	}
	// The failure sticks: a later sync that succeeds could be missing pages the failed one
	// lost, so durable writes keep failing and Ping (and so /readyz) says why.
	s.wal.mu.Lock()
	g.fail = nil
	s.wal.mu.Unlock()
	if err := s.Claim(ctx, "k2", now.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("Claim after a failed fsync: %v, want the earlier failure", err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("Ping after a failed fsync: %v, want the failure", err)
	}
}

// Opened through a symbolic link, the store syncs the log SQLite writes: beside the file the
// link points to.
func TestSyncThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	realDB := filepath.Join(dir, "real", "eidsp.db")
	if err := os.WriteFile(realDB, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(realDB, link); err != nil {
		t.Fatal(err)
	}
	s := openTemp(t, link, nil)
	defer s.Close()
	before := s.wal.syncs.Load()
	if err := s.Claim(context.Background(), "k", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := s.wal.syncs.Load() - before; n != 1 {
		t.Errorf("a Claim through a symlinked path made %d fsyncs, want 1", n)
	}
	want, err := os.Stat(realDB + "-wal")
	if err != nil {
		t.Fatalf("SQLite's log: %v", err)
	}
	s.wal.mu.Lock()
	held, err := s.wal.f.Stat()
	s.wal.mu.Unlock()
	if err != nil || !os.SameFile(want, held) {
		t.Errorf("the syncer holds %v (%v), not SQLite's log %s", held, err, realDB+"-wal")
	}
	if _, err := os.Stat(link + "-wal"); err == nil {
		t.Error("a log beside the link")
	}
}

// Close waits for the fsync in flight and the writes it is for get their answer, not
// "closed".
func TestCloseWaitsForSync(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, filepath.Join(t.TempDir(), "eidsp.db"), nil)
	g := gateSyncs(t, s, nil)
	claim := async(func() error { return s.Claim(ctx, "k", time.Now().Add(time.Hour)) })
	g.waitEntered(t)
	closed := async(s.Close)
	<-s.commit.quit                   // Close has begun
	time.Sleep(50 * time.Millisecond) // a Close that did not wait would have returned by now
	stillWaiting(t, "the Claim", claim)
	stillWaiting(t, "Close", closed)
	close(g.open)
	succeeds(t, "the Claim whose fsync finished during Close", claim)
	succeeds(t, "Close", closed)
}

// The syncer follows the WAL file at its path: none yet, a file, the file replaced, removed;
// after close it opens nothing.
func TestWALSyncFollowsFile(t *testing.T) {
	base := filepath.Join(t.TempDir(), "x.db")
	w := newWALSync(base)
	defer w.close()
	if err := w.sync(); err != nil || w.f != nil || w.syncs.Load() != 0 {
		t.Fatalf("sync without a WAL file: %v, file %v, %d fsyncs; want nothing done", err, w.f, w.syncs.Load())
	}
	write := func(path string) {
		if err := os.WriteFile(path, []byte("log"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	same := func() bool {
		now, err := os.Stat(w.path)
		if err != nil || w.f == nil {
			return false
		}
		held, err := w.f.Stat()
		return err == nil && os.SameFile(now, held)
	}
	write(w.path)
	if err := w.sync(); err != nil || !same() || w.syncs.Load() != 1 {
		t.Fatalf("sync of a new WAL file: %v, following it: %v, %d fsyncs", err, same(), w.syncs.Load())
	}
	write(base + ".new")
	if err := os.Rename(base+".new", w.path); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil || !same() {
		t.Fatalf("sync of a replaced WAL file: %v, following the new one: %v", err, same())
	}
	if err := os.Remove(w.path); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil || w.f != nil {
		t.Fatalf("sync after the WAL file went: %v, file still held: %v", err, w.f != nil)
	}
	// After close (the store's Close), a write that raced it opens nothing.
	write(w.path)
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); !errors.Is(err, errClosed) || w.f != nil {
		t.Fatalf("sync after close: %v, file held: %v; want errClosed and none", err, w.f != nil)
	}
}
