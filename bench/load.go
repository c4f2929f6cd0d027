package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is what one bounded load run measured.
type LoadResult struct {
	OK, Failed int
	Elapsed    time.Duration
	Latencies  []time.Duration // of the successful operations, sorted
	FirstError error
}

// PerSecond is successful operations per second.
func (r LoadResult) PerSecond() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// Percentile returns the p-th percentile (0 < p ≤ 100) of the latencies, nearest rank.
func (r LoadResult) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	return r.Latencies[max(0, min(i, len(r.Latencies)-1))]
}

func (r LoadResult) String() string {
	return fmt.Sprintf("%d ok, %d failed in %.2fs: %.0f/s, p50 %s, p99 %s", r.OK, r.Failed, r.Elapsed.Seconds(),
		r.PerSecond(), r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond))
}

// RunLoad calls op from `workers` goroutines (labelled role=client) until total operations have
// been started or d has passed, whichever comes first; op gets the worker number and the
// sequence number of the operation. Both bounds are required: the run always ends.
func RunLoad(workers, total int, d time.Duration, op func(worker, seq int) error) LoadResult {
	var next atomic.Int64
	var mu sync.Mutex
	res := LoadResult{}
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			pprof.Do(context.Background(), pprof.Labels("role", RoleClient), func(context.Context) {
				lat := make([]time.Duration, 0, total/workers+1)
				failed := 0
				var firstErr error
				for {
					seq := int(next.Add(1)) - 1
					if seq >= total || time.Now().After(deadline) {
						break
					}
					t0 := time.Now()
					if err := op(w, seq); err != nil {
						failed++
						if firstErr == nil {
							firstErr = err
						}
						continue
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				res.OK += len(lat)
				res.Failed += failed
				res.Latencies = append(res.Latencies, lat...)
				if res.FirstError == nil {
					res.FirstError = firstErr
				}
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	return res
}

// NewTransport is a keep-alive HTTP transport for loopback load with room for every worker's
// connection.
func NewTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}
