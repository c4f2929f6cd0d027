package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of our own on a loopback port, with its files in dir.
type redisServer struct {
	bin  string
	dir  string
	port int
	args []string // extra arguments, kept for restart
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (r *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// startRedis starts redis-server in dir on a free port. Persistence is off unless extra turns
// it on (later arguments win).
func startRedis(bin, dir string, extra ...string) (*redisServer, error) {
	var lastErr error
	for range 3 { // another process may take the free port before redis-server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &redisServer{bin: bin, dir: dir, port: port, args: extra}
		if lastErr = r.start(); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server on r.port and waits until it answers PING.
func (r *redisServer) start() error {
	args := append([]string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"),
	}, r.args...)
	r.cmd = exec.Command(r.bin, args...)
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d exited: %s\n%s", r.port, r.cmd.ProcessState, log)
		default:
		}
		if pingRaw(r.addr()) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.kill()
	return fmt.Errorf("redis-server on port %d did not answer PING within 10s", r.port)
}

// restart starts the server again on the same port, with the same directory and arguments.
func (r *redisServer) restart() error { return r.start() }

// kill ends the server with SIGKILL: no shutdown, no final save.
func (r *redisServer) kill() {
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintln(os.Stderr, "kill redis-server:", err)
	}
	<-r.done
}

// pingRaw speaks RESP directly, so that waiting for the server does not depend on the code
// under test.
func pingRaw(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// The server shared by the tests of this binary, started by TestMain; nil when redis-server
// is not installed and CI is not set.
var (
	shared     *redisServer
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
	shared, err = startRedis(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "session/redis:", err)
		return 1
	}
	defer shared.kill()
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
func ownRedis(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	needRedis(t)
	r, err := startRedis(redisBin, t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.kill()
		}
	})
	return r
}
