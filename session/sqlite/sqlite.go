// Package sqlite is the embedded session.Store: one SQLite file (modernc.org/sqlite, no cgo)
// holding sessions, pending logins, the replay cache, shared documents and the audit trail, so
// that all of them survive a restart of a single instance. Open creates or migrates the schema;
// the caller runs Sweep periodically.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eidsp/eidsp/session"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var _ session.Store = (*Store)(nil)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Now is the clock every expiry judgment uses. Default time.Now.
	Now func() time.Time
	// BusyTimeout is how long a statement waits for another connection's write lock before
	// failing. Default 5s.
	BusyTimeout time.Duration
	// Synchronous is SQLite's synchronous setting: SyncFull (the default) or SyncNormal. See
	// dsn for what each guarantees.
	Synchronous Sync
	// CommitDelay is how long a lone write may wait for others to share its transaction
	// (group.go). Zero means the default, 1 ms; a negative value, never.
	CommitDelay time.Duration
}

// Sync is a value of SQLite's synchronous pragma.
type Sync string

const (
	// SyncFull: a write returns once the WAL is fsynced; it survives a crash of the process,
	// of the OS and a power loss. Pending logins (and the artifact's claim made with one) and
	// TouchSession are the exception: they return once committed, as with SyncNormal (see
	// Store.wal), so a login waits for one fsync (the assertion's replay-cache entry with the
	// session), which it shares with the writes committed meanwhile (group.go, walsync.go).
	SyncFull Sync = "FULL"
	// SyncNormal: a commit returns once it is written to the WAL, which is fsynced only at
	// checkpoints. It survives a crash of the process (SIGKILL included) but the last commits
	// can be lost to an OS crash or power loss: sessions (users log in again), pending logins
	// and replay-cache entries. A lost replay entry lets the assertion it recorded be
	// replayed within what is left of its lifetime (NotOnOrAfter, minutes), if the attacker
	// holds it and the host lost power in between. Commits then cost no fsync; only the
	// checkpoints (every 1000 pages of log) do.
	SyncNormal Sync = "NORMAL"
)

// Store is a session.Store in a SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time

	// wal makes commits durable when the store is at FULL (nil otherwise): the connections
	// then run at synchronous=NORMAL and the syncer fsyncs the WAL after each durable commit,
	// outside the write lock (walsync.go). The writes of pending logins (PutPending,
	// TakePending, TakePendingAndClaim with the artifact's claim it makes) and TouchSession do
	// not wait for it: they guard nothing a power loss could reopen. Losing a PutPending fails
	// that one login (the user starts again). Losing a take brings the record back until it
	// expires, but the assertion that answered it stays in the replay cache, fsynced with its
	// session. Losing an artifact's claim lets the artifact be presented again: the IdP
	// answers an artifact once (SAML bindings 3.6.4), and were it to answer again, the
	// assertion's claim, fsynced, refuses what it resolves to. Such a commit survives SIGKILL
	// like any other (the OS holds the log), and the next fsync makes it durable too, since
	// every commit appends to the one WAL: once a login has its session, every write it made
	// is on stable storage. A login makes three writes and waits for one fsync.
	wal *walSync

	// writeMu serializes this process's writes. SQLite admits one writer per file; without
	// the mutex, concurrent writers of one process meet on SQLite's lock and all but one
	// sleep in its busy handler (1, 2, 5, 10 ms …), long after the lock is free. Another
	// process sharing the file still waits through busy_timeout.
	writeMu sync.Mutex
	// directMu is held shared by each write outside the committer's groups (direct), its
	// sync included, and exclusively by Close before it closes the handles.
	directMu sync.RWMutex
	stmts    statements
	// w: the committer's statements, on its connection (committer.conn); only the committer
	// runs them.
	w writeStatements
	// commit groups the writes of logins and requests into shared transactions (group.go).
	commit    *committer
	closeOnce sync.Once
	closeErr  error
}

// statements are the statements of every login and every request, prepared once: parsing
// and planning them cost more than running them. The reads are prepared on the pool:
// *sql.Stmt prepares each on a pooled connection the first time it runs there and keeps it.
type statements struct {
	getSession *sql.Stmt
}

