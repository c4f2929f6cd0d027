package redis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/eidsp/eidsp/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// The server shared by the tests of this binary, started by TestMain; nil when redis-server
// is not installed and CI is not set.
var (
	shared     *redistest.Server
	redisBin   string
	skipReason string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

// quietLog drops go-redis's own log lines: the tests that stop the server make it complain
// about every failed dial, and the errors that matter reach the tests anyway.
type quietLog struct{}

func (quietLog) Printf(context.Context, string, ...any) {}

func runTests(m *testing.M) int {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "session/redis: redis-server not found; with CI=true it is required (install the redis-server package)")
			return 1
		}
		skipReason = "redis-server not found on PATH; install the redis-server package to run the Redis store tests"
		return m.Run()
	}
	redisBin = bin
	goredis.SetLogger(quietLog{})
	dir, err := os.MkdirTemp("", "eidsp-redis-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, err = redistest.Start(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "session/redis:", err)
		return 1
	}
	defer shared.Kill()
	return m.Run()
}

// needRedis skips the test when there is no redis-server (possible only without CI=true).
func needRedis(t *testing.T) {
	t.Helper()
	if shared == nil {
		t.Skip(skipReason)
	}
}

// ownRedis starts a server for one test, for tests that stop or restart it.
func ownRedis(t *testing.T, extra ...string) *redistest.Server {
	t.Helper()
	needRedis(t)
	r, err := redistest.Start(redisBin, t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}
