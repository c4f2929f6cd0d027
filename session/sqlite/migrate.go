package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] brings the schema from version i to version i+1. Append new versions; never
// edit a released one, since databases in the field have already run it.
//
// Keys are the hex SHA-256 of the session ID, RelayState or claim key (session.HashKey);
// document keys, names the program chooses, are stored as they are. Times are Unix
// nanoseconds. The identity travels as JSON, except NameID and NameIDFormat, which
// identity.Identity keeps out of JSON; they have their own columns, as do idp and
// session_index, which IdP-initiated logout searches by. An audit event is its JSON, with its
// time in a column of its own to sort by.
var migrations = [][]string{
	{ // version 1
		`CREATE TABLE sessions (
			id_hash        TEXT    PRIMARY KEY,
			identity       TEXT    NOT NULL,
			idp            TEXT    NOT NULL,
			name_id        TEXT    NOT NULL,
			name_id_format TEXT    NOT NULL,
			session_index  TEXT    NOT NULL,
			profile        TEXT    NOT NULL,
			created_at     INTEGER NOT NULL,
			last_seen      INTEGER NOT NULL,
			expires_at     INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX sessions_logout ON sessions (idp, name_id, session_index)`,
		`CREATE INDEX sessions_expires ON sessions (expires_at)`,
		`CREATE TABLE pending_logins (
			key_hash        TEXT    PRIMARY KEY,
			request_id      TEXT    NOT NULL,
			idp             TEXT    NOT NULL,
			profile         TEXT    NOT NULL,
			return_to       TEXT    NOT NULL,
			browser_binding TEXT    NOT NULL,
			locale          TEXT    NOT NULL,
			min_level       INTEGER NOT NULL,
			force_authn     INTEGER NOT NULL,
			created_at      INTEGER NOT NULL,
			expires_at      INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX pending_logins_expires ON pending_logins (expires_at)`,
		`CREATE TABLE replay_cache (
			key_hash   TEXT    PRIMARY KEY,
			expires_at INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX replay_cache_expires ON replay_cache (expires_at)`,
	},
	{ // version 2: pending records also serve SP-initiated logout
		`ALTER TABLE pending_logins ADD COLUMN purpose TEXT NOT NULL DEFAULT ''`,
	},
	{ // version 3: shared documents and the audit trail
		`CREATE TABLE documents (
			key        TEXT    PRIMARY KEY,
			value      BLOB    NOT NULL,
			updated_at INTEGER NOT NULL,
			updated_by TEXT    NOT NULL
		) STRICT`,
		// AUTOINCREMENT: ids never go back, even after the oldest rows are trimmed, so id
		// order is insertion order.
		`CREATE TABLE audit_events (
			id    INTEGER PRIMARY KEY AUTOINCREMENT,
			time  INTEGER NOT NULL,
			event TEXT    NOT NULL
		) STRICT`,
		`CREATE INDEX audit_events_time ON audit_events (time)`,
	},
	{ // version 4: pending logins and the replay cache keyed by their hash alone
		// WITHOUT ROWID: the row lives in its primary key's b-tree, so a write changes that and
		// the expiry index instead of a rowid table, an automatic index on key_hash and the
		// expiry index. Each write of a login to these tables changes one b-tree fewer (pages
		// counted by reasoning, not measured); the store's CPU per login fell 8 % with two
		// writers (docs/BENCHMARKS.md, benchmark 1, item 16). Both tables' rows are small,
		// which is where WITHOUT ROWID pays.
		`CREATE TABLE pending_logins_v4 (
			key_hash        TEXT    PRIMARY KEY,
			request_id      TEXT    NOT NULL,
			idp             TEXT    NOT NULL,
			profile         TEXT    NOT NULL,
			return_to       TEXT    NOT NULL,
			browser_binding TEXT    NOT NULL,
			locale          TEXT    NOT NULL,
			min_level       INTEGER NOT NULL,
			force_authn     INTEGER NOT NULL,
			created_at      INTEGER NOT NULL,
			expires_at      INTEGER NOT NULL,
			purpose         TEXT    NOT NULL DEFAULT ''
		) STRICT, WITHOUT ROWID`,
		`INSERT INTO pending_logins_v4 (key_hash, request_id, idp, profile, return_to, browser_binding,
			locale, min_level, force_authn, created_at, expires_at, purpose)
		SELECT key_hash, request_id, idp, profile, return_to, browser_binding,
			locale, min_level, force_authn, created_at, expires_at, purpose FROM pending_logins`,
		`DROP TABLE pending_logins`,
		`ALTER TABLE pending_logins_v4 RENAME TO pending_logins`,
		`CREATE INDEX pending_logins_expires ON pending_logins (expires_at)`,
		`CREATE TABLE replay_cache_v4 (
			key_hash   TEXT    PRIMARY KEY,
			expires_at INTEGER NOT NULL
		) STRICT, WITHOUT ROWID`,
		`INSERT INTO replay_cache_v4 (key_hash, expires_at) SELECT key_hash, expires_at FROM replay_cache`,
		`DROP TABLE replay_cache`,
		`ALTER TABLE replay_cache_v4 RENAME TO replay_cache`,
		`CREATE INDEX replay_cache_expires ON replay_cache (expires_at)`,
	},
	{ // version 5: no expiry index on pending logins and the replay cache
		// A login writes these tables four times (a pending login put and taken, two claims)
		// and only the sweep, once a minute, asks for their rows by expiry. Each write changed
		// the expiry index's b-tree as well as the table's. Without it, BenchmarkLoginWrites
		// spends about a tenth less CPU per login (docs/BENCHMARKS.md, benchmark 1, item 18),
		// and a sweep costs less too, since its deletes no longer change the index
		// (BenchmarkSweep). The sweep reads the tables instead, in ranges of keys (Store.Sweep).
		`DROP INDEX pending_logins_expires`,
		`DROP INDEX replay_cache_expires`,
	},
}

// schemaVersion is the version this code reads and writes.
var schemaVersion = len(migrations)

// migrate applies the missing migrations in one write transaction, so that two processes
// opening the same new file cannot both apply version 1. A database newer than this code is
// refused rather than used with a schema we do not know.
func (s *Store) migrate(ctx context.Context) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("session/sqlite: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("session/sqlite: migrate: %w", err)
	}
	var current int
	if err = tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("session/sqlite: migrate: read version: %w", err)
	}
	if current > schemaVersion {
		return fmt.Errorf("session/sqlite: database schema version %d is newer than this program's %d", current, schemaVersion)
	}
	for v := current; v < schemaVersion; v++ {
		if err = applyMigration(ctx, tx, v+1, migrations[v]); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			v+1, unixNano(s.now())); err != nil {
			return fmt.Errorf("session/sqlite: migrate to version %d: %w", v+1, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("session/sqlite: migrate: %w", err)
	}
	return nil
}

func applyMigration(ctx context.Context, tx *sql.Tx, version int, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("session/sqlite: migrate to version %d: %w", version, err)
		}
	}
	return nil
}