// writeStatements are the committer's, prepared on its own connection (committer.conn): its
// transaction's BEGIN, COMMIT and ROLLBACK as well. database/sql's Tx would prepare BEGIN and
// COMMIT again for each transaction (the driver does not keep them) and take a pooled
// connection each time; with one writer there is nothing to choose.
type writeStatements struct {
	begin, commit, rollback                    *sql.Stmt
	createSession, touchSession, deleteSession *sql.Stmt
	deleteByIndex                              *sql.Stmt
	putPending, takePending, claim             *sql.Stmt
	insertAudit, trimAudit                     *sql.Stmt
	all                                        []*sql.Stmt // those prepared, for close
}

// prepare prepares the statements of the pool.
func (s *Store) prepare(ctx context.Context) error {
	return prepareAll(ctx, s.db.PrepareContext, nil, []preparing{
		{&s.stmts.getSession, `
			SELECT identity, name_id, name_id_format, profile, created_at, last_seen, expires_at
			FROM sessions WHERE id_hash = ? AND expires_at > ?`},
	})
}

// close finalizes the statements prepared (the committer, as it ends or drops its connection):
// SQLite keeps a connection open while a statement of it is not finalized.
func (w *writeStatements) close() {
	for _, st := range w.all {
		st.Close()
	}
	w.all = nil
}

// prepareWrites prepares the committer's statements on conn.
func prepareWrites(ctx context.Context, conn *sql.Conn, w *writeStatements) error {
	return prepareAll(ctx, conn.PrepareContext, &w.all, []preparing{
		// IMMEDIATE: the write lock at BEGIN, as _txlock=immediate gives the pool's.
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
		{&w.createSession, `
			INSERT INTO sessions (id_hash, identity, idp, name_id, name_id_format, session_index,
			                      profile, created_at, last_seen, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.touchSession, `
			UPDATE sessions SET last_seen = max(last_seen, ?)
			WHERE id_hash = ? AND expires_at > ?`},
		{&w.deleteSession, `DELETE FROM sessions WHERE id_hash = ?`},
		{&w.deleteByIndex, `
			DELETE FROM sessions
			WHERE idp = ? AND name_id = ? AND (? = '' OR session_index = ?)`},
		{&w.putPending, `
			INSERT INTO pending_logins (key_hash, request_id, idp, profile, return_to, browser_binding,
			                            locale, min_level, force_authn, purpose, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.takePending, `
			DELETE FROM pending_logins WHERE key_hash = ?
			RETURNING request_id, idp, profile, return_to, browser_binding, locale, min_level,
			          force_authn, purpose, created_at, expires_at`},
		{&w.claim, `
			INSERT INTO replay_cache (key_hash, expires_at) VALUES (?, ?)
			ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at
			WHERE replay_cache.expires_at <= ?`},
		{&w.insertAudit, `INSERT INTO audit_events (time, event) VALUES (?, ?)`},
		// The subquery names the oldest id to keep; with fewer rows than that it is NULL and
		// the comparison deletes nothing.
		{&w.trimAudit, `
			DELETE FROM audit_events
			WHERE id < (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1 OFFSET ?)`},
	})
}

type preparing struct {
	dst **sql.Stmt
	sql string
}

// prepareAll prepares each of list with prep, appending each statement to all when all is not
// nil.
func prepareAll(ctx context.Context, prep func(context.Context, string) (*sql.Stmt, error), all *[]*sql.Stmt, list []preparing) error {
	for _, p := range list {
		st, err := prep(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("session/sqlite: prepare: %w", err)
		}
		if all != nil {
			*all = append(*all, st)
		}
		*p.dst = st
	}
	return nil
}

// exec runs a write statement through the committer (group.go) and returns its result once it
// is committed (and, unless relaxed, durable).
func (s *Store) exec(ctx context.Context, relaxed bool, st *sql.Stmt, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.write(ctx, relaxed, func(ctx context.Context) (err error) {
		res, err = st.ExecContext(ctx, args...)
		return err
	})
	return res, err
}

// statementContext is the context one statement of a login or a request runs under: a ctx
// that has already ended fails it before anything is done, a live one is not watched further.
// Such a statement takes microseconds (at most busy_timeout, when another process holds the
// write lock), and the driver watches a context that can end with a goroutine, a channel and a
// progress handler per statement: about a tenth of the store's CPU in a login. Running it to its
// end also means a client that goes away mid-login never leaves half a step behind.
func statementContext(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// maxOpenConns bounds the pool: SQLite admits one writer at a time, so more connections only
// help concurrent readers, and each one costs memory and file descriptors.
const maxOpenConns = 8

// Open opens (creating if needed) the database at path and brings its schema up to date. A
// missing parent directory is created with mode 0700 and a new database file with mode 0600;
// SQLite gives its -wal and -shm files the mode of the database file.
func Open(path string, opt Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("session/sqlite: empty database path")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 5 * time.Second
	}
	switch opt.Synchronous {
	case "":
		opt.Synchronous = SyncFull
	case SyncFull, SyncNormal:
	default:
		return nil, fmt.Errorf("session/sqlite: synchronous %q is neither %s nor %s", opt.Synchronous, SyncFull, SyncNormal)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("session/sqlite: create directory: %w", err)
	}
	// Create the file ourselves so that it gets 0600 whatever the umask; SQLite would use 0644.
	// Only when it does not exist: closing a descriptor of a file drops every fcntl lock this
	// process holds on it, and another Store of this process may have it open.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("session/sqlite: create database file: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("session/sqlite: create database file: %w", err)
	}

	// At FULL the connections run at NORMAL and the store fsyncs the WAL itself (Store.wal).
	db, err := sql.Open("sqlite", dsn(abs, opt.BusyTimeout))
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	// Keep every connection: database/sql keeps only 2 idle by default, so under load it
	// would close and reopen connections (pragmas, WAL index mapping, statements) all the time.
	db.SetMaxIdleConns(maxOpenConns)
	s := &Store{db: db, now: opt.Now}
	if opt.Synchronous == SyncFull {
		// SQLite keeps its log beside the file a symbolic link points to, not beside the link.
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("session/sqlite: %w", err)
		}
		s.wal = newWALSync(real)
	}
	if err := s.migrate(context.Background()); err != nil {
		s.closeHandles()
		return nil, err
	}
	if s.wal != nil {
		// The log must be where the syncer looks: a sync that finds none would answer every
		// durable write without making it durable.
		if err := s.wal.requireFile(); err != nil {
			s.closeHandles()
			return nil, fmt.Errorf("session/sqlite: %w", err)
		}
	}
	if err := s.durable(); err != nil {
		s.closeHandles()
		return nil, fmt.Errorf("session/sqlite: migrate: %w", err)
	}
	if err := s.prepare(context.Background()); err != nil {
		s.closeHandles()
		return nil, err
	}
	if err := s.startCommitter(context.Background(), opt.CommitDelay); err != nil {
		s.closeHandles()
		return nil, err
	}
	return s, nil
}

