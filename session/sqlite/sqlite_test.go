package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/conformance"
)

func openTemp(t *testing.T, path string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, now func() time.Time) (session.Store, func() session.Store) {
		path := filepath.Join(t.TempDir(), "eidsp.db")
		// Another handle is another pool on the same file, as a second process would open.
		return openTemp(t, path, now), func() session.Store { return openTemp(t, path, now) }
	})
}

func testSession(t *testing.T, now time.Time) *session.Session {
	t.Helper()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return &session.Session{
		ID: id,
		Identity: identity.Identity{
			NationalID: "12345678901", Kind: identity.KindFNR, Level: 4, IdP: "idporten",
			SessionIndex: "idx-" + id[:8], NameID: "nameid-" + id[:8], NameIDFormat: "transient",
		},
		Profile:   "idporten",
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(time.Hour),
	}
}

// rawDB opens a second handle on the same file, to look at what the store wrote.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRawIDNotStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	clk := conformance.NewClock(conformance.Start)
	s := openTemp(t, path, clk.Now)
	defer s.Close()
	ctx := context.Background()
	sess := testSession(t, clk.Now())
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM sessions WHERE id_hash = ?`,
		session.HashKey(sess.ID)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("rows keyed by the SHA-256 of the ID: %d, want 1", n)
	}
	// Nowhere in the files, in whatever column or page: not in the database, not in the WAL.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(sess.ID)) {
			t.Errorf("%s contains the raw session ID", filepath.Base(path+suffix))
		}
		if suffix == "-wal" && !bytes.Contains(b, []byte(sess.Identity.NameID)) {
			t.Errorf("sanity check: %s does not contain the NameID either; is this the right file?", filepath.Base(path+suffix))
		}
	}
}

func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	clk := conformance.NewClock(conformance.Start)
	ctx := context.Background()
	s := openTemp(t, path, clk.Now)
	sess := testSession(t, clk.Now())
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	p := &session.PendingLogin{Key: "relay", RequestID: "_req", ExpiresAt: clk.Now().Add(time.Minute)}
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "assertion", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTemp(t, path, clk.Now)
	defer s.Close()
	got, err := s.GetSession(ctx, sess.ID)
	if err != nil {
		t.Fatalf("GetSession after restart: %v", err)
	}
	if got.Identity.NameID != sess.Identity.NameID || got.Identity.SessionIndex != sess.Identity.SessionIndex {
		t.Errorf("Identity after restart = %+v", got.Identity)
	}
	if gotP, err := s.TakePending(ctx, "relay"); err != nil || gotP.RequestID != "_req" {
		t.Errorf("TakePending after restart = %+v, %v", gotP, err)
	}
	if err := s.Claim(ctx, "assertion", clk.Now().Add(time.Hour)); !errors.Is(err, session.ErrReplay) {
		t.Errorf("Claim after restart: err = %v, want ErrReplay", err)
	}
	if n, err := s.DeleteSessionsBySessionIndex(ctx, "idporten", sess.Identity.NameID, sess.Identity.SessionIndex); err != nil || n != 1 {
		t.Errorf("DeleteSessionsBySessionIndex after restart = %d, %v; want 1", n, err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	for range 2 { // the second Open finds the current version and applies nothing
		s := openTemp(t, path, nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	var versions, max int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&versions, &max); err != nil {
		t.Fatal(err)
	}
	if versions != schemaVersion || max != schemaVersion {
		t.Fatalf("schema_migrations: %d rows, max version %d; want %d", versions, max, schemaVersion)
	}

	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, schemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema: no error")
	}
}

func TestPragmas(t *testing.T) {
	// At FULL the connections run at NORMAL too and the store fsyncs the WAL itself (walsync.go).
	for _, tc := range []struct {
		name    string
		sync    Sync
		wantWAL bool
	}{
		{"ok/default-full", "", true},
		{"ok/full", SyncFull, true},
		{"ok/normal", SyncNormal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "eidsp.db"), Options{Synchronous: tc.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkPragmas(t, s, 1)
			if got := s.wal != nil; got != tc.wantWAL {
				t.Errorf("store syncs the WAL itself: %v, want %v", got, tc.wantWAL)
			}
		})
	}
	t.Run("fail/unknown-synchronous", func(t *testing.T) {
		if s, err := Open(filepath.Join(t.TempDir(), "eidsp.db"), Options{Synchronous: "OFF"}); err == nil {
			s.Close()
			t.Fatal("Open with synchronous OFF: no error")
		}
	})
}

func checkPragmas(t *testing.T, s *Store, wantSync int) {
	t.Helper()
	// Hold several connections at once so that the check covers more than the first one.
	ctx := context.Background()
	var conns []*sql.Conn
	for range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var mode string
		var sync, busy int
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != wantSync || busy != 5000 {
			t.Errorf("connection %d: journal_mode=%s synchronous=%d busy_timeout=%d; want wal, %d, 5000", i, mode, sync, busy, wantSync)
		}
		c.Close()
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "eidsp")
	path := filepath.Join(dir, "sessions?v=1#x.db") // characters that mean something in a URI
	s := openTemp(t, path, nil)
	defer s.Close()
	if err := s.CreateSession(context.Background(), testSession(t, time.Now())); err != nil {
		t.Fatal(err)
	}
	checkMode := func(p string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	checkMode(dir, 0o700)
	checkMode(filepath.Dir(dir), 0o700)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		checkMode(path+suffix, 0o600)
	}
}

func TestConcurrentUse(t *testing.T) {
	clk := conformance.NewClock(conformance.Start)
	s := openTemp(t, filepath.Join(t.TempDir(), "eidsp.db"), clk.Now)
	defer s.Close()
	ctx := context.Background()
	const workers, rounds = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				if err := useOnce(ctx, s, clk, fmt.Sprintf("%d-%d", w, r)); err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			if err := s.Sweep(ctx); err != nil {
				errs <- fmt.Errorf("sweep: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// useOnce is one login and one request in miniature.
func useOnce(ctx context.Context, s *Store, clk *conformance.Clock, tag string) error {
	now := clk.Now()
	p := &session.PendingLogin{Key: "relay-" + tag, RequestID: "_" + tag, ExpiresAt: now.Add(time.Minute)}
	if err := s.PutPending(ctx, p); err != nil {
		return err
	}
	if _, err := s.TakePending(ctx, p.Key); err != nil {
		return fmt.Errorf("take: %w", err)
	}
	if err := s.Claim(ctx, "assertion-"+tag, now.Add(time.Minute)); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	id, err := session.NewID()
	if err != nil {
		return err
	}
	sess := &session.Session{ID: id, Identity: identity.Identity{IdP: "idporten", NameID: tag}, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		return err
	}
	if _, err := s.GetSession(ctx, id); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if err := s.TouchSession(ctx, id, now); err != nil {
		return fmt.Errorf("touch: %w", err)
	}
	if err := s.Claim(ctx, "assertion-"+tag, now.Add(time.Minute)); !errors.Is(err, session.ErrReplay) {
		return fmt.Errorf("second claim: err = %v, want ErrReplay", err)
	}
	return s.DeleteSession(ctx, id)
}

// The durability requirement: a process killed with SIGKILL keeps everything it committed. The
// child (this test binary, re-run) writes and reports each commit on stdout; the parent kills it
// mid-stream and checks that every reported record is there.
const childEnv = "EIDSP_SQLITE_SIGKILL_CHILD"

// Both synchronous settings must pass: NORMAL gives up only OS-crash durability.
func TestDurableAfterSIGKILL(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		sigkillChild(path, Sync(os.Getenv(childEnv+"_SYNC")))
		return
	}
	for _, sync := range []Sync{SyncFull, SyncNormal} {
		t.Run("ok/"+string(sync), func(t *testing.T) { durableAfterSIGKILL(t, sync) })
	}
}

func durableAfterSIGKILL(t *testing.T, sync Sync) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableAfterSIGKILL$")
	cmd.Env = append(os.Environ(), childEnv+"="+path, childEnv+"_SYNC="+string(sync))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(out)
	for len(ids) < 50 && sc.Scan() {
		ids = append(ids, sc.Text())
	}
	// The child keeps writing while it dies, so the kill lands in the middle of work.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	for sc.Scan() {
		ids = append(ids, sc.Text())
	}
	cmd.Wait()
	if len(ids) < 50 {
		t.Fatalf("child reported %d commits before it ended, want at least 50", len(ids))
	}

	s := openTemp(t, path, nil)
	defer s.Close()
	ctx := context.Background()
	for _, id := range ids {
		if _, err := s.GetSession(ctx, id); err != nil {
			t.Errorf("session %s committed before SIGKILL: %v", id, err)
		}
		if err := s.Claim(ctx, "claim-"+id, time.Now().Add(time.Hour)); !errors.Is(err, session.ErrReplay) {
			t.Errorf("claim for %s committed before SIGKILL: err = %v, want ErrReplay", id, err)
		}
	}
}

func sigkillChild(path string, sync Sync) {
	s, err := Open(path, Options{Synchronous: sync})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		sess := &session.Session{ID: "child-" + strconv.Itoa(i), ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.CreateSession(ctx, sess); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := s.Claim(ctx, "claim-"+sess.ID, time.Now().Add(time.Hour)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Both are committed: only now does the parent learn of them.
		fmt.Println(sess.ID)
	}
}

// A take that cannot commit (another process holds the write lock past the busy timeout) is an
// error, not a login handed out, and the pending login is still there to take afterwards.
func TestTakePendingLockedFailsAndKeepsRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	s, err := Open(path, Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	p := &session.PendingLogin{Key: "relay-locked", RequestID: "_req", IdP: "idporten", Profile: "idporten",
		ReturnTo: "/", BrowserBinding: "b", Locale: "nb", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}

	conn, err := rawDB(t, path).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	got, err := s.TakePending(ctx, p.Key)
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("TakePending under another's write lock = %+v, %v; want a store error", got, err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TakePending(ctx, p.Key); err != nil || got.RequestID != "_req" {
		t.Fatalf("TakePending after the lock = %+v, %v; want the pending login kept", got, err)
	}
	if _, err := s.TakePending(ctx, p.Key); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("second TakePending = %v, want ErrNotFound", err)
	}
}
