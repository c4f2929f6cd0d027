package sqlite

import (
	"context"
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
)

// BenchmarkLoginWrites makes the three writes of one artifact login, in the order the handlers
// make them (PutPending at /login; TakePendingAndClaim with the artifact and
// ClaimAndCreateSession with the assertion at the ACS), from 16 goroutines (-sqlite.benchpar 8)
// as the login benchmark's browsers do. It reports the process's CPU per login beside the wall
// clock, since at FULL most of the wall clock is waiting for the disk:
//
//	go test ./session/sqlite -run '^$' -bench LoginWrites -benchtime 5000x -sqlite.benchdir /tmp
//
// With -sqlite.benchpar 1 (2 goroutines) the writes seldom overlap, as in a login run, where
// each login's writes are spread over its HTTP steps: that is what the commit delay is for
// (-sqlite.commitdelay -1 turns it off).
func BenchmarkLoginWrites(b *testing.B) {
	for _, sync := range []Sync{SyncFull, SyncNormal} {
		b.Run(string(sync), func(b *testing.B) {
			dir := *benchDir
			if dir == "" {
				dir = b.TempDir()
			} else {
				dir = filepath.Join(dir, fmt.Sprintf("eidsp-bench-%d", time.Now().UnixNano()))
				b.Cleanup(func() { _ = os.RemoveAll(dir) })
			}
			s, err := Open(filepath.Join(dir, "eidsp.db"), Options{Synchronous: sync, CommitDelay: *benchDelay})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
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
	return s.ClaimAndCreateSession(ctx, "assertion:https://idporten.example/_"+key, now.Add(5*time.Minute), &session.Session{
		ID: id,
		Identity: identity.Identity{
			NationalID: "12345678901", Kind: identity.KindFNR, Level: 4, IdP: "idporten", Instrument: "ips:BPSC",
			SessionIndex: "_" + key, NameID: "_nameid-" + key, NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
		},
		Profile: "buypass-smartcard", ExpiresAt: now.Add(time.Hour),
	})
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
