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
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
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
}

// Store is a session.Store in a SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
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
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("session/sqlite: create directory: %w", err)
	}
	// Create the file ourselves so that it gets 0600 whatever the umask; SQLite would use 0644.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("session/sqlite: create database file: %w", err)
	}

	db, err := sql.Open("sqlite", dsn(abs, opt.BusyTimeout))
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	s := &Store{db: db, now: opt.Now}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds the connection string. Every pooled connection runs these settings when it opens:
//
//   - journal_mode=WAL: readers do not block the writer, and a commit appends to the log
//     instead of rewriting pages in place.
//   - synchronous=FULL: every commit fsyncs the WAL before it returns. NORMAL would already
//     survive SIGKILL of the process (the OS holds the written log), but could lose the last
//     commits on power loss or a kernel crash; a forgotten replay-cache entry reopens a replay
//     window, and our write rate (a few rows per login) makes the fsync cheap. So committed
//     means durable, not only "survives the process".
//   - busy_timeout: waits for the single write lock instead of failing with SQLITE_BUSY.
//   - _txlock=immediate: transactions take the write lock at BEGIN, so two read-then-write
//     transactions cannot deadlock on upgrading.
func dsn(path string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	// A file: URI, with the path escaped so that '?' or '#' in it cannot start the query.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close closes the database. Committed data is already on disk.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("session/sqlite: ping: %w", err)
	}
	return nil
}

// CreateSession stores a new session under the SHA-256 of its ID.
func (s *Store) CreateSession(ctx context.Context, sess *session.Session) error {
	if err := sess.Prepare(s.now()); err != nil {
		return fmt.Errorf("session/sqlite: create session: %w", err)
	}
	// NameID and NameIDFormat are json:"-" in identity.Identity; they travel in their own columns.
	ident, err := json.Marshal(sess.Identity)
	if err != nil {
		return fmt.Errorf("session/sqlite: create session: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO sessions (id_hash, identity, idp, name_id, name_id_format, session_index,
		                      profile, created_at, last_seen, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		session.HashKey(sess.ID), string(ident), sess.Identity.IdP, sess.Identity.NameID,
		sess.Identity.NameIDFormat, sess.Identity.SessionIndex, sess.Profile,
		unixNano(sess.CreatedAt), unixNano(sess.LastSeen), unixNano(sess.ExpiresAt))
	if err != nil {
		return fmt.Errorf("session/sqlite: create session: %w", err)
	}
	return nil
}

// GetSession returns a live session.
func (s *Store) GetSession(ctx context.Context, id string) (*session.Session, error) {
	var (
		ident, nameID, nameIDFormat, profile string
		created, lastSeen, expires           int64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT identity, name_id, name_id_format, profile, created_at, last_seen, expires_at
		FROM sessions WHERE id_hash = ? AND expires_at > ?`,
		session.HashKey(id), unixNano(s.now())).
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
	if err := json.Unmarshal([]byte(ident), &sess.Identity); err != nil {
		return nil, fmt.Errorf("session/sqlite: get session: decode identity: %w", err)
	}
	sess.Identity.NameID = nameID
	sess.Identity.NameIDFormat = nameIDFormat
	return sess, nil
}

// TouchSession moves LastSeen forward to lastSeen.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE sessions SET last_seen = max(last_seen, ?)
		WHERE id_hash = ? AND expires_at > ?`,
		unixNano(lastSeen), session.HashKey(id), unixNano(s.now()))
	if err != nil {
		return fmt.Errorf("session/sqlite: touch session: %w", err)
	}
	return oneRow(res, "touch session")
}

// DeleteSession removes a session if it exists.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, session.HashKey(id)); err != nil {
		return fmt.Errorf("session/sqlite: delete session: %w", err)
	}
	return nil
}

// DeleteSessionsBySessionIndex removes the sessions an IdP's LogoutRequest names.
func (s *Store) DeleteSessionsBySessionIndex(ctx context.Context, idp, nameID, sessionIndex string) (int, error) {
	if idp == "" || nameID == "" {
		return 0, errors.New("session/sqlite: delete by session index: empty IdP or NameID")
	}
	res, err := s.db.ExecContext(ctx, `
		DELETE FROM sessions
		WHERE idp = ? AND name_id = ? AND (? = '' OR session_index = ?)`,
		idp, nameID, sessionIndex, sessionIndex)
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
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO pending_logins (key_hash, request_id, idp, profile, return_to, browser_binding,
		                            locale, min_level, force_authn, purpose, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		session.HashKey(p.Key), p.RequestID, p.IdP, p.Profile, p.ReturnTo, p.BrowserBinding,
		p.Locale, p.MinLevel, p.ForceAuthn, p.Purpose, unixNano(p.CreatedAt), unixNano(p.ExpiresAt))
	if err != nil {
		return fmt.Errorf("session/sqlite: put pending: %w", err)
	}
	return nil
}

// TakePending deletes and returns a pending login. The DELETE ... RETURNING makes the removal
// and the read one step, so only one caller can get the row. It runs in an explicit
// transaction so that a failure to commit the delete is reported, not swallowed by closing the
// result rows.
func (s *Store) TakePending(ctx context.Context, key string) (_ *session.PendingLogin, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: take pending: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	p := &session.PendingLogin{Key: key}
	var created, expires int64
	err = tx.QueryRowContext(ctx, `
		DELETE FROM pending_logins WHERE key_hash = ?
		RETURNING request_id, idp, profile, return_to, browser_binding, locale, min_level,
		          force_authn, purpose, created_at, expires_at`,
		session.HashKey(key)).
		Scan(&p.RequestID, &p.IdP, &p.Profile, &p.ReturnTo, &p.BrowserBinding, &p.Locale,
			&p.MinLevel, &p.ForceAuthn, &p.Purpose, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: take pending: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return nil, fmt.Errorf("session/sqlite: take pending: %w", err)
	}
	p.CreatedAt = fromUnixNano(created)
	p.ExpiresAt = fromUnixNano(expires)
	if !s.now().Before(p.ExpiresAt) {
		return nil, session.ErrNotFound
	}
	return p, nil
}

// Claim records key in the replay cache. The upsert replaces an existing entry only if it has
// expired; when the entry is live the WHERE fails, no row changes, and the caller lost.
func (s *Store) Claim(ctx context.Context, key string, until time.Time) error {
	if key == "" {
		return errors.New("session/sqlite: claim: empty key")
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO replay_cache (key_hash, expires_at) VALUES (?, ?)
		ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at
		WHERE replay_cache.expires_at <= ?`,
		session.HashKey(key), unixNano(until), unixNano(s.now()))
	if err != nil {
		return fmt.Errorf("session/sqlite: claim: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("session/sqlite: claim: %w", err)
	}
	if n == 0 {
		return session.ErrReplay
	}
	return nil
}

// Sweep deletes every expired record, in one transaction.
func (s *Store) Sweep(ctx context.Context) (err error) {
	now := unixNano(s.now())
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("session/sqlite: sweep: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, table := range []string{"sessions", "pending_logins", "replay_cache"} {
		if _, err = tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at <= ?`, now); err != nil {
			return fmt.Errorf("session/sqlite: sweep %s: %w", table, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("session/sqlite: sweep: %w", err)
	}
	return nil
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