// dsn builds the connection string. Every pooled connection runs these settings when it opens:
//
//   - journal_mode=WAL: readers do not block the writer, and a commit appends to the log
//     instead of rewriting pages in place.
//   - synchronous=NORMAL: a commit survives SIGKILL of the process (the OS holds the written
//     log), but could be lost to power loss or a kernel crash; a forgotten replay-cache entry
//     reopens a replay window. So at SyncFull, the default, the store fsyncs the WAL after
//     each durable write before it returns (Store.wal, walsync.go), which is what SQLite's own
//     FULL would do inside the commit: by default written means durable, not only "survives
//     the process". The price is an fsync per durable write, shared by the writes committed
//     while the last one ran, which bounds the login rate on a slow disk (docs/BENCHMARKS.md,
//     benchmark 1).
//   - busy_timeout: waits for the single write lock instead of failing with SQLITE_BUSY.
//   - _txlock=immediate: transactions take the write lock at BEGIN, so two read-then-write
//     transactions cannot deadlock on upgrading.
func dsn(path string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// A file: URI, with the path escaped so that '?' or '#' in it cannot start the query.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close closes the database (and with it the prepared statements). Committed data is
// already on disk.
//
// The group being committed finishes; writes still queued behind it, and later ones, fail
// with an error and change nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.commit.quit)
		<-s.commit.done
		s.directMu.Lock() // the direct writes in flight finish, their sync included
		defer s.directMu.Unlock()
		s.closeErr = s.closeHandles()
	})
	return s.closeErr
}

