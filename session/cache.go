package session

import (
	"context"
	"sync"
	"time"
)

// CacheOptions configures NewCache.
type CacheOptions struct {
	// TTL is how long a session read from the store may be answered from memory. A session
	// ended through another instance (or another process on the same SQLite file) is still
	// seen here for at most TTL; one ended through this Cache is gone at once. Zero or less
	// means no cache: NewCache returns the store itself.
	TTL time.Duration
	// IdleTimeout is the caller's idle timeout: a cached copy whose LastSeen is that old is
	// read again instead of being judged idle on what may be an older LastSeen than another
	// instance has written since.
	IdleTimeout time.Duration
	// MaxEntries bounds the sessions read in one TTL period that are kept: when full, the cache
	// starts over empty. Default 100,000.
	MaxEntries int
	// Now is the session clock (the one ExpiresAt and LastSeen are judged by); default
	// time.Now. The TTL itself is always measured on the monotonic wall clock.
	Now func() time.Time
}

// Invalidator is offered by a store that many instances share and that can tell each of them,
// as it happens, which sessions were ended through any of them (session/redis, by pub/sub).
// A Cache in front of such a store forgets those sessions at once instead of after its TTL.
type Invalidator interface {
	// WatchEnded calls report until ctx ends: Live once every later ending will be reported,
	// Lost whenever endings may have been missed (then Live again when they no longer are), and
	// each ended session (IDHash) or user (IdP, NameID, and SessionIndex or "" for all).
	WatchEnded(ctx context.Context, report func(Ended))
}

// Ended is one report of an Invalidator.
type Ended struct {
	Live, Lost                bool
	IDHash                    string // HashKey of the session ID
	IdP, NameID, SessionIndex string
}

// Cache is a Store that answers GetSession from memory for a short while, for forward-auth
// (/auth) and reverse-proxy traffic, which reads the same session on every request of a page.
// Only found sessions are kept, never "not found", so a session made at another instance is
// seen at once. Every other method goes to the store; DeleteSession and
// DeleteSessionsBySessionIndex also forget what they end, before and after the store does, and
// an epoch keeps a read that raced with them from putting the ended session back. When the store
// is an Invalidator, sessions ended at other instances are forgotten as soon as the store reports
// them, and nothing is cached while the reports may be incomplete; the TTL still bounds a copy's
// age.
type Cache struct {
	Store
	opt CacheOptions

	mu sync.RWMutex
	// entries and older hold the copies read in this TTL period and the one before it, by
	// HashKey(id) (no cookie value is kept in memory); every TTL the older ones are dropped, so
	// the memory is what two periods' reads need, however many sessions there are.
	entries, older map[string]cacheEntry
	rotated        time.Time
	epoch          uint64 // counts deletions; a read that saw another epoch is not kept
	// live is false while an Invalidator's reports may be incomplete: nothing is kept then.
	live bool
	stop context.CancelFunc
	done chan struct{}
}

type cacheEntry struct {
	sess      Session
	freshTill time.Time // monotonic wall clock
}

