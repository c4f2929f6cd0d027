// Package redistest starts a redis-server of our own on a free loopback port for tests and
// benchmarks (the session store's tests, the multi-instance test, the benchmarks): one launcher,
// restartable on the same port, killable with SIGKILL to test crash durability. Never imported by
// product code.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Find returns the redis-server binary: /usr/bin/redis-server or the one on PATH.
func Find() (string, error) {
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return exec.LookPath("redis-server")
}

// Server is a redis-server process of our own on a loopback port, with its files in dir.
type Server struct {
	bin  string
	dir  string
	port int
	args []string // extra arguments, kept for restart
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (r *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Start starts redis-server in dir on a free port. Persistence is off unless extra turns
// it on (later arguments win).
func Start(bin, dir string, extra ...string) (*Server, error) {
	var lastErr error
	for range 3 { // another process may take the free port before redis-server binds it
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		r := &Server{bin: bin, dir: dir, port: port, args: extra}
		if lastErr = r.start(); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

// FreePort returns a loopback port nobody listens on at the moment of asking.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server on r.port and waits until it answers PING.
func (r *Server) start() error {
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
		if pingRaw(r.Addr()) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Kill()
	return fmt.Errorf("redis-server on port %d did not answer PING within 10s", r.port)
}

// Restart starts the server again on the same port, with the same directory and arguments.
func (r *Server) Restart() error { return r.start() }

// Kill ends the server with SIGKILL: no shutdown, no final save.
func (r *Server) Kill() {
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

// Stop kills the server unless it has already exited; safe to call more than once.
func (r *Server) Stop() {
	select {
	case <-r.done:
	default:
		r.Kill()
	}
}
