package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
)

// Group commit. With synchronous=FULL a durable write waits for an fsync of the WAL, and a
// login makes three writes (one of them durable, see Store.wal); on a disk the fsyncs were the
// largest cost of a login after its cryptography (docs/BENCHMARKS.md, benchmark 1). So the
// writes of this process go through one committer goroutine: it takes every write queued while
// the previous commit was running and runs them in one transaction, then answers each: a
// relaxed write at once, a durable one after the syncer's next fsync (walsync.go), which
// covers every group committed before it. A write that finds the committer idle may wait a
// little for company (the commit delay, below) and, if none comes, is committed on its own. A
// write returns only after the commit that holds it, and a durable one only once that commit is
// on stable storage: the guarantee of each call is unchanged.
//
// A statement that fails inside a group (a constraint, an I/O error) could leave SQLite's
// transaction rolled back underneath the others, so the group is rolled back and each of its
// writes is run again on its own: the error reaches only its caller, the others commit.

// maxGroup bounds one transaction; more writes than this wait for the next.
const maxGroup = 64

// Commit delay. Under a steady stream of logins the writes seldom overlap: a login's three are
// spread over its HTTP steps, so the committer usually finds one write and commits it alone,
// and a transaction of one write costs nearly what one of several does (BEGIN, the locks on
// the WAL index, the log frames, COMMIT). So, as PostgreSQL's commit_delay does when other
// transactions are active, the committer holding a lone write waits up to commitDelay for a
// second one, and commits the two (with whatever queued meanwhile) together; but only while
// waiting pays: a wait that brings no other write doubles the number of lone writes committed
// at once before the next wait (up to 64), and a write that finds others queued, or a wait
// that brings one, resets that. A single caller writing in sequence so pays one delay in 64
// writes; concurrent writers share transactions. Measured in docs/BENCHMARKS.md (benchmark 1,
// item 15): two goroutines' login writes 350 → 257 µs of CPU per login, and the wait ends
// when the other goroutine's write arrives; waiting for a third as well (delayGroup 4) cost
// those two goroutines the whole millisecond every time, for no gain in the login benchmark.
const (
	commitDelay = time.Millisecond
	delayGroup  = 2
	maxSkip     = 64
)

// delayer decides whether the committer waits for company (committer goroutine only).
type delayer struct {
	delay   time.Duration // ≤ 0: never wait
	timer   *time.Timer
	skip    int // lone writes still to commit at once
	backoff int // the skip the last wait that brought nothing set (0: none since company)
	waits   int // waits made (tests read it)
}

// gather is called with batch holding the write the committer just took. If others are
// queued behind it, writes overlap and it returns at once (the committer takes them next);
// otherwise it may wait for one, and returns batch with what arrived meanwhile.
func (d *delayer) gather(batch []*groupOp, ops <-chan *groupOp, quit <-chan struct{}) []*groupOp {
	if d.delay <= 0 {
		return batch
	}
	if len(ops) > 0 {
		d.company()
		return batch
	}
	if d.skip > 0 {
		d.skip--
		return batch
	}
	if d.timer == nil {
		d.timer = time.NewTimer(d.delay)
	} else {
		d.timer.Reset(d.delay)
	}
	defer d.timer.Stop()
	d.waits++
wait:
	for len(batch) < delayGroup {
		select {
		case op := <-ops:
			batch = append(batch, op)
		case <-d.timer.C:
			break wait
		case <-quit:
			break wait
		}
	}
	if len(batch) > 1 {
		d.company()
		return batch
	}
	d.backoff = min(max(2*d.backoff, 2), maxSkip)
	d.skip = d.backoff
	return batch
}

// company: writes are overlapping, so waiting for them pays again.
func (d *delayer) company() { d.skip, d.backoff = 0, 0 }

var errClosed = errors.New("session/sqlite: store closed")

// groupOp is one write. run executes its statements (Store.w) on the committer's connection,
// inside the transaction of its group or of its own (never in autocommit: a write is answered
// only after a COMMIT that succeeded, so even a transaction somehow left open could not take
// it in and lose it); it may run twice (after a failed group) and must set its outputs afresh
// each time. A relaxed write (a pending login's, TouchSession) needs no fsync of its own (see
// Store.wal): it is answered when its group commits.
type groupOp struct {
	run     func(ctx context.Context) error
	relaxed bool
	done    chan error // buffered: the committer never waits for the caller
}

