package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eidsp/eidsp/session/conformance"
)

// Sweep reads pending logins and claims in ranges of their keys (sweepRanges): every expired
// row goes, whatever its key, hex or not and on either side of each range's bounds, and every
// row that has not expired stays.
func TestSweepCoversEveryKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidsp.db")
	clk := conformance.NewClock(conformance.Start)
	s := openTemp(t, path, clk.Now)
	defer s.Close()
	db := rawDB(t, path)

	now := clk.Now().UnixNano()
	// For every range's bound, a key just below it, the bound itself and one just above; and
	// keys that are not hex at all.
	keys := []string{"", "g", "zz", "A", "\xff"}
	for _, d := range "0123456789abcdef" {
		keys = append(keys, string(d-1), string(d), string(d)+"\xff")
	}
	slices.Sort(keys)
	keys = slices.Compact(keys) // d-1 is often the digit before
	for _, k := range keys {
		for _, row := range []struct {
			suffix  string
			expires int64
		}{{"-old", now - 1}, {"-now", now}, {"-new", now + int64(time.Hour)}} {
			key := k + row.suffix
			if _, err := db.Exec(`INSERT INTO replay_cache (key_hash, expires_at) VALUES (?, ?)`, key, row.expires); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO pending_logins (key_hash, request_id, idp, profile, return_to, browser_binding,
				locale, min_level, force_authn, created_at, expires_at) VALUES (?, '_r', 'idporten', 'p', '/', 'b', 'nb', 3, 0, 0, ?)`,
				key, row.expires); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	for _, table := range []string{"replay_cache", "pending_logins"} {
		rows, err := db.Query(`SELECT key_hash, expires_at FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for rows.Next() {
			var k string
			var exp int64
			if err := rows.Scan(&k, &exp); err != nil {
				t.Fatal(err)
			}
			if exp <= now {
				t.Errorf("%s: %q (expired) survived the sweep", table, k)
			}
			left = append(left, k)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(left) != len(keys) {
			t.Errorf("%s after the sweep: %d rows, want the %d that have not expired: %q", table, len(left), len(keys), left)
		}
		for _, k := range keys {
			want := k + "-new"
			if !slices.Contains(left, want) {
				t.Errorf("%s: %q (not expired) was swept", table, want)
			}
		}
	}
}

// The ranges cover every string exactly once, and an error names its range.
func TestSweepRanges(t *testing.T) {
	qs := sweepRanges("replay_cache")
	if len(qs) != 16 {
		t.Fatalf("%d ranges, want 16", len(qs))
	}
	if qs[0].sql != `DELETE FROM replay_cache WHERE key_hash < ? AND expires_at <= ?` || !slices.Equal(qs[0].args, []any{"1"}) {
		t.Errorf("first range: %s %v", qs[0].sql, qs[0].args)
	}
	if qs[5].sql != `DELETE FROM replay_cache WHERE key_hash >= ? AND key_hash < ? AND expires_at <= ?` || !slices.Equal(qs[5].args, []any{"5", "6"}) {
		t.Errorf("sixth range: %s %v", qs[5].sql, qs[5].args)
	}
	if qs[15].sql != `DELETE FROM replay_cache WHERE key_hash >= ? AND expires_at <= ?` || !slices.Equal(qs[15].args, []any{"f"}) {
		t.Errorf("last range: %s %v", qs[15].sql, qs[15].args)
	}
	if qs[0].keys != "< 1" || qs[5].keys != "[5, 6)" || qs[15].keys != ">= f" {
		t.Errorf("ranges named %q, %q, %q", qs[0].keys, qs[5].keys, qs[15].keys)
	}
	for i := 1; i < len(qs); i++ {
		if hi, lo := qs[i-1].args[len(qs[i-1].args)-1], qs[i].args[0]; hi != lo {
			t.Errorf("range %d ends at %v, range %d starts at %v", i-1, hi, i, lo)
		}
	}
}
