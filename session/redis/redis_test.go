package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/internal/redistest"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/conformance"
)

var prefixes atomic.Int64

// freshPrefix gives each store of the shared server its own key space.
func freshPrefix() string { return fmt.Sprintf("eidsp-test-%d:", prefixes.Add(1)) }

// newStore opens a store on the shared server unless opt names another address, and closes
// it when the test ends.
func newStore(t *testing.T, opt Options) *Store {
	t.Helper()
	needRedis(t)
	if opt.Addr == "" {
		opt.Addr = shared.Addr()
	}
	s, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient looks at what the store wrote, in database db of the shared server, which it
// empties first.
func rawClient(t *testing.T, db int) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: shared.Addr(), DB: db})
	t.Cleanup(func() { c.Close() })
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	needRedis(t)
	conformance.Run(t, func(t *testing.T, now func() time.Time) (session.Store, func() session.Store) {
		// Another handle is another client on the same key prefix, as a second instance would open.
		prefix := freshPrefix()
		open := func() session.Store {
			s, err := Open(context.Background(), Options{Addr: shared.Addr(), KeyPrefix: prefix, Now: now})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
		return open(), open
	})
}

func newID(t *testing.T) string {
	t.Helper()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testSession(t *testing.T, now time.Time, idp, nameID, index string) *session.Session {
	t.Helper()
	return sessionWithID(newID(t), now, idp, nameID, index)
}

func sessionWithID(id string, now time.Time, idp, nameID, index string) *session.Session {
	return &session.Session{
		ID: id,
		Identity: identity.Identity{
			NationalID: "12345678901", Kind: identity.KindFNR, Level: 4, IdP: idp,
			SessionIndex: index, NameID: nameID, NameIDFormat: "transient",
		},
		Profile:   "idporten",
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(8 * time.Hour),
	}
}

func testPending(t *testing.T, now time.Time) *session.PendingLogin {
	t.Helper()
	return &session.PendingLogin{
		Key: newID(t), RequestID: "_" + newID(t), IdP: "idporten", ReturnTo: "/cases",
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}
}

// dump returns every key of the database with its members, fields and values.
func dump(t *testing.T, c *goredis.Client) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := c.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "string":
			v, err := c.Get(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[key] = []string{v}
		case "hash":
			m, err := c.HGetAll(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range m {
				out[key] = append(out[key], f, v)
			}
		case "set":
			m, err := c.SMembers(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[key] = m
		case "list":
			m, err := c.LRange(ctx, key, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[key] = m
		default:
			t.Fatalf("key %s has type %s, which the store never writes", key, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRawIDsNotStored(t *testing.T) {
	needRedis(t)
	const db = 1
	c := rawClient(t, db)
	clk := conformance.NewClock(time.Now())
	s := newStore(t, Options{DB: db, Now: clk.Now})
	ctx := context.Background()

	sess := testSession(t, clk.Now(), "idporten", "nameid-"+newID(t), "idx-1")
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, sess.ID, clk.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	pend := testPending(t, clk.Now())
	if err := s.PutPending(ctx, pend); err != nil {
		t.Fatal(err)
	}
	assertionID := "_assertion-" + newID(t)
	if err := s.Claim(ctx, assertionID, clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// What an admin action leaves behind: a document and an audit event, scanned like the rest.
	doc := &session.Document{Key: "idp-metadata/idporten", Value: []byte("<EntityDescriptor/>"), UpdatedBy: "admin 123456*****"}
	if err := s.PutDocument(ctx, doc); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, &session.AuditEvent{Event: "login", Result: "ok", IdP: "idporten", Ref: "req-1"}); err != nil {
		t.Fatal(err)
	}

	all := dump(t, c)
	for _, key := range []string{
		DefaultKeyPrefix + "session:" + session.HashKey(sess.ID),
		DefaultKeyPrefix + "pending:" + session.HashKey(pend.Key),
		DefaultKeyPrefix + "claim:" + session.HashKey(assertionID),
		DefaultKeyPrefix + "doc:" + doc.Key,
		DefaultKeyPrefix + "audit",
	} {
		if _, ok := all[key]; !ok {
			t.Errorf("no key %s; keys: %v", key, keysOf(all))
		}
	}
	sawNameID := false
	for key, vals := range all {
		for _, text := range append([]string{key}, vals...) {
			for what, raw := range map[string]string{
				"session ID": sess.ID, "RelayState": pend.Key, "claim key": assertionID,
			} {
				if strings.Contains(text, raw) {
					t.Errorf("key %s holds the raw %s: %q", key, what, text)
				}
			}
			sawNameID = sawNameID || strings.Contains(text, sess.Identity.NameID)
		}
	}
	if !sawNameID {
		t.Error("sanity check: the NameID is nowhere either; did dump read the values?")
	}
}

func keysOf(m map[string][]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// After a full round of operations every key left has a TTL, except the documents and the audit
// list, which have none; the index set outlives every session it lists, and a session's TTL
// ends at its ExpiresAt.
func TestEveryKeyExpires(t *testing.T) {
	needRedis(t)
	const db = 2
	c := rawClient(t, db)
	clk := conformance.NewClock(time.Now())
	s := newStore(t, Options{DB: db, Now: clk.Now})
	ctx := context.Background()
	now := clk.Now()

	short := testSession(t, now, "idporten", "alice", "idx-1")
	short.ExpiresAt = now.Add(time.Hour)
	long := testSession(t, now, "idporten", "alice", "idx-2")
	gone := testSession(t, now, "idporten", "alice", "idx-3")
	deleted := testSession(t, now, "buypass", "bob", "idx-1")
	for _, sess := range []*session.Session{long, short, gone, deleted} { // longest first
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchSession(ctx, long.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteSessionsBySessionIndex(ctx, "idporten", "alice", "idx-3"); err != nil || n != 1 {
		t.Fatalf("DeleteSessionsBySessionIndex = %d, %v; want 1", n, err)
	}
	if err := s.DeleteSession(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	kept, taken := testPending(t, now), testPending(t, now)
	for _, p := range []*session.PendingLogin{kept, taken} {
		if err := s.PutPending(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TakePending(ctx, taken.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "once", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "twice", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if err := s.Claim(ctx, "twice", clk.Now().Add(time.Minute)); err != nil { // re-claim after until
		t.Fatal(err)
	}
	doc := &session.Document{Key: "idp-metadata/idporten", Value: []byte("<EntityDescriptor/>")}
	for _, key := range []string{doc.Key, "switch/gone"} {
		if err := s.PutDocument(ctx, &session.Document{Key: key, Value: doc.Value}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteDocument(ctx, "switch/gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, &session.AuditEvent{Event: "admin", Result: "ok", Action: "upload idp metadata"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}

	all := dump(t, c)
	if len(all) == 0 {
		t.Fatal("no keys at all")
	}
	pttl := func(key string) time.Duration {
		t.Helper()
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ttl
	}
	// The only keys without a TTL; PTTL reports -1ns for "exists, no TTL" (go-redis keeps
	// Redis's -1 as a Duration).
	noTTL := []string{DefaultKeyPrefix + "doc:" + doc.Key, DefaultKeyPrefix + "audit"}
	for _, key := range noTTL {
		if _, ok := all[key]; !ok {
			t.Errorf("key %s missing", key)
		} else if ttl := pttl(key); ttl != -1 {
			t.Errorf("key %s: PTTL %v, want none (-1)", key, ttl)
		}
	}
	for key := range all {
		if slices.Contains(noTTL, key) {
			continue
		}
		if ttl := pttl(key); ttl <= 0 {
			t.Errorf("key %s: PTTL %v, want a TTL", key, ttl)
		}
	}
	sessionKey := func(sess *session.Session) string { return DefaultKeyPrefix + "session:" + session.HashKey(sess.ID) }
	userKey := s.userKey("idporten", "alice")
	for _, sess := range []*session.Session{short, long} {
		if _, ok := all[sessionKey(sess)]; !ok {
			t.Fatalf("session %s missing", sess.Profile)
		}
		// The set's TTL is read first: time passing between the two reads then makes the set
		// look longer-lived than the session, never shorter.
		setTTL := pttl(userKey)
		ttl := pttl(sessionKey(sess))
		// The store's clock stood still since the session was created, so Redis's TTL ends a
		// little after ExpiresAt (by the time the test has run), never before it.
		if want := time.Until(sess.ExpiresAt); ttl > want+10*time.Second || ttl < want-time.Minute {
			t.Errorf("session TTL %v, want about %v (until ExpiresAt)", ttl, want)
		}
		if setTTL < ttl {
			t.Errorf("index set TTL %v is shorter than a listed session's %v", setTTL, ttl)
		}
	}
	for _, key := range []string{sessionKey(gone), sessionKey(deleted), DefaultKeyPrefix + "pending:" + session.HashKey(taken.Key)} {
		if _, ok := all[key]; ok {
			t.Errorf("key %s still there", key)
		}
	}
	// Sweep dropped the index members whose session is gone, and the set of bob, who has no
	// sessions left.
	if members := all[userKey]; len(members) != 2 {
		t.Errorf("alice's index set = %v, want 2 members", members)
	}
	if _, ok := all[s.userKey("buypass", "bob")]; ok {
		t.Error("bob's index set survived Sweep with no sessions")
	}
}

// Two instances behind a load balancer share everything through Redis.
func TestTwoInstances(t *testing.T) {
	needRedis(t)
	clk := conformance.NewClock(time.Now())
	prefix := freshPrefix()
	a := newStore(t, Options{KeyPrefix: prefix, Now: clk.Now})
	b := newStore(t, Options{KeyPrefix: prefix, Now: clk.Now})
	other := newStore(t, Options{KeyPrefix: freshPrefix(), Now: clk.Now})
	ctx := context.Background()

	sess := testSession(t, clk.Now(), "idporten", "alice", "idx-1")
	if err := a.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetSession(ctx, sess.ID)
	if err != nil {
		t.Fatalf("B GetSession: %v", err)
	}
	if got.Identity != sess.Identity {
		t.Errorf("B sees identity %+v, want %+v", got.Identity, sess.Identity)
	}
	if _, err := other.GetSession(ctx, sess.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("store with another prefix: GetSession err = %v, want ErrNotFound", err)
	}
	later := clk.Now().Add(time.Minute)
	if err := b.TouchSession(ctx, sess.ID, later); err != nil {
		t.Fatal(err)
	}
	if got, err := a.GetSession(ctx, sess.ID); err != nil || !got.LastSeen.Equal(later) {
		t.Errorf("A after B's touch: LastSeen %v, %v; want %v", got.LastSeen, err, later)
	}

	if err := a.Claim(ctx, "assertion", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, "assertion", clk.Now().Add(time.Hour)); !errors.Is(err, session.ErrReplay) {
		t.Errorf("B Claim of A's key: err = %v, want ErrReplay", err)
	}

	p := testPending(t, clk.Now())
	if err := a.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := b.TakePending(ctx, p.Key); err != nil || got.RequestID != p.RequestID {
		t.Errorf("B TakePending = %+v, %v", got, err)
	}
	if _, err := a.TakePending(ctx, p.Key); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("A TakePending after B took it: err = %v, want ErrNotFound", err)
	}

	// Both instances race for one key: exactly one wins.
	var won atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			switch err := s.Claim(ctx, "raced", clk.Now().Add(time.Hour)); {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, session.ErrReplay):
				t.Errorf("Claim: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("claims won across two instances: %d, want 1", won.Load())
	}

	if n, err := b.DeleteSessionsBySessionIndex(ctx, "idporten", "alice", "idx-1"); err != nil || n != 1 {
		t.Errorf("B DeleteSessionsBySessionIndex = %d, %v; want 1", n, err)
	}
	if _, err := a.GetSession(ctx, sess.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("A GetSession after B's logout: err = %v, want ErrNotFound", err)
	}
}

// Times keep nanosecond precision through the Lua comparisons, where Unix nanoseconds as Lua
// numbers (doubles) would round to 256ns.
func TestNanosecondPrecision(t *testing.T) {
	needRedis(t)
	clk := conformance.NewClock(time.Date(2026, 3, 14, 9, 26, 53, 589_123_456, time.UTC))
	s := newStore(t, Options{KeyPrefix: freshPrefix(), Now: clk.Now})
	ctx := context.Background()

	// Ends 1ns after an hour; Redis's TTL is whole milliseconds and keeps the records meanwhile.
	end := clk.Now().Add(time.Hour + time.Nanosecond)
	if err := s.Claim(ctx, "ns", end); err != nil {
		t.Fatal(err)
	}
	sess := testSession(t, clk.Now(), "idporten", "alice", "idx")
	sess.ExpiresAt = end
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(sess.CreatedAt) || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("times = %v, %v; want %v, %v", got.CreatedAt, got.ExpiresAt, sess.CreatedAt, sess.ExpiresAt)
	}
	// Touches 1ns apart: the later one counts, the earlier one does not move LastSeen back.
	if err := s.TouchSession(ctx, sess.ID, sess.LastSeen.Add(2*time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, sess.ID, sess.LastSeen.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx, sess.ID); err != nil || !got.LastSeen.Equal(sess.LastSeen.Add(2*time.Nanosecond)) {
		t.Errorf("LastSeen = %v, %v; want %v", got.LastSeen, err, sess.LastSeen.Add(2*time.Nanosecond))
	}

	clk.Advance(time.Hour) // 1ns before the end
	if err := s.Claim(ctx, "ns", clk.Now().Add(time.Minute)); !errors.Is(err, session.ErrReplay) {
		t.Errorf("Claim 1ns before until: err = %v, want ErrReplay", err)
	}
	if err := s.TouchSession(ctx, sess.ID, clk.Now()); err != nil {
		t.Errorf("TouchSession 1ns before ExpiresAt: %v", err)
	}
	clk.Advance(time.Nanosecond)
	if err := s.Claim(ctx, "ns", clk.Now().Add(time.Minute)); err != nil {
		t.Errorf("Claim at until: %v", err)
	}
	if err := s.TouchSession(ctx, sess.ID, clk.Now()); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("TouchSession at ExpiresAt: err = %v, want ErrNotFound", err)
	}
}

// Ping reports an outage and recovers when Redis comes back, with the same Store.
func TestPingAcrossRestart(t *testing.T) {
	srv := ownRedis(t)
	s := newStore(t, Options{Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	srv.Kill()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Ping(pingCtx); err == nil {
		t.Fatal("Ping with the server stopped: no error")
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping 10s after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOpenFails(t *testing.T) {
	needRedis(t)
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open without an address: no error")
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s, err := Open(ctx, Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)}); err == nil {
		s.Close()
		t.Error("Open of a port nobody listens on: no error")
	}
	if s, err := Open(ctx, Options{Addr: shared.Addr(), Username: "nobody", Password: "wrong"}); err == nil {
		s.Close()
		t.Error("Open as a user the server does not have: no error")
	}
}

// With appendonly and appendfsync always, everything Redis acknowledged survives SIGKILL of
// Redis: a writer reports each session and claim once both are acknowledged, the server is
// killed in the middle of the stream, and after a restart from the same directory every
// reported record is there.
func TestDurableAfterSIGKILL(t *testing.T) {
	srv := ownRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	clk := conformance.NewClock(time.Now())
	s := newStore(t, Options{Addr: srv.Addr(), Now: clk.Now, DialTimeout: time.Second})
	ctx := context.Background()

	p := testPending(t, clk.Now())
	if err := s.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	acked := make(chan string)
	go func() {
		defer close(acked)
		for i := 0; ; i++ {
			id, err := session.NewID()
			if err != nil {
				return
			}
			sess := sessionWithID(id, clk.Now(), "idporten", fmt.Sprintf("user-%d", i), "idx")
			if s.CreateSession(ctx, sess) != nil || s.Claim(ctx, "claim-"+sess.ID, clk.Now().Add(time.Hour)) != nil {
				return // the server is gone
			}
			acked <- sess.ID
		}
	}()
	var ids []string
	for id := range acked {
		ids = append(ids, id)
		if len(ids) == 50 {
			srv.Kill() // the writer is mid-request
		}
	}
	if len(ids) < 50 {
		t.Fatalf("writer stopped after %d records, before the kill", len(ids))
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not reconnect after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, id := range ids {
		got, err := s.GetSession(ctx, id)
		if err != nil {
			t.Errorf("session %d acknowledged before SIGKILL: %v", i, err)
		} else if got.Identity.NameID != fmt.Sprintf("user-%d", i) {
			t.Errorf("session %d: NameID %q", i, got.Identity.NameID)
		}
		if err := s.Claim(ctx, "claim-"+id, clk.Now().Add(time.Hour)); !errors.Is(err, session.ErrReplay) {
			t.Errorf("claim %d acknowledged before SIGKILL: err = %v, want ErrReplay", i, err)
		}
	}
	if got, err := s.TakePending(ctx, p.Key); err != nil || got.RequestID != p.RequestID {
		t.Errorf("TakePending after SIGKILL = %+v, %v", got, err)
	}
	// The TTLs survived too: Redis logs them as absolute times.
	if n, err := s.DeleteSessionsBySessionIndex(ctx, "idporten", "user-0", ""); err != nil || n != 1 {
		t.Errorf("DeleteSessionsBySessionIndex after SIGKILL = %d, %v; want 1", n, err)
	}
}

// Many goroutines doing whole logins while Sweep runs: for the race detector, and to see that
// nothing errs under contention.
func TestConcurrentUse(t *testing.T) {
	needRedis(t)
	clk := conformance.NewClock(time.Now())
	s := newStore(t, Options{KeyPrefix: freshPrefix(), Now: clk.Now})
	ctx := context.Background()
	const workers, rounds = 16, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				if err := useOnce(ctx, s, clk, fmt.Sprintf("%d-%d", w, r)); err != nil {
					t.Errorf("worker %d round %d: %v", w, r, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			if err := s.Sweep(ctx); err != nil {
				t.Errorf("Sweep: %v", err)
				return
			}
		}
	})
	wg.Wait()
}

// useOnce is one login, one request and one IdP-initiated logout in miniature.
func useOnce(ctx context.Context, s *Store, clk *conformance.Clock, tag string) error {
	now := clk.Now()
	p := &session.PendingLogin{Key: "relay-" + tag, RequestID: "_" + tag, ExpiresAt: now.Add(time.Minute)}
	if err := s.PutPending(ctx, p); err != nil {
		return err
	}
	if _, err := s.TakePending(ctx, p.Key); err != nil {
		return fmt.Errorf("take: %w", err)
	}
	if err := s.Claim(ctx, "assertion-"+tag, now.Add(time.Minute)); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	id, err := session.NewID()
	if err != nil {
		return err
	}
	sess := &session.Session{ID: id, Identity: identity.Identity{IdP: "idporten", NameID: "shared-user", SessionIndex: tag}, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		return err
	}
	if _, err := s.GetSession(ctx, id); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if err := s.TouchSession(ctx, id, now); err != nil {
		return fmt.Errorf("touch: %w", err)
	}
	if err := s.Claim(ctx, "assertion-"+tag, now.Add(time.Minute)); !errors.Is(err, session.ErrReplay) {
		return fmt.Errorf("second claim: err = %v, want ErrReplay", err)
	}
	if n, err := s.DeleteSessionsBySessionIndex(ctx, "idporten", "shared-user", tag); err != nil || n != 1 {
		return fmt.Errorf("logout: %d, %v; want 1", n, err)
	}
	return nil
}

func TestTimeEncoding(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Unix(0, 0),
		time.Unix(-1, 1),
		conformance.Start,
		time.Date(2026, 3, 14, 9, 26, 53, 999_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		got, err := decodeTime(encodeTime(tm))
		if err != nil || !got.Equal(tm) {
			t.Errorf("decodeTime(encodeTime(%v)) = %v, %v", tm, got, err)
		}
	}
	if got, _ := decodeTime(encodeTime(time.Time{})); !got.IsZero() {
		t.Errorf("zero time came back as %v", got)
	}
	for _, bad := range []string{"", "1", "1:", ":1", "1:1000000000", "1:-1", "x:1"} {
		if _, err := decodeTime(bad); err == nil {
			t.Errorf("decodeTime(%q): no error", bad)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	needRedis(t)
	// A prefix with glob characters must not make Sweep touch another deployment's keys.
	clk := conformance.NewClock(time.Now())
	ctx := context.Background()
	base := strings.TrimSuffix(freshPrefix(), ":")
	star := newStore(t, Options{KeyPrefix: base + "*:", Now: clk.Now})
	plain := newStore(t, Options{KeyPrefix: base + "x:", Now: clk.Now})
	if err := plain.Claim(ctx, "k", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if err := star.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(-2 * time.Minute)
	if err := plain.Claim(ctx, "k", clk.Now().Add(time.Minute)); !errors.Is(err, session.ErrReplay) {
		t.Errorf("claim under another prefix after Sweep: err = %v, want ErrReplay", err)
	}
}

// The active-sessions gauge works on Redis too: sessions of this prefix only, deleted ones gone,
// pending logins and claims not counted.
func TestCountSessions(t *testing.T) {
	needRedis(t)
	clk := conformance.NewClock(conformance.Start)
	s := newStore(t, Options{KeyPrefix: freshPrefix(), Now: clk.Now})
	other := newStore(t, Options{KeyPrefix: freshPrefix(), Now: clk.Now})
	ctx := context.Background()
	var ids []string
	for i := range 1500 { // more than one SCAN batch
		sess := testSession(t, clk.Now(), "idporten", fmt.Sprintf("user-%d", i), "idx")
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sess.ID)
	}
	if err := other.CreateSession(ctx, testSession(t, clk.Now(), "idporten", "someone", "idx")); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "an-assertion", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountSessions(ctx); err != nil || n != 1499 {
		t.Fatalf("CountSessions = %d, %v; want 1499", n, err)
	}
	if n, err := other.CountSessions(ctx); err != nil || n != 1 {
		t.Fatalf("the other prefix: CountSessions = %d, %v; want 1", n, err)
	}
}

// cacheProbe watches a session.Cache on one instance while another instance, b, writes.
type cacheProbe struct {
	t      *testing.T
	c      session.Store // a session.Cache on the first instance
	b      *Store
	raw    *goredis.Client
	prefix string
	clk    *conformance.Clock
}

func newCacheProbe(t *testing.T, addr string, opt Options) *cacheProbe {
	t.Helper()
	clk := conformance.NewClock(conformance.Start)
	opt.Addr, opt.KeyPrefix, opt.Now = addr, freshPrefix(), clk.Now
	a, b := newStore(t, opt), newStore(t, opt)
	raw := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { raw.Close() })
	return &cacheProbe{t: t, c: session.NewCache(a, session.CacheOptions{TTL: time.Hour, Now: clk.Now}),
		b: b, raw: raw, prefix: opt.KeyPrefix, clk: clk}
}

// create makes a session through the other instance.
func (p *cacheProbe) create(nameID, index string) *session.Session {
	p.t.Helper()
	sess := testSession(p.t, p.clk.Now(), "idporten", nameID, index)
	if err := p.b.CreateSession(context.Background(), sess); err != nil {
		p.t.Fatal(err)
	}
	return sess
}

// found reads through the cache; an error other than ErrNotFound is returned as such.
func (p *cacheProbe) found(id string) (bool, error) {
	_, err := p.c.GetSession(context.Background(), id)
	if errors.Is(err, session.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (p *cacheProbe) mustFind(id string) bool {
	p.t.Helper()
	ok, err := p.found(id)
	if err != nil {
		p.t.Fatal(err)
	}
	return ok
}

// waitCaching waits until the cache is subscribed and keeps what it reads: a probe deleted
// behind its back (no announcement) is still answered.
func (p *cacheProbe) waitCaching() {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.create("probe", "p")
		p.mustFind(s.ID)
		if err := p.raw.Del(context.Background(), p.prefix+kindSession+session.HashKey(s.ID)).Err(); err != nil {
			p.t.Fatal(err)
		}
		if p.mustFind(s.ID) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal("the cache never kept a session: not subscribed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone waits until the cache no longer answers id.
func (p *cacheProbe) gone(what, id string) {
	p.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); p.mustFind(id); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s at the other instance: still answered from the cache", what)
		}
	}
}

// A session cache in front of one instance forgets a session as soon as another instance ends
// it: with a TTL of an hour, only the store's announcement can explain it.
func TestCacheInvalidatedByOtherInstance(t *testing.T) {
	needRedis(t)
	p := newCacheProbe(t, shared.Addr(), Options{})
	ctx := context.Background()
	p.waitCaching()
	s1, s2, s3 := p.create("alice", "i1"), p.create("bob", "i2"), p.create("carol", "i3")
	for _, s := range []*session.Session{s1, s2, s3} {
		if !p.mustFind(s.ID) {
			t.Fatal("a new session is not found")
		}
	}
	if err := p.b.DeleteSession(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	p.gone("logout", s1.ID)
	if n, err := p.b.DeleteSessionsBySessionIndex(ctx, "idporten", "bob", "i2"); err != nil || n != 1 {
		t.Fatalf("DeleteSessionsBySessionIndex = %d, %v", n, err)
	}
	p.gone("LogoutRequest", s2.ID)
	if !p.mustFind(s3.ID) {
		t.Fatal("another user's session was lost")
	}
	if err := p.c.Close(); err != nil {
		t.Fatal(err)
	}
}

// The subscription across a Redis restart: while Redis is down the cache answers nothing from
// memory (an ending it cannot hear of could be happening), and once Redis is back the
// subscription is renewed by itself and endings at the other instance reach the cache again.
func TestCacheAcrossRedisRestart(t *testing.T) {
	srv := ownRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	p := newCacheProbe(t, srv.Addr(), Options{DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	ctx := context.Background()
	p.waitCaching()
	kept := p.create("alice", "i1")
	if !p.mustFind(kept.ID) {
		t.Fatal("a new session is not found")
	}

	srv.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := p.found(kept.ID)
		if err != nil {
			break // from the store, not from memory
		}
		if !ok {
			t.Fatal("a session reported absent while Redis is down")
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis down for 10s: the cache still answers from memory")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	p.waitCaching() // subscribed again, without a restart of the store or the cache
	if !p.mustFind(kept.ID) {
		t.Fatal("the session from before the restart is lost (appendfsync always)")
	}
	if err := p.b.DeleteSession(ctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	p.gone("logout after the restart", kept.ID)
	bob := p.create("bob", "i2")
	p.mustFind(bob.ID)
	if n, err := p.b.DeleteSessionsBySessionIndex(ctx, "idporten", "bob", ""); err != nil || n != 1 {
		t.Fatalf("DeleteSessionsBySessionIndex = %d, %v", n, err)
	}
	p.gone("LogoutRequest after the restart", bob.ID)
	if err := p.c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestParseEnded(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want session.Ended
		ok   bool
	}{
		{"s:abc", session.Ended{IDHash: "abc"}, true},
		{"u:8:idporten5:alicei1", session.Ended{IdP: "idporten", NameID: "alice", SessionIndex: "i1"}, true},
		{"u:8:idporten5:alice", session.Ended{IdP: "idporten", NameID: "alice"}, true},
		{"u:2:a:b:3:xyz", session.Ended{}, false},
		{"s:", session.Ended{}, false},
		{"u:9:idporten5:alice", session.Ended{}, false},
		{"u:0:5:alice", session.Ended{}, false},
		{"u:-1:x", session.Ended{}, false},
		{"u:99999999:x", session.Ended{}, false},
		{"x:abc", session.Ended{}, false},
		{"", session.Ended{}, false},
	} {
		got, ok := parseEnded(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseEnded(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseEnded(f *testing.F) {
	f.Add("s:abc")
	f.Add("u:8:idporten5:alicei1")
	f.Fuzz(func(t *testing.T, p string) {
		e, ok := parseEnded(p)
		if !ok {
			return
		}
		if e.IDHash == "" && (e.IdP == "" || e.NameID == "") {
			t.Fatalf("parseEnded(%q) accepted an empty target: %+v", p, e)
		}
		if e.IDHash == "" { // what the publisher writes for it reads back the same
			if back, ok := parseEnded(encodeEndedUser(e.IdP, e.NameID, e.SessionIndex)); !ok || back != e {
				t.Fatalf("parseEnded(%q) = %+v; its encoding reads back as %+v, %v", p, e, back, ok)
			}
		}
	})
}