type committer struct {
	// conn is the committer's own connection, which Store.w is prepared on (nil once broken).
	conn *sql.Conn
	// broken: the connection had to be replaced and no other could be had or prepared
	// (replaceConn); every write since fails with it, and Ping reports it.
	broken atomic.Pointer[error]
	ops    chan *groupOp
	quit   chan struct{}
	done   chan struct{}
	// groups and grouped count the transactions of more than one write and the writes they
	// held (tests and the benchmark read them).
	groups, grouped atomic.Int64
	// toSync: the durable writes of the group just committed, for the syncer (committer only).
	toSync []*groupOp
	delay  delayer
}

// startCommitter takes a connection of the pool for the committer, prepares its statements
// there and starts it; delay is Options.CommitDelay (0: commitDelay; negative: never wait).
func (s *Store) startCommitter(ctx context.Context, delay time.Duration) error {
	if delay == 0 {
		delay = commitDelay
	}
	conn, err := s.openWriter(ctx)
	if err != nil {
		return err
	}
	s.commit = &committer{conn: conn, ops: make(chan *groupOp, 4*maxGroup), quit: make(chan struct{}), done: make(chan struct{}),
		delay: delayer{delay: delay}}
	if s.wal != nil {
		go s.wal.run()
	}
	go s.runCommitter()
	return nil
}

// write submits run and waits for its commit. A ctx that has already ended fails it before
// anything is done; once submitted, the write is carried out whatever happens to ctx.
func (s *Store) write(ctx context.Context, relaxed bool, run func(ctx context.Context) error) error {
	return s.submit(ctx, &groupOp{run: run, relaxed: relaxed})
}

func (s *Store) submit(ctx context.Context, op *groupOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan error, 1)
	select {
	case s.commit.ops <- op:
	case <-s.commit.done:
		return errClosed
	}
	select {
	case err := <-op.done:
		return err
	case <-s.commit.done:
		// The committer answers everything it took before it ends.
		select {
		case err := <-op.done:
			return err
		default:
			return errClosed
		}
	}
}

