package sqlite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/eidsp/eidsp/session"
)

const commitFailEnv = "EIDSP_SQLITE_COMMIT_FAIL_CHILD"

// TestCommitFailure makes a COMMIT fail for real: the write-ahead log may not grow (the
// process's file size limit is set to its size), so writing the transaction's frames, which
// in WAL mode happens at COMMIT, fails. The write is answered with an error and leaves
// nothing; once the log may grow again, the committer goes on. The limit holds for the whole
// process, so the test runs in a child of its own.
func TestCommitFailure(t *testing.T) {
	if os.Getenv(commitFailEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCommitFailure$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), commitFailEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestCommitFailure")) {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "eidsp.db")
	s := openNoDelay(t, path)
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	until := now.Add(time.Hour)
	if err := s.Claim(ctx, "before", until); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	failed := testSession(t, now)
	err = s.ClaimAndCreateSession(ctx, "refused", until, failed)
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil {
		t.Fatal("a write whose log could not grow was answered as committed")
	}
	t.Logf("the failed commit: %v", err)
	if _, gerr := s.GetSession(ctx, failed.ID); !errors.Is(gerr, session.ErrNotFound) {
		t.Errorf("session of the failed write: %v, want ErrNotFound", gerr)
	}
	if cerr := s.Claim(ctx, "refused", until); cerr != nil {
		t.Errorf("claim of the failed write: %v, want it free", cerr)
	}
	if cerr := s.Claim(ctx, "before", until); !errors.Is(cerr, session.ErrReplay) {
		t.Errorf("claim committed before the failure: %v, want ErrReplay", cerr)
	}
	after := testSession(t, now)
	if err := s.ClaimAndCreateSession(ctx, "after", until, after); err != nil {
		t.Fatalf("write after the log may grow again: %v", err)
	}
	if _, err := s.GetSession(ctx, after.ID); err != nil {
		t.Errorf("session written after the failure: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the failure: %v", err)
	}
}
