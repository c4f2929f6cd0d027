package main

import (
	"errors"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/eidsp/eidsp/bench"
	"github.com/eidsp/eidsp/devidp"
	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
)

// Benchmark 1: complete artifact logins per second over loopback HTTP, against the
// cryptographic floor measured in the same run.
func runLogin(args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	store := fs.String("store", "sqlite", "SP session store: sqlite or redis")
	dir := fs.String("dir", "", "parent of the scratch directory (SQLite file); default $TMPDIR")
	syncMode := fs.String("sync", "full", "SQLite synchronous setting of the SP's handlers: full (the default of eidsp) or normal")
	clients := fs.Int("clients", 8*runtime.GOMAXPROCS(0), "concurrent browsers (at 2×GOMAXPROCS the CPU idles between the sequential steps of each login)")
	logins := fs.Int("logins", 3000, "at most this many logins per run")
	// Short runs, many of them, each between two floor measurements: on a shared machine the
	// CPU left to us changes within seconds, and a floor measured next to its run follows it.
	dur := fs.Duration("duration", 3*time.Second, "at most this long per run")
	floorDur := fs.Duration("floor", time.Second, "length of each RSA floor measurement (one before, one after each run)")
	reps := fs.Int("reps", 9, "repetitions (runs)")
	cpuprofile := fs.String("cpuprofile", "", "after the repetitions, one more run under the CPU profiler, written here")
	profileDur := fs.Duration("profile-duration", 10*time.Second, "length of the profiled run (-cpuprofile, -memprofile)")
	memprofile := fs.String("memprofile", "", "after the repetitions, one more run with every allocation sampled, the heap profile written here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scratch, cleanup, err := tempDir(*dir, "eidspbench-login-")
	if err != nil {
		return err
	}
	defer cleanup()
	if *syncMode != "full" && *syncMode != "normal" {
		return fmt.Errorf("-sync %q: want full or normal", *syncMode)
	}
	opt := WorldOptions{Dir: scratch, Store: *store, SyncNormal: *syncMode == "normal"}
	if *store == "redis" {
		r, err := bench.StartRedis(scratch)
		if err != nil {
			return err
		}
		defer r.Stop()
		opt.RedisAddr = r.Addr
	}
	w, err := NewWorld(opt)
	if err != nil {
		return err
	}
	defer w.Close()
	lc := &loginClient{w: w, person: devidp.DefaultPersons()[0].NationalID}
	control := newWire()
	err = lc.login(control, true) // positive control, with the session checked
	control.close()
	if err != nil {
		return fmt.Errorf("a single login fails: %w", err)
	}
	key := w.Server.Verifier.DecryptionKeys[0] // an RSA-2048 key like every key in the login

	n := len(bench.LoginPrivateOps)
	storeName := *store
	if *store == "sqlite" {
		storeName += ", synchronous=" + strings.ToUpper(*syncMode)
	}
	fmt.Printf("== Benchmark 1: complete artifact logins over loopback HTTP (store %s, %d clients, GOMAXPROCS %d, %d CPUs)\n",
		storeName, *clients, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("RSA private-key operations per login: %d\n", n)
	for i, op := range bench.LoginPrivateOps {
		fmt.Printf("  %d. %-4s %-52s %s\n", i+1, op.Party, op.What, op.Where)
	}
	fmt.Println("  (IdP: AuthnRequest and ArtifactResolve signature checks, assertion key encryption; SP: ArtifactResponse and assertion signature checks — public-key operations, not counted)")
	var ratios, cpuRatios, sampledRatios, rates, floors []float64
	for rep := 1; rep <= *reps; rep++ {
		f1 := bench.MeasureRSA(key, runtime.GOMAXPROCS(0), *floorDur)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		sampler := bench.StartRSASampler(key, sampleEvery)
		res, cpu := lc.run(*clients, *logins, *dur)
		opCost, samples, samplerCPU, sampled := sampler.Stop()
		runtime.ReadMemStats(&m1)
		f2 := bench.MeasureRSA(key, runtime.GOMAXPROCS(0), *floorDur)
		if res.OK == 0 {
			return fmt.Errorf("no login succeeded: %v", res.FirstError)
		}
		ops := (f1.PerSecond + f2.PerSecond) / 2
		floor := ops / float64(n)
		ratio := res.PerSecond() / floor
		// The same comparison per CPU-second: logins per CPU-second of this process against
		// private-key operations per CPU-second / n. Insensitive to how much CPU the machine's
		// other tenants leave us, and to whether the clients keep both CPUs busy.
		cpuRatio := float64(res.OK) / cpu.Seconds() / ((f1.PerCPUSecond + f2.PerCPUSecond) / 2 / float64(n))
		util := cpu.Seconds() / res.Elapsed.Seconds() / float64(runtime.NumCPU())
		fmt.Printf("run %d: RSA-2048 private-key ops/s on %d goroutines %.0f (before %.0f, after %.0f) → floor %.1f logins/s; measured %s; process CPU busy %.0f%% of %d CPUs; %.1f%% of the floor; per CPU-second: %.1f logins vs a floor of %.1f = %.1f%%\n",
			rep, runtime.GOMAXPROCS(0), ops, f1.PerSecond, f2.PerSecond, floor, res, util*100, runtime.NumCPU(), ratio*100,
			float64(res.OK)/cpu.Seconds(), (f1.PerCPUSecond+f2.PerCPUSecond)/2/float64(n), cpuRatio*100)
		fmt.Printf("  per login (SP, IdP and clients together): %.0f allocations, %.1f KiB allocated; GC cycles in the run %d, GC CPU fraction since start %.1f%%\n",
			float64(m1.Mallocs-m0.Mallocs)/float64(res.OK+res.Failed), float64(m1.TotalAlloc-m0.TotalAlloc)/1024/float64(res.OK+res.Failed),
			m1.NumGC-m0.NumGC, m1.GCCPUFraction*100)
		var inner session.Store = w.Store
		if c, ok := inner.(*session.Cache); ok {
			inner = c.Store
		}
		if gs, ok := inner.(interface{ GroupStats() (int64, int64) }); ok {
			g, n := gs.GroupStats()
			fmt.Printf("  SQLite group commit since the start: %d writes in %d shared transactions\n", n, g)
		}
		if sampled {
			// The third comparison: the private-key operation's CPU cost measured beside the
			// logins (bench.RSASampler), its own CPU taken out of the process's.
			r := float64(res.OK) * float64(n) * opCost.Seconds() / (cpu - samplerCPU).Seconds()
			fmt.Printf("  beside the run: one private-key op costs %.0f µs of CPU (median of %d; the floor measurements: %.0f µs) → %.1f ms of CPU per login against %.1f ms of private-key operations = %.1f%%\n",
				float64(opCost.Microseconds()), samples, 2e6/(f1.PerCPUSecond+f2.PerCPUSecond),
				(cpu-samplerCPU).Seconds()*1000/float64(res.OK), float64(n)*opCost.Seconds()*1000, r*100)
			sampledRatios = append(sampledRatios, r*100)
		}
		if res.Failed > 0 {
			fmt.Printf("  first failure: %v\n", res.FirstError)
		}
		ratios, cpuRatios = append(ratios, ratio*100), append(cpuRatios, cpuRatio*100)
		rates, floors = append(rates, res.PerSecond()), append(floors, floor)
	}
	fmt.Printf("logins/s: %s\n", spread(rates, "%.1f"))
	fmt.Printf("floor (logins/s): %s\n", spread(floors, "%.1f"))
	fmt.Printf("logins/s as %% of the floor (wall clock): %s — target ≥ 75 %%: %s\n", spread(ratios, "%.1f"), verdict(median(ratios) >= 75))
	fmt.Printf("logins per CPU-second as %% of the floor per CPU-second: %s — target ≥ 75 %%: %s\n", spread(cpuRatios, "%.1f"), verdict(median(cpuRatios) >= 75))
	if len(sampledRatios) > 0 {
		fmt.Printf("private-key operations' share of a login's CPU, costed beside the run: %s — target ≥ 75 %%: %s\n", spread(sampledRatios, "%.1f"), verdict(median(sampledRatios) >= 75))
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		res, cpu := lc.run(*clients, *logins, *profileDur)
		pprof.StopCPUProfile()
		f.Close()
		fmt.Printf("profiled run: %s; process CPU %.1fs; profile in %s (labels role=sp|idp|client)\n", res, cpu.Seconds(), *cpuprofile)
	}
	if *memprofile != "" {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		res, _ := lc.run(*clients, *logins/4, *profileDur)
		runtime.GC() // the profile is as of the last GC
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
		runtime.MemProfileRate = old
		if err != nil {
			return err
		}
		fmt.Printf("allocation-profiled run: %s; profile in %s (go tool pprof -sample_index=alloc_space; it holds the allocations since the start, the runs above included)\n", res, *memprofile)
	}
	return nil
}

// sampleEvery spaces bench.RSASampler's operations: 1 % of the CPU, some 30 costs per 3 s run.
const sampleEvery = 100 * time.Millisecond

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// loginClient plays browsers: each login has its own cookie jar (a new user, so the IdP shows
// its login page instead of answering from an SSO session); each client keeps its connections.
type loginClient struct {
	w      *World
	person string
}

// run runs logins and reports them with the process's CPU time over the run.
func (lc *loginClient) run(clients, total int, d time.Duration) (bench.LoadResult, time.Duration) {
	wires := make([]*wire, clients)
	for i := range wires {
		wires[i] = newWire()
	}
	defer func() {
		for _, w := range wires {
			w.close()
		}
	}()
	c0 := bench.ProcessCPU()
	res := bench.RunLoad(clients, total, d, func(worker, _ int) error { return lc.login(wires[worker], false) })
	return res, bench.ProcessCPU() - c0
}

var (
	reAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	reToken  = regexp.MustCompile(`name="token" value="([^"]*)"`)
)

// login is one complete artifact login: /login → IdP SSO page → IdP form → ACS (artifact
// resolution) → session cookie.
func (lc *loginClient) login(c *wire, check bool) error {
	c.reset()
	sp := lc.w.SPURL
	status, loc, _, err := c.get(sp + "/login?profile=buypass-smartcard&return_to=/")
	if err != nil || status != http.StatusFound || !strings.HasPrefix(loc, lc.w.IdPURL) {
		return fmt.Errorf("/login: %d %q %v", status, loc, err)
	}
	status, _, body, err := c.get(loc)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("IdP page: %d %v", status, err)
	}
	action, token := first(reAction, body), first(reToken, body)
	if action == "" || token == "" {
		return errors.New("IdP page without a login form")
	}
	if strings.HasPrefix(action, "/") {
		action = lc.w.IdPURL + action
	}
	form := url.Values{"token": {token}, "person": {lc.person}, "method": {identity.InstrumentSmartCard}}
	status, acs, err := c.postForm(action, form.Encode())
	if err != nil || status != http.StatusFound || !strings.HasPrefix(acs, sp+"/saml/acs?") {
		return fmt.Errorf("IdP form: %d %q %v", status, acs, err)
	}
	status, loc, _, err = c.get(acs)
	if err != nil || status != http.StatusSeeOther || loc != "/" {
		return fmt.Errorf("ACS: %d %q %v", status, loc, err)
	}
	if c.cookie(strings.TrimPrefix(sp, "http://"), lc.w.Config.Session.CookieName) == "" {
		return errors.New("ACS set no session cookie")
	}
	if check {
		status, _, body, err := c.get(sp + "/session")
		if err != nil || status != http.StatusOK || !strings.Contains(body, lc.person) {
			return fmt.Errorf("/session after login: %d %v", status, err)
		}
	}
	return nil
}

func first(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}
