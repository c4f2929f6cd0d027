package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/eidsp/eidsp/bench"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
)

// Benchmark 3: GET /auth with a valid session against a bare Echo handler answering 200, same
// run, same load generator.
func runAuth(args []string) error {
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	dir := fs.String("dir", "", "parent of the scratch directory (SQLite file); default $TMPDIR")
	clients := fs.Int("clients", 4*runtime.GOMAXPROCS(0), "concurrent keep-alive connections")
	requests := fs.Int("requests", 200000, "at most this many requests per run")
	dur := fs.Duration("duration", 5*time.Second, "at most this long per run")
	sessions := fs.Int("sessions", 1000, "live sessions the requests cycle through")
	reps := fs.Int("reps", 3, "repetitions")
	cpuprofile := fs.String("cpuprofile", "", "after the repetitions, one more run of each /auth target under the CPU profiler, written to PREFIX-sqlite.pprof and PREFIX-redis.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scratch, cleanup, err := tempDir(*dir, "eidspbench-auth-")
	if err != nil {
		return err
	}
	defer cleanup()
	rds, err := bench.StartRedis(scratch)
	if err != nil {
		return err
	}
	defer rds.Stop()

	type target struct {
		name, url, cookie string
		ids               []string
	}
	var targets []*target
	// The bare handler: Echo, one route, no middleware.
	e := echo.New()
	e.GET("/auth", func(c *echo.Context) error { return c.NoContent(http.StatusOK) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bare := NewHTTPServer(e)
	go bare.Serve(ln)
	defer bare.Close()
	targets = append(targets, &target{name: "bare Echo", url: "http://" + ln.Addr().String() + "/auth", ids: []string{"x"}, cookie: "x"})
	// Each store twice: as configured by default (session.cache_ttl 1s: the session cache
	// answers a session read in the last second from memory) and with the cache off, every
	// request reading the store.
	off := time.Duration(0)
	for _, store := range []string{"sqlite", "redis"} {
		for _, cache := range []*time.Duration{nil, &off} {
			name, dir := "/auth "+store, scratch+"/"+store
			if cache != nil {
				name, dir = name+" nocache", dir+"-nocache"
			}
			w, err := NewWorld(WorldOptions{Dir: dir, Store: store, RedisAddr: rds.Addr, CacheTTL: cache})
			if err != nil {
				return err
			}
			defer w.Close()
			ids, err := createSessions(w.Store, *sessions, 8)
			if err != nil {
				return err
			}
			targets = append(targets, &target{name: name, url: w.SPURL + "/auth", ids: ids, cookie: w.Config.Session.CookieName})
		}
	}

	tr := bench.NewTransport(*clients)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(t *target, seq int) error {
		req, _ := http.NewRequest(http.MethodGet, t.url, nil)
		req.AddCookie(&http.Cookie{Name: t.cookie, Value: t.ids[seq%len(t.ids)]})
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d", t.url, resp.StatusCode)
		}
		if t.name != "bare Echo" && resp.Header.Get("X-Eid-National-Id") == "" {
			return errors.New("/auth answered 200 without X-Eid-National-Id")
		}
		return nil
	}
	for _, t := range targets { // positive control and warm-up
		for i := range 200 {
			if err := get(t, i); err != nil {
				return err
			}
		}
	}

	fmt.Printf("== Benchmark 3: GET /auth with a valid session vs a bare Echo handler (%d connections, GOMAXPROCS %d, %d sessions, at most %d requests or %s per run)\n",
		*clients, runtime.GOMAXPROCS(0), *sessions, *requests, *dur)
	// cpu is the CPU time this process has used, plus redis-server's for the Redis target: the
	// per-CPU-second ratio compares the CPU a request costs, which the machine's other tenants
	// disturb much less than the wall clock.
	rdb := goredis.NewClient(&goredis.Options{Addr: rds.Addr})
	defer rdb.Close()
	cpu := func(t *target) (time.Duration, error) {
		c := bench.ProcessCPU()
		if !strings.HasPrefix(t.name, "/auth redis") {
			return c, nil
		}
		info, err := rdb.Info(context.Background(), "cpu").Result()
		if err != nil {
			return 0, err
		}
		for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
			v, err := infoFloat(info, f)
			if err != nil {
				return 0, err
			}
			c += time.Duration(v * float64(time.Second))
		}
		return c, nil
	}
	ratios, cpuRatios := map[string][]float64{}, map[string][]float64{}
	for rep := 1; rep <= *reps; rep++ {
		var bareRate, bareCPURate float64
		for _, t := range targets {
			c0, err := cpu(t)
			if err != nil {
				return err
			}
			res := bench.RunLoad(*clients, *requests, *dur, func(_, seq int) error { return get(t, seq) })
			c1, err := cpu(t)
			if err != nil {
				return err
			}
			if res.OK == 0 {
				return fmt.Errorf("%s: no request succeeded: %v", t.name, res.FirstError)
			}
			perCPU := float64(res.OK) / (c1 - c0).Seconds()
			line := fmt.Sprintf("run %d: %-20s %s; %.0f per CPU-second", rep, t.name, res, perCPU)
			if t.name == "bare Echo" {
				bareRate, bareCPURate = res.PerSecond(), perCPU
			} else {
				r, rc := res.PerSecond()/bareRate*100, perCPU/bareCPURate*100
				ratios[t.name] = append(ratios[t.name], r)
				cpuRatios[t.name] = append(cpuRatios[t.name], rc)
				line += fmt.Sprintf("; %.1f%% of bare (per CPU-second %.1f%%)", r, rc)
			}
			if res.Failed > 0 {
				line += fmt.Sprintf(" (first failure: %v)", res.FirstError)
			}
			fmt.Println(line)
		}
	}
	for _, t := range targets[1:] {
		fmt.Printf("%s as %% of bare Echo: %s — target ≥ 50 %%: %s\n", t.name, spread(ratios[t.name], "%.1f"), verdict(median(ratios[t.name]) >= 50))
		fmt.Printf("%s per CPU-second as %% of bare Echo's: %s — target ≥ 50 %%: %s\n", t.name, spread(cpuRatios[t.name], "%.1f"), verdict(median(cpuRatios[t.name]) >= 50))
	}
	fmt.Println("(per CPU-second: requests per CPU-second of this process — server, load generator and, for Redis, redis-server's CPU too)")
	if *cpuprofile != "" {
		for _, t := range targets[1:] {
			name := *cpuprofile + "-" + strings.ReplaceAll(strings.TrimPrefix(t.name, "/auth "), " ", "-") + ".pprof"
			f, err := os.Create(name)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			res := bench.RunLoad(*clients, *requests, *dur, func(_, seq int) error { return get(t, seq) })
			pprof.StopCPUProfile()
			f.Close()
			fmt.Printf("profiled run: %-12s %s; profile in %s\n", t.name, res, name)
		}
	}
	return nil
}

// createSessions stores n live sessions of a realistic identity from `workers` goroutines and
// returns their IDs (the cookie values).
func createSessions(st session.Store, n, workers int) ([]string, error) {
	ids := make([]string, n)
	errs := make(chan error, workers)
	now := time.Now()
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				id, err := session.NewID()
				if err == nil {
					ids[i] = id
					err = st.CreateSession(context.Background(), &session.Session{
						ID: id, Profile: "buypass-smartcard", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(2 * time.Hour),
						Identity: identity.Identity{
							NationalID: fmt.Sprintf("2%010d", i), Kind: identity.KindSyntheticFNR, Instrument: identity.InstrumentSmartCard,
							Level: 4, LoA: "http://eidas.europa.eu/LoA/high", AuthMethod: "Buypass", IdP: "ips",
							SessionIndex: fmt.Sprintf("_%040x", i), NameID: fmt.Sprintf("_%040x", i+1<<40),
							NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", Culture: "nb", AuthenticatedAt: now,
						},
					})
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return ids, first
}
