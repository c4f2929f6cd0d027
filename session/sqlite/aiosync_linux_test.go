package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

func newTestAIO(t *testing.T) *aioSync {
	t.Helper()
	a, err := newAIOSync()
	if err != nil {
		// Every machine this project tests on has native AIO (Linux ≥ 4.18, no seccomp
		// profile refusing io_setup); without it the store uses fdatasync(2).
		t.Fatalf("native AIO: %v", err)
	}
	t.Cleanup(func() {
		if err := a.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

// tempWAL is an empty file to sync, closed at the end of the test.
func tempWAL(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "wal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The WAL's sync goes through native AIO on Linux, and a sync of written data succeeds, again
// and again on the same context.
func TestAIOSync(t *testing.T) {
	a := newTestAIO(t)
	f := tempWAL(t)
	for i := range 3 {
		if _, err := f.Write([]byte("frame")); err != nil {
			t.Fatal(err)
		}
		if err := a.sync(f); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if a.fallback {
		t.Error("fell back to fdatasync(2) for a regular file")
	}
	// And the store's syncer is this one, not fdatasync(2).
	w := newWALSync(filepath.Join(t.TempDir(), "eidsp.db"))
	defer w.close()
	if reflect.ValueOf(w.syncFile).Pointer() == reflect.ValueOf(syncData).Pointer() {
		t.Error("the WAL syncer is fdatasync(2), not native AIO")
	}
}

// A file the kernel cannot fsync (a pipe) is refused at submission: the syncer falls back to
// fdatasync(2), whose answer (EINVAL) comes back, and stays with it.
func TestAIOSyncFallback(t *testing.T) {
	a := newTestAIO(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := a.sync(w); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("sync of a pipe: %v, want EINVAL", err)
	}
	if !a.fallback {
		t.Error("no fallback after EINVAL from io_submit")
	}
	f := tempWAL(t)
	if err := a.sync(f); err != nil {
		t.Errorf("sync through the fallback: %v", err)
	}
}

// A closed file is an error, not a sync of whatever descriptor now has its number.
func TestAIOSyncClosedFile(t *testing.T) {
	a := newTestAIO(t)
	f := tempWAL(t)
	f.Close()
	if err := a.sync(f); err == nil {
		t.Error("sync of a closed file: no error")
	}
}

// A completion that is not the one waited for (left behind by a failed wait) is an error, and
// a submission refused for any reason leaves the syncer with fdatasync(2).
func TestAIOSyncStaleCompletion(t *testing.T) {
	a := newTestAIO(t)
	f := tempWAL(t)
	a.seq = 7
	if err := a.submit(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	a.seq = 8 // as if submission 7's wait had failed and 8 were now waiting
	if err := a.wait(); err == nil {
		t.Fatal("completion of submission 7 answered submission 8")
	}
	// The path through sync: a refused submission turns the fallback on.
	b, err := newAIOSync()
	if err != nil {
		t.Fatal(err)
	}
	defer b.close() // its eventfd is closed below: the error is expected
	b.ev.Close()    // the eventfd is gone: the submission is refused (EBADF)
	if err := b.sync(f); err != nil {
		t.Errorf("sync with a broken eventfd: %v, want fdatasync(2)'s answer, nil", err)
	}
	if !b.fallback {
		t.Error("no fallback after a refused submission")
	}
	if err := b.sync(f); err != nil {
		t.Errorf("sync through the fallback: %v", err)
	}
}