func (s *Store) closeHandles() error {
	var err error
	if s.wal != nil {
		err = s.wal.close()
	}
	return errors.Join(s.db.Close(), err)
}

// Ping checks that the database answers and, at FULL, that no sync of the WAL has failed.
func (s *Store) Ping(ctx context.Context) error {
	if s.wal != nil {
		if err := s.wal.broken(); err != nil {
			return fmt.Errorf("session/sqlite: ping: %w", err)
		}
	}
	if err := s.commit.brokenErr(); err != nil {
		return fmt.Errorf("session/sqlite: ping: %w", err)
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("session/sqlite: ping: %w", err)
	}
	return nil
}

// CreateSession stores a new session under the SHA-256 of its ID.
func (s *Store) CreateSession(ctx context.Context, sess *session.Session) error {
	args, err := s.sessionArgs(sess)
	if err != nil {
		return fmt.Errorf("session/sqlite: create session: %w", err)
	}
	if _, err = s.exec(ctx, false, s.w.createSession, args...); err != nil {
		return fmt.Errorf("session/sqlite: create session: %w", err)
	}
	return nil
}

// sessionArgs is the arguments of the createSession statement for sess.
func (s *Store) sessionArgs(sess *session.Session) ([]any, error) {
	if err := sess.Prepare(s.now()); err != nil {
		return nil, err
	}
	// NameID and NameIDFormat are json:"-" in identity.Identity; they travel in their own columns.
	ident, err := json.Marshal(sess.Identity)
	if err != nil {
		return nil, err
	}
	return []any{session.HashKey(sess.ID), string(ident), sess.Identity.IdP, sess.Identity.NameID,
		sess.Identity.NameIDFormat, sess.Identity.SessionIndex, sess.Profile,
		unixNano(sess.CreatedAt), unixNano(sess.LastSeen), unixNano(sess.ExpiresAt)}, nil
}

// ClaimAndCreateSession makes the claim and the session in one transaction: one commit, one
// fsync, for the last step of a login.
func (s *Store) ClaimAndCreateSession(ctx context.Context, key string, until time.Time, sess *session.Session) error {
	if key == "" {
		return errors.New("session/sqlite: claim and create session: empty key")
	}
	args, err := s.sessionArgs(sess)
	if err != nil {
		return fmt.Errorf("session/sqlite: claim and create session: %w", err)
	}
	claimed := false
	err = s.write(ctx, false, func(ctx context.Context) (err error) {
		// a second run (after a failed group) starts over
		if claimed, err = s.claimIn(ctx, key, until, s.now()); err != nil || !claimed {
			return err // lost the claim: nothing written, the session is not made
		}
		_, err = s.w.createSession.ExecContext(ctx, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("session/sqlite: claim and create session: %w", err)
	}
	if !claimed {
		return session.ErrReplay
	}
	return nil
}

// GetSession returns a live session.
func (s *Store) GetSession(ctx context.Context, id string) (*session.Session, error) {
	var (
		ident                         []byte // for json.Unmarshal without a copy from string
		nameID, nameIDFormat, profile string
		created, lastSeen, expires    int64
	)
	ctx, err := statementContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: get session: %w", err)
	}
	err = s.stmts.getSession.QueryRowContext(ctx, session.HashKey(id), unixNano(s.now())).
		Scan(&ident, &nameID, &nameIDFormat, &profile, &created, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: get session: %w", err)
	}
	sess := &session.Session{
		ID:        id,
		Profile:   profile,
		CreatedAt: fromUnixNano(created),
		LastSeen:  fromUnixNano(lastSeen),
		ExpiresAt: fromUnixNano(expires),
	}
	if err := json.Unmarshal(ident, &sess.Identity); err != nil {
		return nil, fmt.Errorf("session/sqlite: get session: decode identity: %w", err)
	}
	sess.Identity.NameID = nameID
	sess.Identity.NameIDFormat = nameIDFormat
	return sess, nil
}

// TouchSession moves LastSeen forward to lastSeen. It is a relaxed write (Store.wal): a touch
// lost to a power cut makes the session look idle since its previous touch, so it ends sooner,
// never later.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	res, err := s.exec(ctx, true, s.w.touchSession, unixNano(lastSeen), session.HashKey(id), unixNano(s.now()))
	if err != nil {
		return fmt.Errorf("session/sqlite: touch session: %w", err)
	}
	return oneRow(res, "touch session")
}

