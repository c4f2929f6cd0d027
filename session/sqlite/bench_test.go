package sqlite

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
)

var (
	benchDir   = flag.String("sqlite.benchdir", "", "parent directory of BenchmarkLoginWrites' database (default: the test's temporary directory)")
	benchPar   = flag.Int("sqlite.benchpar", 8, "BenchmarkLoginWrites' goroutines per GOMAXPROCS")
	benchDelay = flag.Duration("sqlite.commitdelay", 0, "BenchmarkLoginWrites' Options.CommitDelay (0: the default; negative: none)")
	benchFill  = flag.Int("sqlite.prefill", 0, "BenchmarkLoginWrites' sessions (and twice as many claims) in the store before it starts")
)

// BenchmarkLoginWrites makes the three writes of one artifact login, in the order the handlers
// make them (PutPending at /login; TakePendingAndClaim with the artifact and
// ClaimAndCreateSession with the assertion at the ACS), and the login's share of the audit
// trail (every 16th login appends 16 events, as the app's audit writer batches them at about
// 300 logins a second), from 16 goroutines (-sqlite.benchpar 8) as the login benchmark's
// browsers do. It reports the process's CPU per login beside the wall
// clock, since at FULL most of the wall clock is waiting for the disk:
//
//	go test ./session/sqlite -run '^$' -bench LoginWrites -benchtime 5000x -sqlite.benchdir /tmp
//
// With -sqlite.benchpar 1 (2 goroutines) the writes seldom overlap, as in a login run, where
// each login's writes are spread over its HTTP steps: that is what the commit delay is for
// (-sqlite.commitdelay -1 turns it off). -sqlite.prefill 100000 starts from a busy instance's
// store instead of an empty one.
func BenchmarkLoginWrites(b *testing.B) {
	for _, sync := range []Sync{SyncFull, SyncNormal} {
		b.Run(string(sync), func(b *testing.B) {
			s, err := Open(benchPath(b), Options{Synchronous: sync, CommitDelay: *benchDelay})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			prefill(b, s, *benchFill)
			var n atomic.Int64
			b.SetParallelism(*benchPar) // 8 × GOMAXPROCS 2 = 16
			cpu0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := loginWrites(ctx, s, n.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/login")
		})
	}
}

// prefill puts n live sessions and 2n live claims into s, as a busy instance holds them
// (-sqlite.prefill 100000: a day's logins of a large agency, kept for their session's life), in
// transactions of 10,000 rows on the committer's connection.
func prefill(b *testing.B, s *Store, n int) {
	if n <= 0 {
		return
	}
	now := time.Now()
	for done := 0; done < n; {
		batch := min(10_000, n-done)
		err := s.write(context.Background(), false, func(ctx context.Context) error {
			for i := done; i < done+batch; i++ {
				key := fmt.Sprintf("prefill-%d-%d", now.UnixNano(), i)
				id, err := session.NewID()
				if err != nil {
					return err
				}
				args, err := s.sessionArgs(benchSession(id, key, now))
				if err != nil {
					return err
				}
				if _, err := s.w.createSession.ExecContext(ctx, args...); err != nil {
					return err
				}
				for _, c := range []string{"artifact:", "assertion:"} {
					if _, err := s.w.claim.ExecContext(ctx, session.HashKey(c+key), unixNano(now.Add(time.Hour)), unixNano(now)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += batch
	}
}

// benchPath is the database file of a benchmark: in a directory of its own under
// -sqlite.benchdir, removed at the end, or in the test's temporary directory.
func benchPath(b *testing.B) string {
	dir := *benchDir
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir = filepath.Join(dir, fmt.Sprintf("eidsp-bench-%d", time.Now().UnixNano()))
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
	}
	return filepath.Join(dir, "eidsp.db")
}

func loginWrites(ctx context.Context, s *Store, i int64) error {
	now := time.Now()
	key := fmt.Sprintf("relay-%d-%d", now.UnixNano(), i)
	if err := s.PutPending(ctx, &session.PendingLogin{
		Key: key, RequestID: "_" + key, IdP: "idporten", Profile: "buypass-smartcard", ReturnTo: "/cases",
		BrowserBinding: "0123456789abcdef0123456789abcdef", Locale: "nb", MinLevel: 4, ExpiresAt: now.Add(10 * time.Minute),
	}); err != nil {
		return err
	}
	if _, err := s.TakePendingAndClaim(ctx, key, "artifact:AAQAAMh48/1oXIM+sDo7Dh2qMp1HM4IF5DaRNmDMn0dp"+key, now.Add(10*time.Minute)); err != nil {
		return err
	}
	id, err := session.NewID()
	if err != nil {
		return err
	}
	err = s.ClaimAndCreateSession(ctx, "assertion:https://idporten.example/_"+key, now.Add(5*time.Minute), benchSession(id, key, now))
	if err != nil || i%auditShare != 0 {
		return err
	}
	events := make([]*session.AuditEvent, auditShare)
	for j := range events {
		events[j] = &session.AuditEvent{Time: now, Event: "login", Result: "ok", PersonHash: session.HashKey(key),
			IdP: "idporten", Profile: "buypass-smartcard", Level: 4, Instrument: "ips:BPSC"}
	}
	return s.AppendAudit(ctx, events...)
}

// benchSession is the session of a benchmark's login key.
func benchSession(id, key string, now time.Time) *session.Session {
	return &session.Session{
		ID: id,
		Identity: identity.Identity{
			NationalID: "12345678901", Kind: identity.KindFNR, Level: 4, IdP: "idporten", Instrument: "ips:BPSC",
			SessionIndex: "_" + key, NameID: "_nameid-" + key, NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
		},
		Profile: "buypass-smartcard", ExpiresAt: now.Add(time.Hour),
	}
}

// auditShare: every auditShare-th login of BenchmarkLoginWrites appends auditShare events.
const auditShare = 16

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchSweepRows = flag.Int("sqlite.sweeprows", 360_000, "BenchmarkSweep's claims, and a hundredth of that in pending logins; a tenth of each expired at each sweep")

// BenchmarkSweep is one Sweep of a replay cache at a busy instance's size: by default 360,000
// claims, which is 300 logins a second, two claims each, kept ten minutes, of which a tenth
// (a minute's, the sweep's period) has expired, and 3,600 pending logins, a tenth expired; the
// expired rows are replaced before each sweep. Pending logins and claims have no expiry index,
// so the sweep reads both tables whole. It reports the whole sweep's time and CPU, and its
// longest step; and, from a second sweep beside a writer putting pending logins, the longest
// of those writes, against the longest in 100 ms of the writer alone and the longest beside
// the same deletes made in one step (the sweep before version 5 was one transaction).
//
//	go test ./session/sqlite -run '^$' -bench Sweep -benchtime 3x -sqlite.benchdir /tmp
func BenchmarkSweep(b *testing.B) {
	s, err := Open(benchPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var total, cpu, longest, alone, beside, whole time.Duration
	for range b.N {
		now := time.Now().UnixNano()
		fillForSweep(b, s, now, *benchSweepRows)
		steps := s.sweepSteps(ctx, now)
		for i, step := range steps {
			steps[i] = func(conn *sql.Conn) error {
				t0 := time.Now()
				err := step(conn)
				longest = max(longest, time.Since(t0))
				return err
			}
		}
		t0, c0 := time.Now(), processCPU()
		if err := s.directSteps(steps...); err != nil {
			b.Fatal(err)
		}
		total, cpu = total+time.Since(t0), cpu+processCPU()-c0
		for _, table := range []string{"replay_cache", "pending_logins"} {
			var left int
			if err := s.db.QueryRow(`SELECT count(*) FROM `+table+` WHERE expires_at <= ?`, now).Scan(&left); err != nil || left != 0 {
				b.Fatalf("%s: %d expired rows left after the sweep (%v)", table, left, err)
			}
		}

		// The wait a login's write sees: a writer putting pending logins (relaxed writes, so
		// that no fsync is in the figure) one after the other, alone for 100 ms and then beside
		// a second sweep; the longest of its writes in each.
		alone = max(alone, writeWhile(b, s, func() { time.Sleep(100 * time.Millisecond) }))
		now = time.Now().UnixNano()
		fillForSweep(b, s, now, *benchSweepRows)
		beside = max(beside, writeWhile(b, s, func() {
			if err := s.directSteps(s.sweepSteps(ctx, now)...); err != nil {
				b.Error(err)
			}
		}))

		// For contrast, the same deletes under one hold of the write lock, as the sweep was
		// before its steps (one transaction).
		now = time.Now().UnixNano()
		fillForSweep(b, s, now, *benchSweepRows)
		whole = max(whole, writeWhile(b, s, func() {
			steps := s.sweepSteps(ctx, now)
			if err := s.direct(func(conn *sql.Conn) error {
				for _, step := range steps {
					if err := step(conn); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Error(err)
			}
		}))
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/sweep")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/sweep")
	b.ReportMetric(float64(longest.Microseconds())/1000, "ms-longest-step")
	b.ReportMetric(float64(alone.Microseconds())/1000, "ms-longest-write-alone")
	b.ReportMetric(float64(beside.Microseconds())/1000, "ms-longest-write-beside-sweep")
	b.ReportMetric(float64(whole.Microseconds())/1000, "ms-longest-write-beside-one-step")
}

// writeWhile puts pending logins one after the other while during runs, and returns the
// longest of those writes.
func writeWhile(b *testing.B, s *Store, during func()) time.Duration {
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan time.Duration)
	go func() {
		var longest time.Duration
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- longest
				return
			default:
			}
			t0 := time.Now()
			err := s.PutPending(ctx, &session.PendingLogin{Key: fmt.Sprint("writer-", t0.UnixNano(), "-", i), RequestID: "_w",
				IdP: "idporten", Profile: "p", ReturnTo: "/", ExpiresAt: t0.Add(10 * time.Minute)})
			if err != nil {
				b.Error(err)
			}
			longest = max(longest, time.Since(t0))
		}
	}()
	during()
	close(stop)
	return <-done
}

// fillForSweep brings the replay cache to rows claims and the pending logins to a hundredth of
// that, all live, and then lets a tenth of each expire at now: the rows whose key hash has its
// second and third digits below "1a" (26 of 256), spread over every range of the sweep. One
// transaction, outside the timing.
func fillForSweep(b *testing.B, s *Store, now int64, rows int) {
	b.StopTimer()
	defer b.StartTimer()
	live := now + int64(10*time.Minute)
	tables := []struct {
		name, insert string
		rows         int
	}{
		{"replay_cache", `INSERT INTO replay_cache (key_hash, expires_at) VALUES (?, ?)`, rows},
		{"pending_logins", `INSERT INTO pending_logins (key_hash, request_id, idp, profile, return_to, browser_binding,
			locale, min_level, force_authn, created_at, expires_at) VALUES (?, '_r', 'idporten', 'p', '/', 'b', 'nb', 3, 0, 0, ?)`, rows / 100},
	}
	err := s.direct(func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(context.Background(), nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, t := range tables {
			var have int
			if err := tx.QueryRow(`SELECT count(*) FROM ` + t.name).Scan(&have); err != nil {
				return err
			}
			for i := have; i < t.rows; i++ {
				if _, err := tx.Exec(t.insert, session.HashKey(fmt.Sprint("sweep-", now, "-", i)), live); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(`UPDATE `+t.name+` SET expires_at = ? WHERE substr(key_hash, 2, 2) < '1a'`, now); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		b.Fatal(err)
	}
}