// NewCache wraps st; with opt.TTL ≤ 0 it returns st unchanged.
func NewCache(st Store, opt CacheOptions) Store {
	if opt.TTL <= 0 {
		return st
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = 100_000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Cache{Store: st, opt: opt, entries: map[string]cacheEntry{}, older: map[string]cacheEntry{},
		rotated: time.Now(), live: true}
	if inv, ok := st.(Invalidator); ok {
		ctx, stop := context.WithCancel(context.Background())
		c.live, c.stop, c.done = false, stop, make(chan struct{})
		go func() {
			defer close(c.done)
			inv.WatchEnded(ctx, c.ended)
		}()
	}
	return c
}

// ended applies one report of the store's Invalidator.
func (c *Cache) ended(e Ended) {
	switch {
	case e.Lost || e.Live: // Lost alone: stop caching; Live (with or without Lost): start afresh
		c.mu.Lock() // one step: no read may keep a copy between the clearing and the verdict
		c.forgetLocked(func(m map[string]cacheEntry) { clear(m) })
		c.live = e.Live
		c.mu.Unlock()
	case e.IDHash != "":
		c.forget(func(m map[string]cacheEntry) { delete(m, e.IDHash) })
	default:
		c.forget(func(m map[string]cacheEntry) { dropUser(m, e.IdP, e.NameID, e.SessionIndex) })
	}
}

// Close stops watching the store's reports and closes the store.
func (c *Cache) Close() error {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	return c.Store.Close()
}

func dropUser(m map[string]cacheEntry, idp, nameID, sessionIndex string) {
	for k, e := range m {
		if e.sess.Identity.IdP == idp && e.sess.Identity.NameID == nameID &&
			(sessionIndex == "" || e.sess.Identity.SessionIndex == sessionIndex) {
			delete(m, k)
		}
	}
}

// GetSession answers from memory while the copy is fresh, not expired and not near idle;
// otherwise from the store.
func (c *Cache) GetSession(ctx context.Context, id string) (*Session, error) {
	key := HashKey(id)
	c.mu.RLock()
	e, ok := c.entries[key]
	if !ok {
		e, ok = c.older[key]
	}
	epoch := c.epoch
	c.mu.RUnlock()
	if ok && time.Now().Before(e.freshTill) {
		now := c.opt.Now()
		if now.Before(e.sess.ExpiresAt) && (c.opt.IdleTimeout <= 0 || now.Before(e.sess.LastSeen.Add(c.opt.IdleTimeout))) {
			s := e.sess
			s.ID = id
			return &s, nil
		}
	}
	sess, err := c.Store.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.epoch == epoch && c.live {
		t := time.Now()
		if t.Sub(c.rotated) >= c.opt.TTL {
			c.older, c.entries, c.rotated = c.entries, map[string]cacheEntry{}, t
		}
		if len(c.entries) >= c.opt.MaxEntries {
			clear(c.entries)
			clear(c.older)
		}
		kept := *sess
		kept.ID = "" // the cookie value stays out of the cache
		c.entries[key] = cacheEntry{sess: kept, freshTill: t.Add(c.opt.TTL)}
	}
	c.mu.Unlock()
	return sess, nil
}

// TouchSession writes through and moves the cached LastSeen forward.
func (c *Cache) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	err := c.Store.TouchSession(ctx, id, lastSeen)
	key := HashKey(id)
	c.mu.Lock()
	for _, m := range []map[string]cacheEntry{c.entries, c.older} {
		if e, ok := m[key]; ok {
			if err != nil {
				delete(m, key)
			} else if lastSeen.After(e.sess.LastSeen) {
				e.sess.LastSeen = lastSeen
				m[key] = e
			}
		}
	}
	c.mu.Unlock()
	return err
}

// DeleteSession forgets the session here and removes it from the store.
func (c *Cache) DeleteSession(ctx context.Context, id string) error {
	key := HashKey(id)
	c.forget(func(m map[string]cacheEntry) { delete(m, key) })
	err := c.Store.DeleteSession(ctx, id)
	c.forget(func(m map[string]cacheEntry) { delete(m, key) })
	return err
}

// DeleteSessionsBySessionIndex forgets every cached session of that IdP and NameID (and
// SessionIndex, when given) and removes them from the store.
func (c *Cache) DeleteSessionsBySessionIndex(ctx context.Context, idp, nameID, sessionIndex string) (int, error) {
	drop := func(m map[string]cacheEntry) { dropUser(m, idp, nameID, sessionIndex) }
	c.forget(drop)
	n, err := c.Store.DeleteSessionsBySessionIndex(ctx, idp, nameID, sessionIndex)
	c.forget(drop)
	return n, err
}

// forget applies drop to both periods' copies under the lock and starts a new epoch, so that a GetSession that read the
// store before the deletion does not keep what it read.
func (c *Cache) forget(drop func(map[string]cacheEntry)) {
	c.mu.Lock()
	c.forgetLocked(drop)
	c.mu.Unlock()
}

func (c *Cache) forgetLocked(drop func(map[string]cacheEntry)) {
	drop(c.entries)
	drop(c.older)
	c.epoch++
}
