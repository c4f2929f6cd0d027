package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// RSAFloor is a measurement of RSA private-key operations.
type RSAFloor struct {
	PerSecond    float64 // operations per wall-clock second, all goroutines together
	PerCPUSecond float64 // operations per second of this process's CPU time (user + system)
}

// MeasureRSA is RSAPrivateOpsPerSecond with the process's CPU time over the measurement: on a
// shared machine the wall-clock rate depends on what else runs, the rate per CPU-second much less.
func MeasureRSA(key *rsa.PrivateKey, workers int, d time.Duration) RSAFloor {
	c0 := ProcessCPU()
	t0 := time.Now()
	ps := RSAPrivateOpsPerSecond(key, workers, d)
	ops := ps * time.Since(t0).Seconds()
	return RSAFloor{PerSecond: ps, PerCPUSecond: ops / (ProcessCPU() - c0).Seconds()}
}

// ProcessCPU is this process's CPU time so far (user + system).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

// RSAPrivateOpsPerSecond runs RSA-2048 PKCS#1 v1.5 SHA-256 signatures (one private-key
// operation each, as in every signature eidsp and the development IdP make) on `workers`
// goroutines for about d and returns the operations per second of all of them together.
func RSAPrivateOpsPerSecond(key *rsa.PrivateKey, workers int, d time.Duration) float64 {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	digest := sha256.Sum256([]byte("eidsp benchmark"))
	var ops atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
					panic(err)
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(ops.Load()) / time.Since(start).Seconds()
}

// PrivateOp is one login's private-key operation, with where the code makes it.
type PrivateOp struct {
	Party, What, Where string
}

// LoginPrivateOps are the RSA private-key operations of one complete artifact login through the
// SP and the development IdP, read from the code (the CPU profile's share of
// crypto/internal/fips140/rsa.decrypt cross-checks the count, docs/BENCHMARKS.md). Everything
// else RSA in a login is a public-key operation: the IdP verifies the AuthnRequest's query
// signature and the ArtifactResolve signature and encrypts the key for the SP; the SP verifies
// the ArtifactResponse and Assertion signatures.
var LoginPrivateOps = []PrivateOp{
	{"SP", "AuthnRequest Redirect query signature", "handlers/login.go → saml.Signer.RedirectURL"},
	{"IdP", "Assertion signature", "devidp/response.go → saml.Signer.SignEnveloped"},
	{"SP", "ArtifactResolve signature", "handlers/acs.go → saml.Signer.ArtifactResolve"},
	{"IdP", "ArtifactResponse signature", "devidp/ars.go → saml.Signer.SignEnveloped"},
	{"SP", "key unwrap (RSA-OAEP decrypt of the EncryptedKey)", "saml/response.go → xenc.Decrypt"},
}

// Role names the pprof label "role" that every goroutine of one party carries: the SP's server
// (and the SOAP client it starts), the development IdP's server, and the load generator.
const (
	RoleSP     = "sp"
	RoleIdP    = "idp"
	RoleClient = "client"
)

// RSASampler measures what one private-key operation costs while the login load runs, beside
// it rather than before and after: one goroutine, locked to its OS thread, makes a signature
// every interval and times each by the thread's CPU clock. The CPU a tenant of a shared machine
// takes, or a neighbour on the sibling hyperthread slows, changes within seconds; measured at the
// same moments as the logins, the operation's cost moves with theirs.
type RSASampler struct {
	stop  chan struct{}
	done  chan struct{}
	costs []time.Duration // per operation, thread CPU
	total time.Duration   // the sampler thread's CPU over its whole run, sleeps and wakeups included
	ok    bool
}

// StartRSASampler starts a sampler; Stop ends it.
func StartRSASampler(key *rsa.PrivateKey, interval time.Duration) *RSASampler {
	s := &RSASampler{stop: make(chan struct{}), done: make(chan struct{})}
	digest := sha256.Sum256([]byte("eidsp benchmark"))
	go func() {
		defer close(s.done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start, ok := ThreadCPU()
		if !ok {
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				end, _ := ThreadCPU()
				s.total, s.ok = time.Duration(end-start), true
				return
			case <-t.C:
			}
			c0, _ := ThreadCPU()
			if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
				panic(err)
			}
			c1, _ := ThreadCPU()
			s.costs = append(s.costs, time.Duration(c1-c0))
		}
	}()
	return s
}

// Stop ends the sampler and returns the median CPU cost of one operation, the number of
// operations and the sampler's own CPU time (to be taken out of the process's). ok is false
// where the thread CPU clock is not available (not Linux) or no operation was made.
func (s *RSASampler) Stop() (median time.Duration, n int, own time.Duration, ok bool) {
	close(s.stop)
	<-s.done
	if !s.ok || len(s.costs) == 0 {
		return 0, 0, s.total, false
	}
	c := slices.Clone(s.costs)
	slices.Sort(c)
	return c[len(c)/2], len(c), s.total, true
}
