package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/conformance"
)

// The records testdata/gen-v2.sh wrote into testdata/v2.db, at conformance.Start.
const (
	v2SessionID   = "v2-fixture-session"
	v2RelayState  = "v2-fixture-relay"
	v2AssertionID = "v2-fixture-assertion"
)

// copyV2 copies testdata/v2.db to a temporary file and returns its path.
func copyV2(t *testing.T) string {
	t.Helper()
	v2, err := os.ReadFile(filepath.Join("testdata", "v2.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "eidsp.db")
	if err := os.WriteFile(path, v2, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A database written at schema version 2, by the code of that time, opens with today's code:
// it is migrated to the current version, what it held is still there, and the tables of the
// later versions work.
func TestMigrateFromV2(t *testing.T) {
	path := copyV2(t)
	if v := schemaVersionOf(t, path); v != 2 {
		t.Fatalf("fixture at schema version %d, want 2; rerun testdata/gen-v2.sh", v)
	}

	clk := conformance.NewClock(conformance.Start)
	s := openTemp(t, path, clk.Now)
	defer s.Close()
	if v := schemaVersionOf(t, path); v != schemaVersion {
		t.Fatalf("schema version %d after Open, want %d", v, schemaVersion)
	}
	ctx := context.Background()

	sess, err := s.GetSession(ctx, v2SessionID)
	if err != nil {
		t.Fatalf("GetSession of the v2 session: %v", err)
	}
	if sess.Identity.NameID != "v2-nameid" || sess.Identity.SessionIndex != "v2-index" || sess.Identity.NationalID != "12345678901" {
		t.Errorf("v2 session identity = %+v", sess.Identity)
	}
	if p, err := s.TakePending(ctx, v2RelayState); err != nil || p.RequestID != "_v2-request" || p.Purpose != session.PurposeLogout {
		t.Errorf("TakePending of the v2 pending logout = %+v, %v", p, err)
	}
	if err := s.Claim(ctx, v2AssertionID, clk.Now().Add(time.Hour)); !errors.Is(err, session.ErrReplay) {
		t.Errorf("Claim of the v2 claim: err = %v, want ErrReplay", err)
	}

	d := &session.Document{Key: "idp-metadata/idporten", Value: []byte("<EntityDescriptor/>"), UpdatedBy: "command"}
	if err := s.PutDocument(ctx, d); err != nil {
		t.Fatalf("PutDocument after migration: %v", err)
	}
	if got, err := s.GetDocument(ctx, d.Key); err != nil || !bytes.Equal(got.Value, d.Value) {
		t.Errorf("GetDocument after migration = %+v, %v", got, err)
	}
	if err := s.AppendAudit(ctx, &session.AuditEvent{Event: "admin", Result: "ok", Ref: "after-migration"}); err != nil {
		t.Fatalf("AppendAudit after migration: %v", err)
	}
	if events, err := s.RecentAudit(ctx, 10); err != nil || len(events) != 1 || events[0].Ref != "after-migration" {
		t.Errorf("RecentAudit after migration = %+v, %v", events, err)
	}

	// Version 4 rebuilt the two tables without a rowid, and their automatic indexes are gone.
	db := rawDB(t, path)
	for _, table := range []string{"pending_logins", "replay_cache"} {
		var sql string
		if err := db.QueryRow(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&sql); err != nil {
			t.Fatalf("schema of %s: %v", table, err)
		}
		if !strings.HasSuffix(sql, "WITHOUT ROWID") {
			t.Errorf("%s after migration is not WITHOUT ROWID: %s", table, sql)
		}
		var autoIndexes int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = ?`, "sqlite_autoindex_"+table+"_1").Scan(&autoIndexes); err != nil || autoIndexes != 0 {
			t.Errorf("%s keeps its automatic index after migration (%d, %v)", table, autoIndexes, err)
		}
	}

	// Version 5 dropped their expiry indexes; the sessions keep theirs.
	for _, index := range []string{"pending_logins_expires", "replay_cache_expires", "sessions_expires"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, index).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := index == "sessions_expires"; (n == 1) != want {
			t.Errorf("index %s after migration: %d, want it present: %v", index, n, want)
		}
	}

	// The migrated schema is the one a new database gets.
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	openTemp(t, fresh, nil).Close()
	if got, want := schemaOf(t, path), schemaOf(t, fresh); got != want {
		t.Errorf("schema migrated from v2:\n%s\nschema of a new database:\n%s", got, want)
	}
}

func schemaVersionOf(t *testing.T, path string) int {
	t.Helper()
	var v int
	if err := rawDB(t, path).QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// schemaOf lists the tables and indexes of a database as SQLite records them.
func schemaOf(t *testing.T, path string) string {
	t.Helper()
	rows, err := rawDB(t, path).Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b bytes.Buffer
	for rows.Next() {
		var typ, name, sql string
		if err := rows.Scan(&typ, &name, &sql); err != nil {
			t.Fatal(err)
		}
		b.WriteString(typ + " " + name + ": " + sql + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Version 4 copies pending_logins and replay_cache into their WITHOUT ROWID tables column for
// column: rows whose every column differs from the others read back the same after the
// migration (the fixture's own rows leave several columns empty, where a swap would not show).
func TestMigrateToV4CopiesRows(t *testing.T) {
	path := copyV2(t)
	const (
		pending = `SELECT key_hash, request_id, idp, profile, return_to, browser_binding, locale,
			min_level, force_authn, created_at, expires_at, purpose FROM pending_logins ORDER BY key_hash`
		replay = `SELECT key_hash, expires_at FROM replay_cache ORDER BY key_hash`
	)
	db := rawDB(t, path)
	for _, q := range []string{
		`INSERT INTO pending_logins (key_hash, request_id, idp, profile, return_to, browser_binding,
			locale, min_level, force_authn, created_at, expires_at, purpose)
		VALUES ('k-a', 'r-a', 'i-a', 'p-a', '/t-a', 'b-a', 'l-a', 3, 1, 11, 22, 'u-a'),
		       ('k-b', 'r-b', 'i-b', 'p-b', '/t-b', 'b-b', 'l-b', 4, 0, 33, 44, '')`,
		`INSERT INTO replay_cache (key_hash, expires_at) VALUES ('c-a', 55), ('c-b', 66)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	before := [2]string{dump(t, db, pending), dump(t, db, replay)}
	db.Close()

	openTemp(t, path, nil).Close()
	db = rawDB(t, path)
	after := [2]string{dump(t, db, pending), dump(t, db, replay)}
	if before != after {
		t.Errorf("rows changed by the migration:\nbefore %q\nafter  %q", before, after)
	}
	if !strings.Contains(before[0], "k-a|r-a|i-a|p-a|/t-a|b-a|l-a|3|1|11|22|u-a") || !strings.Contains(before[1], "c-b|66") {
		t.Fatalf("the rows this test wrote are not in its dump: %q", before)
	}
}

// dump is every row of q, each column's text joined by '|', one row a line.
func dump(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('|')
			}
			b.WriteString(v.String)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
