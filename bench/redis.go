package bench

import (
	"errors"

	"github.com/eidsp/eidsp/internal/redistest"
)

// Redis is a redis-server started for a benchmark on a free loopback port, without
// persistence (the benchmarks measure memory and round trips, not the disk).
type Redis struct {
	Addr string
	srv  *redistest.Server
}

// StartRedis starts redis-server with its files in dir.
func StartRedis(dir string) (*Redis, error) {
	bin, err := redistest.Find()
	if err != nil {
		return nil, errors.New("redis-server not found (apt-get install redis-server)")
	}
	srv, err := redistest.Start(bin, dir)
	if err != nil {
		return nil, err
	}
	return &Redis{Addr: srv.Addr(), srv: srv}, nil
}

// Stop kills the server this process started.
func (r *Redis) Stop() { r.srv.Stop() }