func (s *Store) runCommitter() {
	c := s.commit
	defer func() {
		// The writes handed to the syncer are answered before Close goes on.
		if s.wal != nil {
			close(s.wal.q)
			<-s.wal.done
		}
		s.w.close()
		if c.conn != nil {
			c.conn.Close()
		}
		close(c.done)
	}()
	batch := make([]*groupOp, 0, maxGroup)
	for {
		select {
		case <-c.quit:
			for {
				select {
				case op := <-c.ops:
					op.done <- errClosed
				default:
					return
				}
			}
		case op := <-c.ops:
			batch = c.delay.gather(append(batch[:0], op), c.ops, c.quit)
		}
		// writeMu first, then what queued: while another writer of this process (a sweep, an
		// upload) holds the lock, the writes behind it gather into one group.
		s.writeMu.Lock()
	gather:
		for len(batch) < maxGroup {
			select {
			case op := <-c.ops:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		s.runGroup(batch)
		s.writeMu.Unlock()
		if len(c.toSync) > 0 {
			s.wal.q <- c.toSync
			c.toSync = nil // the syncer owns that slice now
		}
		clear(batch)
	}
}

// answer gives op its outcome: now, or once the syncer has made its commit durable.
func (s *Store) answer(op *groupOp, err error) {
	if err != nil || op.relaxed || s.wal == nil {
		op.done <- err
		return
	}
	s.commit.toSync = append(s.commit.toSync, op)
}

// runGroup commits batch (writeMu held) and answers each write.
func (s *Store) runGroup(batch []*groupOp) {
	ctx := context.Background()
	if len(batch) == 1 {
		s.answer(batch[0], s.runAlone(ctx, batch[0]))
		return
	}
	opFailed, err := s.runInOne(ctx, batch)
	switch {
	case err == nil:
		s.commit.groups.Add(1)
		s.commit.grouped.Add(int64(len(batch)))
		for _, op := range batch {
			s.answer(op, nil)
		}
	case opFailed:
		// Rolled back: each on its own, so that only the failing write fails.
		for _, op := range batch {
			s.answer(op, s.runAlone(ctx, op))
		}
	default:
		// BEGIN or COMMIT failed (another process held the lock past busy_timeout, the disk
		// failed): nothing of the group is committed, and running each again would wait as
		// long once per write.
		for _, op := range batch {
			s.answer(op, err)
		}
	}
}

// runAlone commits op in a transaction of its own.
func (s *Store) runAlone(ctx context.Context, op *groupOp) error {
	_, err := s.runInOne(ctx, []*groupOp{op})
	return err
}

// runInOne runs every write of batch in one transaction and commits it; any error rolls the
// whole transaction back. opFailed tells a write's error from BEGIN's or COMMIT's.
func (s *Store) runInOne(ctx context.Context, batch []*groupOp) (opFailed bool, err error) {
	if err := s.commit.brokenErr(); err != nil {
		return false, err
	}
	if _, err := s.w.begin.ExecContext(ctx); err != nil {
		// A transaction left open on the connection would refuse every BEGIN after it: end
		// it, and the next group starts clean. (A failed ROLLBACK has the connection replaced,
		// so none should be; this is the last guard, and a ROLLBACK with none is harmless.)
		s.rollback(ctx)
		return false, err
	}
	for _, op := range batch {
		if err := op.run(ctx); err != nil {
			s.rollback(ctx)
			return true, err
		}
	}
	if _, err := s.w.commit.ExecContext(ctx); err != nil {
		// A COMMIT that fails (SQLITE_BUSY past busy_timeout, an I/O error) can leave the
		// transaction open; SQLite has rolled back some failures itself. (No test makes a
		// COMMIT fail: in WAL mode with BEGIN IMMEDIATE only the disk can.)
		s.rollback(ctx)
		return false, err
	}
	return false, nil
}

// sqliteError is SQLITE_ERROR, the primary result code of a ROLLBACK with no transaction open.
const sqliteError = 1

// rollback ends the committer's transaction, if one is open. ROLLBACK with none open fails
// with SQLITE_ERROR ("no transaction is active"), which says nothing. Any other failure (an
// I/O error) leaves the connection in a state we cannot know, perhaps a transaction still
// holding the write lock that every other writer would wait for through busy_timeout: so the
// connection is replaced (SQLite rolls back what a closed connection had open).
func (s *Store) rollback(ctx context.Context) {
	if _, err := s.w.rollback.ExecContext(ctx); err != nil && !noTransaction(err) {
		s.replaceConn(ctx)
	}
}

// noTransaction reports whether err is SQLite's answer to a ROLLBACK with no transaction open.
func noTransaction(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code() == sqliteError
}

// replaceConn drops the committer's connection and takes another of the pool, with its
// statements (committer only, writeMu held). If that fails, the committer is broken: every
// write after fails with the error, and Ping reports it, until eidsp is restarted.
func (s *Store) replaceConn(ctx context.Context) {
	c := s.commit
	s.w.close()
	// ErrBadConn from Raw makes database/sql close the connection instead of pooling it.
	_ = c.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.conn.Close()
	c.conn = nil
	conn, err := s.openWriter(ctx)
	if err != nil {
		err = fmt.Errorf("session/sqlite: the writer's connection failed and could not be replaced: %w", err)
		c.broken.Store(&err)
		return
	}
	c.conn = conn
}

// openWriter takes a connection of the pool and prepares the committer's statements (s.w) on
// it; on failure it releases both.
func (s *Store) openWriter(ctx context.Context) (*sql.Conn, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: writer connection: %w", err)
	}
	if err := prepareWrites(ctx, conn, &s.w); err != nil {
		s.w.close() // those prepared before the failure
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// usable is nil if conn may be used (writeMu held): errClosed once the committer has ended
// (its connection is closed), replaceConn's error if it broke (conn is nil), else nil.
func (c *committer) usable() error {
	select {
	case <-c.done:
		return errClosed
	default:
		return c.brokenErr()
	}
}

// brokenErr is the error replaceConn left, or nil.
func (c *committer) brokenErr() error {
	if p := c.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// GroupStats reports the transactions of more than one write the committer made and the writes
// they held, since Open.
func (s *Store) GroupStats() (groups, writes int64) {
	return s.commit.groups.Load(), s.commit.grouped.Load()
}
