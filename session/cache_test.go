package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/conformance"
	"github.com/eidsp/eidsp/session/sqlite"
)

// The cache in front of a store passes the whole store suite (one handle: what it writes it
// reads at once).
func TestCacheConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, now func() time.Time) (session.Store, func() session.Store) {
		st := openSQLite(t, filepath.Join(t.TempDir(), "eidsp.db"), now)
		return session.NewCache(st, session.CacheOptions{TTL: time.Hour, Now: now}), nil
	})
}

func openSQLite(t *testing.T, path string, now func() time.Time) session.Store {
	t.Helper()
	st, err := sqlite.Open(path, sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// countingStore counts the reads that reach the store, and can hold one read after it has read.
type countingStore struct {
	session.Store
	reads atomic.Int64
	hold  chan struct{} // when set, GetSession waits on it after reading
}

func (c *countingStore) GetSession(ctx context.Context, id string) (*session.Session, error) {
	s, err := c.Store.GetSession(ctx, id)
	c.reads.Add(1) // after the read: a test that waits for the count knows the read is done
	if c.hold != nil {
		<-c.hold
	}
	return s, err
}

type cacheWorld struct {
	t     *testing.T
	clk   *conformance.Clock
	raw   session.Store // the data, as another instance sees it
	count *countingStore
	cache session.Store
}

func newCacheWorld(t *testing.T, ttl time.Duration, opt session.CacheOptions) *cacheWorld {
	clk := conformance.NewClock(conformance.Start)
	path := filepath.Join(t.TempDir(), "eidsp.db")
	w := &cacheWorld{t: t, clk: clk, raw: openSQLite(t, path, clk.Now)}
	w.count = &countingStore{Store: openSQLite(t, path, clk.Now)}
	opt.TTL, opt.Now = ttl, clk.Now
	w.cache = session.NewCache(w.count, opt)
	return w
}

func (w *cacheWorld) newSession(nameID, sessionIndex string) string {
	w.t.Helper()
	id, err := session.NewID()
	if err != nil {
		w.t.Fatal(err)
	}
	now := w.clk.Now()
	err = w.raw.CreateSession(context.Background(), &session.Session{ID: id, Profile: "p", ExpiresAt: now.Add(2 * time.Hour),
		Identity: identity.Identity{NationalID: "12345678901", Kind: identity.KindFNR, Level: 4, IdP: "idporten",
			NameID: nameID, NameIDFormat: "transient", SessionIndex: sessionIndex, Instrument: "unknown"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *cacheWorld) get(id string) *session.Session {
	w.t.Helper()
	s, err := w.cache.GetSession(context.Background(), id)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func TestCacheAnswersFromMemory(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{})
	id := w.newSession("n1", "s1")
	for range 5 {
		if s := w.get(id); s == nil || s.ID != id || s.Identity.NationalID != "12345678901" || s.Identity.NameID != "n1" {
			t.Fatalf("GetSession = %+v", s)
		}
	}
	if n := w.count.reads.Load(); n != 1 {
		t.Fatalf("%d reads reached the store, want 1", n)
	}
	// What the caller changes in its copy does not change the cache.
	s := w.get(id)
	s.Identity.Level, s.ID = 3, "other"
	if s := w.get(id); s.Identity.Level != 4 || s.ID != id {
		t.Fatalf("the cached copy was changed through a returned one: %+v", s)
	}
}

func TestCacheNeverKeepsNotFound(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{})
	id, _ := session.NewID()
	if w.get(id) != nil {
		t.Fatal("a session that does not exist was found")
	}
	// Another instance makes a session with that ID (as a login finishing elsewhere would).
	now := w.clk.Now()
	if err := w.raw.CreateSession(context.Background(), &session.Session{ID: id, Profile: "p", ExpiresAt: now.Add(time.Hour),
		Identity: identity.Identity{IdP: "idporten", NameID: "n", Level: 3}}); err != nil {
		t.Fatal(err)
	}
	if w.get(id) == nil {
		t.Fatal("a session made at another instance is not seen: 'not found' was cached")
	}
}

func TestCacheDeleteHereIsImmediate(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{})
	a, b := w.newSession("n1", "s1"), w.newSession("n2", "s2")
	w.get(a)
	w.get(b)
	if err := w.cache.DeleteSession(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if w.get(a) != nil {
		t.Fatal("a session deleted through the cache is still answered")
	}
	if w.get(b) == nil {
		t.Fatal("deleting one session lost another")
	}
}

func TestCacheDeleteBySessionIndex(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{})
	a1, a2, other := w.newSession("n1", "s1"), w.newSession("n1", "s2"), w.newSession("n2", "s1")
	for _, id := range []string{a1, a2, other} {
		w.get(id)
	}
	n, err := w.cache.DeleteSessionsBySessionIndex(context.Background(), "idporten", "n1", "s1")
	if err != nil || n != 1 {
		t.Fatalf("DeleteSessionsBySessionIndex = %d, %v", n, err)
	}
	if w.get(a1) != nil || w.get(a2) == nil || w.get(other) == nil {
		t.Fatal("by SessionIndex: wrong sessions answered")
	}
	if n, err := w.cache.DeleteSessionsBySessionIndex(context.Background(), "idporten", "n1", ""); err != nil || n != 1 {
		t.Fatalf("every session of a NameID = %d, %v", n, err)
	}
	if w.get(a2) != nil || w.get(other) == nil {
		t.Fatal("by NameID: wrong sessions answered")
	}
}

// A session ended at another instance is seen here once the TTL has passed (and not before:
// that is the documented cost of the cache).
func TestCacheDeleteElsewhereWithinTTL(t *testing.T) {
	const ttl = 50 * time.Millisecond
	w := newCacheWorld(t, ttl, session.CacheOptions{})
	id := w.newSession("n1", "s1")
	w.get(id)
	if err := w.raw.DeleteSession(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * ttl)
	if w.get(id) != nil {
		t.Fatal("a session deleted at another instance is still answered after the TTL")
	}
}

// Expiry and idle time are judged on the session clock: a cached copy is not answered past
// ExpiresAt, nor once its LastSeen is IdleTimeout old (another instance may have touched the
// session since: the store is asked again).
func TestCacheExpiryAndIdleReadAgain(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{IdleTimeout: 30 * time.Minute})
	id := w.newSession("n1", "s1")
	w.get(id)
	w.clk.Advance(29 * time.Minute)
	if err := w.raw.TouchSession(context.Background(), id, w.clk.Now()); err != nil { // elsewhere
		t.Fatal(err)
	}
	w.get(id)
	if n := w.count.reads.Load(); n != 1 {
		t.Fatalf("%d reads before the idle limit, want 1", n)
	}
	w.clk.Advance(2 * time.Minute)
	s := w.get(id)
	if s == nil || !s.LastSeen.Equal(conformance.Start.Add(29*time.Minute)) {
		t.Fatalf("near the idle limit the store's LastSeen was not read: %+v", s)
	}
	if n := w.count.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
	w.clk.Advance(2 * time.Hour)
	if w.get(id) != nil {
		t.Fatal("an expired session was answered from the cache")
	}
}

func TestCacheTouchMovesLastSeen(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{IdleTimeout: 30 * time.Minute})
	id := w.newSession("n1", "s1")
	w.get(id)
	w.clk.Advance(10 * time.Minute)
	if err := w.cache.TouchSession(context.Background(), id, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if s := w.get(id); !s.LastSeen.Equal(w.clk.Now()) {
		t.Fatalf("LastSeen after a touch = %s", s.LastSeen)
	}
	if n := w.count.reads.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
	// A touch of a session the store no longer has forgets it.
	if err := w.raw.DeleteSession(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := w.cache.TouchSession(context.Background(), id, w.clk.Now().Add(time.Minute)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("touch of a deleted session: %v", err)
	}
	if w.get(id) != nil {
		t.Fatal("a session whose touch found nothing is still answered")
	}
}

// A read that found the session just before a logout deleted it must not put it back in the
// cache after the logout returned.
func TestCacheReadRacingDelete(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{})
	id := w.newSession("n1", "s1")
	w.count.hold = make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if s, err := w.cache.GetSession(context.Background(), id); err != nil || s == nil {
			t.Errorf("the racing read: %v", err)
		}
	})
	for w.count.reads.Load() == 0 { // the read has reached the store and holds what it read
		time.Sleep(time.Millisecond)
	}
	if err := w.cache.DeleteSession(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	close(w.count.hold)
	wg.Wait()
	if w.get(id) != nil {
		t.Fatal("a read that raced with the logout put the ended session back")
	}
}

func TestCacheBounded(t *testing.T) {
	w := newCacheWorld(t, time.Hour, session.CacheOptions{MaxEntries: 3})
	var ids []string
	for i := range 10 {
		ids = append(ids, w.newSession("n", string(rune('a'+i))))
	}
	for _, id := range ids {
		if w.get(id) == nil {
			t.Fatal("session not found")
		}
	}
	before := w.count.reads.Load()
	for _, id := range ids {
		w.get(id)
	}
	// At most 3 were kept, so at least 7 of the second round went to the store.
	if n := w.count.reads.Load() - before; n < 7 {
		t.Fatalf("only %d of 10 reads reached the store with room for 3", n)
	}
}

func TestCacheOff(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "eidsp.db"), time.Now)
	if got := session.NewCache(st, session.CacheOptions{TTL: 0}); got != st {
		t.Fatalf("TTL 0 gave %T, want the store itself", got)
	}
}

// Copies are dropped two TTL periods after they were read: the memory follows the sessions
// read lately, not every session ever read.
func TestCacheForgetsOldCopies(t *testing.T) {
	// The TTL runs on the wall clock, so the ten reads must fit in one period however slow
	// the machine: the sessions are written first (a durable write each, milliseconds on a
	// busy disk; on CI the ten once outlasted a 30 ms period), then read, with a period ample
	// for ten reads.
	const ttl = 200 * time.Millisecond
	w := newCacheWorld(t, ttl, session.CacheOptions{})
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = w.newSession("n", string(rune('a'+i)))
	}
	for _, id := range ids {
		w.get(id)
	}
	if n := session.CacheLen(w.cache); n != 10 {
		t.Fatalf("%d copies after 10 reads", n)
	}
	for range 2 {
		time.Sleep(2 * ttl)
		w.get(w.newSession("n", "later"))
	}
	if n := session.CacheLen(w.cache); n != 2 {
		t.Fatalf("%d copies two periods later, want the 2 read since", n)
	}
}