// DeleteSession removes a session if it exists.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, false, s.w.deleteSession, session.HashKey(id)); err != nil {
		return fmt.Errorf("session/sqlite: delete session: %w", err)
	}
	return nil
}

// DeleteSessionsBySessionIndex removes the sessions an IdP's LogoutRequest names.
func (s *Store) DeleteSessionsBySessionIndex(ctx context.Context, idp, nameID, sessionIndex string) (int, error) {
	if idp == "" || nameID == "" {
		return 0, errors.New("session/sqlite: delete by session index: empty IdP or NameID")
	}
	res, err := s.exec(ctx, false, s.w.deleteByIndex, idp, nameID, sessionIndex, sessionIndex)
	if err != nil {
		return 0, fmt.Errorf("session/sqlite: delete by session index: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("session/sqlite: delete by session index: %w", err)
	}
	return int(n), nil
}

// PutPending stores a pending login under the SHA-256 of its key.
func (s *Store) PutPending(ctx context.Context, p *session.PendingLogin) error {
	if err := p.Prepare(s.now()); err != nil {
		return fmt.Errorf("session/sqlite: put pending: %w", err)
	}
	_, err := s.exec(ctx, true, s.w.putPending, session.HashKey(p.Key), p.RequestID, p.IdP, p.Profile, p.ReturnTo, p.BrowserBinding,
		p.Locale, p.MinLevel, p.ForceAuthn, p.Purpose, unixNano(p.CreatedAt), unixNano(p.ExpiresAt))
	if err != nil {
		return fmt.Errorf("session/sqlite: put pending: %w", err)
	}
	return nil
}

// TakePending deletes and returns a pending login. The DELETE ... RETURNING makes the removal
// and the read one step, so only one caller can get the row. It goes through the committer
// (group.go): the row is returned only once the delete is committed, and the rows are read to
// their end so that a failure of the statement is reported, never a login handed out.
func (s *Store) TakePending(ctx context.Context, key string) (*session.PendingLogin, error) {
	var p *session.PendingLogin
	err := s.write(ctx, true, func(ctx context.Context) (err error) {
		p, err = s.takePending(ctx, key) // a second run (after a failed group) starts over
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: take pending: %w", err)
	}
	if p == nil || !s.now().Before(p.ExpiresAt) {
		return nil, session.ErrNotFound
	}
	return p, nil
}

// TakePendingAndClaim is TakePending and, when it finds a live pending login, the claim, in
// one transaction: a relaxed write (see Store.wal), and one commit instead of two.
func (s *Store) TakePendingAndClaim(ctx context.Context, key, claimKey string, until time.Time) (*session.PendingLogin, error) {
	if claimKey == "" {
		return nil, errors.New("session/sqlite: take pending and claim: empty claim key")
	}
	var (
		p         *session.PendingLogin
		live, won bool
	)
	err := s.write(ctx, true, func(ctx context.Context) error {
		live, won = false, false // a second run (after a failed group) starts over
		var err error
		if p, err = s.takePending(ctx, key); err != nil || p == nil {
			return err
		}
		now := s.now()
		if live = now.Before(p.ExpiresAt); !live {
			return nil // deleted, and nothing claimed
		}
		won, err = s.claimIn(ctx, claimKey, until, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: take pending and claim: %w", err)
	}
	if !live {
		return nil, session.ErrNotFound
	}
	if !won {
		return p, session.ErrReplay
	}
	return p, nil
}

// takePending runs the DELETE ... RETURNING (committer only): the row, or nil.
func (s *Store) takePending(ctx context.Context, key string) (*session.PendingLogin, error) {
	rows, err := s.w.takePending.QueryContext(ctx, session.HashKey(key))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var p *session.PendingLogin
	for rows.Next() {
		var created, expires int64
		got := &session.PendingLogin{Key: key}
		if err := rows.Scan(&got.RequestID, &got.IdP, &got.Profile, &got.ReturnTo, &got.BrowserBinding, &got.Locale,
			&got.MinLevel, &got.ForceAuthn, &got.Purpose, &created, &expires); err != nil {
			return nil, err
		}
		got.CreatedAt = fromUnixNano(created)
		got.ExpiresAt = fromUnixNano(expires)
		p = got
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return p, rows.Close()
}

// Claim records key in the replay cache. The upsert replaces an existing entry only if it has
// expired; when the entry is live the WHERE fails, no row changes, and the caller lost.
func (s *Store) Claim(ctx context.Context, key string, until time.Time) error {
	if key == "" {
		return errors.New("session/sqlite: claim: empty key")
	}
	var won bool
	err := s.write(ctx, false, func(ctx context.Context) (err error) {
		won, err = s.claimIn(ctx, key, until, s.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("session/sqlite: claim: %w", err)
	}
	if !won {
		return session.ErrReplay
	}
	return nil
}

// claimIn runs the claim's upsert (committer only) and reports whether it won.
func (s *Store) claimIn(ctx context.Context, key string, until, now time.Time) (bool, error) {
	res, err := s.w.claim.ExecContext(ctx, session.HashKey(key), unixNano(until), unixNano(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Sweep deletes every expired record, in steps of one transaction each: the sessions, found by
// their expiry index, in one; pending logins and claims, which have no expiry index (schema
// version 5), by reading each table whole in sweepRanges ranges of its keys. The logins' writes
// wait for a step, not for the whole sweep, and one fsync ends it.
func (s *Store) Sweep(ctx context.Context) (err error) {
	if err := s.directSteps(s.sweepSteps(ctx, unixNano(s.now()))...); err != nil {
		return fmt.Errorf("session/sqlite: sweep: %w", err)
	}
	return nil
}

// sweepSteps are Sweep's transactions: its deletes of the records expired at now.
func (s *Store) sweepSteps(ctx context.Context, now int64) []func(*sql.Conn) error {
	steps := []func(*sql.Conn) error{func(conn *sql.Conn) error {
		return sweepDelete(ctx, conn, "sessions", `DELETE FROM sessions WHERE expires_at <= ?`, now)
	}}
	for _, table := range []string{"pending_logins", "replay_cache"} {
		for _, q := range sweepRanges(table) {
			name := fmt.Sprintf("%s, keys %s", table, q.keys)
			steps = append(steps, func(conn *sql.Conn) error { return sweepDelete(ctx, conn, name, q.sql, append(q.args, now)...) })
		}
	}
	return steps
}

func sweepDelete(ctx context.Context, conn *sql.Conn, table, query string, args ...any) error {
	if _, err := conn.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	return nil
}

type sweepQuery struct {
	sql  string
	args []any
	keys string // the range, for errors: "< 1", "[1, 2)", ">= f"
}

// sweepRanges are the DELETEs of a sweep of table, one per first hex digit of key_hash (keys
// are lowercase hex, session.HashKey). The first range is open below and the last above, so
// that together they cover every string, hex or not.
func sweepRanges(table string) []sweepQuery {
	const bounds = "123456789abcdef" // where one range ends and the next begins
	qs := make([]sweepQuery, 0, len(bounds)+1)
	for i := range len(bounds) + 1 {
		var q sweepQuery
		var conds []string
		switch {
		case i == 0:
			conds, q.args, q.keys = []string{`key_hash < ?`}, []any{bounds[:1]}, "< "+bounds[:1]
		case i == len(bounds):
			conds, q.args, q.keys = []string{`key_hash >= ?`}, []any{bounds[i-1:]}, ">= "+bounds[i-1:]
		default:
			lo, hi := bounds[i-1:i], bounds[i:i+1]
			conds, q.args, q.keys = []string{`key_hash >= ?`, `key_hash < ?`}, []any{lo, hi}, "["+lo+", "+hi+")"
		}
		q.sql = `DELETE FROM ` + table + ` WHERE ` + strings.Join(append(conds, `expires_at <= ?`), ` AND `)
		qs = append(qs, q)
	}
	return qs
}

func oneRow(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("session/sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return session.ErrNotFound
	}
	return nil
}

// Times are stored as Unix nanoseconds, which compare as integers in SQL and keep full
// precision. UnixNano is undefined outside 1678..2262, so the zero time is stored as 0 and
// other times are clamped to that range ("never expires" stays far in the future).
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return minTime.UnixNano()
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
