package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// Durable commits without holding the write lock through the fsync. At synchronous=FULL SQLite
// fsyncs the WAL inside each commit, with the file's one write lock held: while the disk
// answers, no other write of any process can start, and on a virtual disk that is most of a
// login's wait (docs/BENCHMARKS.md, benchmark 1). In WAL mode FULL differs from NORMAL only by
// that fsync. So a store at FULL opens its connections at NORMAL and makes the fsync itself,
// after the commit and outside the lock: the committer hands the group's durable writes to the
// syncer goroutine and goes on with the next group; the syncer fsyncs the WAL once for every
// group handed over meanwhile and only then answers those writes. A durable write still
// returns only once it is on stable storage. What NORMAL keeps as it is: the WAL header is
// fsynced when the log restarts, a checkpoint fsyncs the WAL before it copies pages into the
// database file and the database file after, and recovery keeps the frames up to the last
// commit whose checksums hold.
//
// What changes: another connection can read a durable write between its commit and its
// fsync. A power loss in that window forgets a write whose caller was never told it was done;
// what a reader concluded from it meanwhile is a refusal (a replay seen, a session gone) or a
// session whose ID only that caller would have had.

// walSync fsyncs the database's WAL file through a descriptor of its own: fsync makes all of a
// file's written data durable, whichever descriptor wrote it.
type walSync struct {
	path string
	// syncFile is fdatasync on Linux, through native AIO where it can (aiosync_linux.go);
	// tests replace it. closeSync releases what it holds.
	syncFile  func(*os.File) error
	closeSync func() error

	mu     sync.Mutex // held through a sync; guards f, closed and failed
	f      *os.File
	held   os.FileInfo // f's identity, from when it was opened
	closed bool        // by Close: a write racing it must not reopen the file
	// failed is the first sync's failure, and every later sync's answer: the commit it was
	// for is already visible, and on Linux a failed writeback may leave its pages marked clean,
	// so a later sync could succeed without them and WAL recovery, which stops at the first
	// frame that does not check, would then lose every commit after them too.
	failed error

	q    chan []*groupOp // durable writes committed and waiting for a sync, a group at a time
	done chan struct{}   // closed when the syncer has answered everything and ended
	// syncs counts the fsyncs made (tests and the benchmark read it).
	syncs atomic.Int64
}

func newWALSync(dbPath string) *walSync {
	sync, closeSync := newSyncer()
	return &walSync{
		path:      dbPath + "-wal",
		syncFile:  sync,
		closeSync: closeSync,
		q:         make(chan []*groupOp, 4*maxGroup),
		done:      make(chan struct{}),
	}
}

// sync makes everything committed to the WAL so far durable.
func (w *walSync) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	if w.closed {
		return errClosed
	}
	if err := w.follow(); err != nil {
		return fmt.Errorf("sync WAL: %w", err)
	}
	if w.f == nil {
		// No log: SQLite removes it only after a checkpoint has copied it into the database
		// file and fsynced that file (Open checked that the log is where we look).
		return nil
	}
	w.syncs.Add(1)
	if err := w.syncFile(w.f); err != nil {
		w.failed = fmt.Errorf("sync WAL (writes since the last good sync are committed but may not be durable; restart eidsp): %w", err)
		return w.failed
	}
	return nil
}

// broken is the failure of an earlier sync, if any: the store then refuses every durable write.
func (w *walSync) broken() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// requireFile fails unless the WAL file exists at path (Open calls it after the first write).
func (w *walSync) requireFile() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.follow(); err != nil {
		return err
	}
	if w.f == nil {
		return fmt.Errorf("no write-ahead log at %s: is journal_mode WAL?", w.path)
	}
	return nil
}

// follow makes f the file now at path: SQLite deletes the WAL when its last connection closes
// and creates a new one when a connection opens again, and a descriptor of the old file would
// sync nothing that matters.
func (w *walSync) follow() error {
	now, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return w.closeFile()
	}
	if err != nil {
		return err
	}
	if w.f != nil {
		if os.SameFile(now, w.held) {
			return nil
		}
		if err := w.closeFile(); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.held = f, held
	return nil
}

func (w *walSync) closeFile() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f, w.held = nil, nil
	return err
}

func (w *walSync) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return errors.Join(w.closeFile(), w.closeSync())
}

// run is the syncer: one fsync for every group queued while the last one ran, then the answers.
// It ends when q is closed and drained.
func (w *walSync) run() {
	defer close(w.done)
	for waiting := range w.q {
	gather:
		for {
			select {
			case more, ok := <-w.q:
				if !ok {
					break gather
				}
				waiting = append(waiting, more...)
			default:
				break gather
			}
		}
		err := w.sync()
		for _, op := range waiting {
			op.done <- err
		}
	}
}

// durable makes what is committed so far durable: at FULL, an fsync of the WAL.
func (s *Store) durable() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.sync()
}

// direct runs fn, a write other than a login's (documents and sweeps, both rare), on the
// committer's connection with writeMu held, and then, with writeMu released so that the
// committer goes on meanwhile, makes it durable. It runs on that connection because in WAL
// mode SQLite drops a connection's whole page cache when another connection has committed
// (see AppendAudit): a write from the pool would make the committer read back from the file
// every page its next writes touch. fn's error comes back as it is.
func (s *Store) direct(fn func(conn *sql.Conn) error) error { return s.directSteps(fn) }

// directSteps is direct for a write in steps, each its own transaction (a sweep's ranges): it
// takes writeMu for one step at a time and yields between steps, so that the committer's groups
// run between them, and makes them all durable with one fsync at the end. It stops at the first
// error; the steps before it are committed but only made durable by the next fsync, which is
// harmless for what it serves (deletes of expired records, which a sweep repeats).
func (s *Store) directSteps(steps ...func(conn *sql.Conn) error) error {
	s.directMu.RLock()
	defer s.directMu.RUnlock()
	for i, step := range steps {
		if i > 0 {
			// Go's mutex lets the goroutine that unlocks take it again before a woken waiter
			// runs (until the waiter has waited 1 ms); give the committer its turn first.
			runtime.Gosched()
		}
		s.writeMu.Lock()
		err := s.commit.usable()
		if err == nil {
			err = step(s.commit.conn)
		}
		s.writeMu.Unlock()
		if err != nil {
			return err
		}
	}
	return s.durable()
}
