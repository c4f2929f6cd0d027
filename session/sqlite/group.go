package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
)

// Group commit. With synchronous=FULL every commit waits for an fsync of the WAL, and a login
// makes four writes (one of them fsynced, see Store.relaxed); on a disk the fsyncs were the
// largest cost of a login after its cryptography (docs/BENCHMARKS.md, benchmark 1). So the
// writes of this process go through one committer goroutine: it takes every write queued while the
// previous commit was running and runs them in one transaction, one fsync for all, then
// answers each. No write waits for company: a write that finds the committer idle is committed
// at once, on its own, in autocommit. A write returns only after the commit that holds it: the
// guarantee of each call (committed means durable) is unchanged.
//
// A statement that fails inside a group (a constraint, an I/O error) could leave SQLite's
// transaction rolled back underneath the others, so the group is rolled back and each of its
// writes is run again on its own: the error reaches only its caller, the others commit.

// maxGroup bounds one transaction; more writes than this wait for the next.
const maxGroup = 64

var errClosed = errors.New("session/sqlite: store closed")

// groupOp is one write. run executes it with tx, or in autocommit when tx is nil, using the
// statements st of the handle it runs on; it may run twice (after a failed group) and must set
// its outputs afresh each time. A relaxed write (a pending login's, ClaimRelaxed) needs no fsync of its own:
// a group of relaxed writes only commits on the relaxed handle (see Store.relaxed).
type groupOp struct {
	run     func(ctx context.Context, tx *sql.Tx, st *statements) error
	relaxed bool
	// ownTx: run makes more than one statement, so on its own it still runs in a transaction
	// (all of it or nothing), never in autocommit.
	ownTx bool
	done  chan error // buffered: the committer never waits for the caller
}

type committer struct {
	ops  chan *groupOp
	quit chan struct{}
	done chan struct{}
	// groups and grouped count the transactions of more than one write and the writes they
	// held; relaxedCommits the commits made on the relaxed handle (tests and the benchmark
	// read them).
	groups, grouped, relaxedCommits atomic.Int64
}

func (s *Store) startCommitter() {
	s.commit = &committer{ops: make(chan *groupOp, 4*maxGroup), quit: make(chan struct{}), done: make(chan struct{})}
	go s.runCommitter()
}

// write submits run and waits for its commit. A ctx that has already ended fails it before
// anything is done; once submitted, the write is carried out whatever happens to ctx.
func (s *Store) write(ctx context.Context, relaxed bool, run func(ctx context.Context, tx *sql.Tx, st *statements) error) error {
	return s.submit(ctx, &groupOp{run: run, relaxed: relaxed})
}

// writeTx is write for a run of several statements: alone or in a group, all or nothing.
func (s *Store) writeTx(ctx context.Context, run func(ctx context.Context, tx *sql.Tx, st *statements) error) error {
	return s.submit(ctx, &groupOp{run: run, ownTx: true})
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
	defer close(c.done)
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
			batch = append(batch[:0], op)
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
		clear(batch)
	}
}

// handle is where batch commits: the relaxed handle when every write of it is relaxed (and the
// store has one), the durable one otherwise.
func (s *Store) handle(batch []*groupOp) (*sql.DB, *statements) {
	if s.relaxed == nil {
		return s.db, &s.stmts
	}
	for _, op := range batch {
		if !op.relaxed {
			return s.db, &s.stmts
		}
	}
	s.commit.relaxedCommits.Add(1)
	return s.relaxed, &s.relaxedStmts
}

// runGroup commits batch (writeMu held) and answers each write.
func (s *Store) runGroup(batch []*groupOp) {
	ctx := context.Background()
	if len(batch) == 1 {
		batch[0].done <- s.runAlone(ctx, batch)
		return
	}
	db, st := s.handle(batch)
	opFailed, err := s.runInOne(ctx, db, st, batch)
	switch {
	case err == nil:
		s.commit.groups.Add(1)
		s.commit.grouped.Add(int64(len(batch)))
		for _, op := range batch {
			op.done <- nil
		}
	case opFailed:
		// Rolled back: each on its own, so that only the failing write fails.
		for i, op := range batch {
			op.done <- s.runAlone(ctx, batch[i:i+1])
		}
	default:
		// BEGIN or COMMIT failed (another process held the lock past busy_timeout, the disk
		// failed): nothing of the group is committed, and running each again would wait as
		// long once per write.
		for _, op := range batch {
			op.done <- err
		}
	}
}

// runAlone commits the one write of one: in autocommit, or in a transaction of its own when it
// asks for one.
func (s *Store) runAlone(ctx context.Context, one []*groupOp) error {
	db, st := s.handle(one)
	if !one[0].ownTx {
		return one[0].run(ctx, nil, st)
	}
	_, err := s.runInOne(ctx, db, st, one)
	return err
}

// runInOne runs every write of batch in one transaction and commits it; any error rolls the
// whole transaction back. opFailed tells a write's error from BEGIN's or COMMIT's.
func (s *Store) runInOne(ctx context.Context, db *sql.DB, st *statements, batch []*groupOp) (opFailed bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	for _, op := range batch {
		if err := op.run(ctx, tx, st); err != nil {
			tx.Rollback()
			return true, err
		}
	}
	return false, tx.Commit()
}

// on is st inside tx, or st itself (autocommit) when tx is nil.
func on(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if tx == nil {
		return st
	}
	return tx.StmtContext(ctx, st)
}

// GroupStats reports the transactions of more than one write the committer made and the writes
// they held, since Open.
func (s *Store) GroupStats() (groups, writes int64) {
	return s.commit.groups.Load(), s.commit.grouped.Load()
}
