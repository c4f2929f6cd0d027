package sqlite

import (
	"bytes"
	"context"
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

// A database written at schema version 2, by the code of that time, opens with today's code:
// it is migrated to the current version, what it held is still there, and the tables of the
// later versions work.
func TestMigrateFromV2(t *testing.T) {
	v2, err := os.ReadFile(filepath.Join("testdata", "v2.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "eidsp.db")
	if err := os.WriteFile(path, v2, 0o600); err != nil {
		t.Fatal(err)
	}
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
	for _, table := range []string{"pending_logins", "replay_cache"} {
		var sql string
		if err := rawDB(t, path).QueryRow(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&sql); err != nil {
			t.Fatalf("schema of %s: %v", table, err)
		}
		if !strings.HasSuffix(sql, "WITHOUT ROWID") {
			t.Errorf("%s after migration is not WITHOUT ROWID: %s", table, sql)
		}
		var autoIndexes int
		if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = ?`, "sqlite_autoindex_"+table+"_1").Scan(&autoIndexes); err != nil || autoIndexes != 0 {
			t.Errorf("%s keeps its automatic index after migration (%d, %v)", table, autoIndexes, err)
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
