package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/eidsp/eidsp/bench"
)

// Benchmark 4: bytes per session in SQLite (file size after a checkpoint) and Redis
// (used_memory delta), and the SP's RSS, at N sessions. One backend per invocation, so that the
// RSS is this backend's alone.
func runStore(args []string) error {
	fs := flag.NewFlagSet("store", flag.ContinueOnError)
	backend := fs.String("backend", "sqlite", "sqlite or redis")
	n := fs.Int("sessions", 100000, "sessions to store")
	sample := fs.Int("sample", 10000, "GET /auth through the SP for this many of them afterwards")
	dir := fs.String("dir", defaultStoreDir(), "parent of the scratch directory; tmpfs by default, since synchronous=FULL would make 100,000 inserts 100,000 fsyncs (the file's size does not depend on the medium)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scratch, cleanup, err := tempDir(*dir, "eidspbench-store-")
	if err != nil {
		return err
	}
	defer cleanup()
	opt := WorldOptions{Dir: scratch, Store: *backend}
	var rdb *goredis.Client
	if *backend == "redis" {
		r, err := bench.StartRedis(scratch)
		if err != nil {
			return err
		}
		defer r.Stop()
		opt.RedisAddr = r.Addr
		rdb = goredis.NewClient(&goredis.Options{Addr: r.Addr})
		defer rdb.Close()
	}
	w, err := NewWorld(opt)
	if err != nil {
		return err
	}
	defer w.Close()
	ctx := context.Background()

	measure := func() (int64, error) {
		if rdb != nil {
			info, err := rdb.Info(ctx, "memory").Result()
			if err != nil {
				return 0, err
			}
			return infoField(info, "used_memory")
		}
		return sqliteSize(w.Config.Store.Path)
	}
	before, err := measure()
	if err != nil {
		return err
	}
	rss0 := procStatus("VmRSS")
	t0 := time.Now()
	ids, err := createSessions(w.Store, *n, 8)
	if err != nil {
		return err
	}
	insert := time.Since(t0)
	// Serve /auth for a sample, so that the SP has done its normal work on this store.
	c := &http.Client{Transport: bench.NewTransport(8), Timeout: 10 * time.Second}
	res := bench.RunLoad(8, *sample, time.Minute, func(_, seq int) error {
		req, _ := http.NewRequest(http.MethodGet, w.SPURL+"/auth", nil)
		req.AddCookie(&http.Cookie{Name: w.Config.Session.CookieName, Value: ids[(seq*7919)%len(ids)]})
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
	if res.Failed > 0 {
		return fmt.Errorf("/auth on the stored sessions: %d failed: %v", res.Failed, res.FirstError)
	}
	after, err := measure()
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	fmt.Printf("== Benchmark 4: %s store, %d sessions (inserted in %.1fs, 8 goroutines; then GET /auth for %d of them: %.0f/s)\n",
		*backend, *n, insert.Seconds(), res.OK, res.PerSecond())
	if rdb != nil {
		fmt.Printf("redis used_memory: %d bytes before, %d after → %.0f bytes per session\n", before, after, float64(after-before)/float64(*n))
	} else {
		fmt.Printf("sqlite file after wal_checkpoint(TRUNCATE): %d bytes empty, %d bytes with the sessions → %.0f bytes per session (%.0f counting the empty file)\n",
			before, after, float64(after-before)/float64(*n), float64(after)/float64(*n))
	}
	fmt.Printf("SP process (SP + development IdP + load generator, one process): VmRSS %s before the sessions, %s at %d sessions (VmHWM %s); Go heap in use %.1f MiB, Go runtime total %.1f MiB\n",
		rss0, procStatus("VmRSS"), *n, procStatus("VmHWM"), float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20))
	return nil
}

func defaultStoreDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// sqliteSize checkpoints the WAL into the database file (from a connection of its own, as an
// operator's sqlite3 would) and returns the file's size.
func sqliteSize(path string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var busy, logFrames, done int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return 0, err
	}
	if busy != 0 {
		return 0, fmt.Errorf("checkpoint was blocked")
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func infoField(info, name string) (int64, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO has no %s", name)
}

func infoFloat(info, name string) (float64, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("INFO has no %s", name)
}

// procStatus returns a field of /proc/self/status, e.g. "VmRSS" → "123456 kB".
func procStatus(field string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
