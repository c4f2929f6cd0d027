// Package redis is the shared session.Store: sessions, pending logins, the replay cache, shared
// documents and the audit trail in Redis (standalone, 6.2 or later), so that many eidsp
// instances behind a load balancer see the same state. It uses github.com/redis/go-redis/v9.
//
// Layout, under Options.KeyPrefix (default "eidsp:"). The keys of login state end in
// session.HashKey of what names them, so the store never holds a session ID, RelayState or
// assertion ID; a document's key is a name the program chose, not a secret, and is used as it is:
//
//	session:<hash(id)>       hash: the session's fields; last_seen changes on touch
//	pending:<hash(key)>      string: the pending login as JSON; GETDEL takes it once
//	claim:<hash(key)>        string: the claim's until; a Lua script claims atomically
//	user:<hash(idp, nameID)> set: hashes of that user's sessions, for IdP-initiated logout
//	doc:<key>                hash: value, updated_at, updated_by
//	audit                    list: audit events as JSON, last appended first, trimmed
//
// Every key of login state has a Redis TTL, so Redis removes dead records itself. The TTL is
// the record's remaining life by the store's clock (ExpiresAt - now), and the store's clock
// alone decides whether a record is live, by comparing with the ExpiresAt stored in the record:
// with the default clock the two agree, and a test clock that runs apart from real time still
// gets the semantics of session.Store. Sweep deletes what the store's clock says has expired,
// and drops index members whose session is gone.
//
// Documents and the audit list are the exceptions: they have no TTL, because documents never
// expire and the list is bounded by trimming, and Sweep leaves them alone. Redis must therefore
// not run with an eviction policy that may drop keys without a TTL (maxmemory-policy allkeys-*),
// or memory pressure could remove uploaded IdP metadata.
package redis

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/eidsp/eidsp/session"
)

var _ session.Store = (*Store)(nil)

// Options configures a Store. Addr is required.
type Options struct {
	Addr     string // host:port
	Username string // ACL user; empty for the default user
	Password string
	DB       int
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// KeyPrefix starts every key, so that several deployments can share one database.
	// Default "eidsp:".
	KeyPrefix string
	// Now is the clock every expiry judgment uses. Default time.Now.
	Now func() time.Time
	// Zero timeouts take go-redis's defaults (dial 5s, read and write 3s).
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
}

// DefaultKeyPrefix is the KeyPrefix when Options leaves it empty.
const DefaultKeyPrefix = "eidsp:"

// Key kinds, between the prefix and the hash.
const (
	kindSession = "session:"
	kindPending = "pending:"
	kindClaim   = "claim:"
	kindUser    = "user:"
	kindDoc     = "doc:"
	keyAudit    = "audit"
)

// Store is a session.Store in Redis.
type Store struct {
	rdb    *goredis.Client
	prefix string
	now    func() time.Time
}

// Open connects to Redis and checks that it answers, so that a wrong address or password
// stops the start rather than the first login.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.Addr == "" {
		return nil, errors.New("session/redis: empty address")
	}
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = DefaultKeyPrefix
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	rdb := goredis.NewClient(&goredis.Options{
		Addr:         opt.Addr,
		Username:     opt.Username,
		Password:     opt.Password,
		DB:           opt.DB,
		TLSConfig:    opt.TLS,
		DialTimeout:  opt.DialTimeout,
		ReadTimeout:  opt.ReadTimeout,
		WriteTimeout: opt.WriteTimeout,
		// A request's deadline then bounds the network wait, not only the pool wait.
		ContextTimeoutEnabled: true,
		// go-redis's default retries after a network error stay on: a retried command that had
		// in fact run fails closed (Claim gets ErrReplay, TakePending ErrNotFound,
		// CreateSession "exists"), never open.
	})
	s := &Store{rdb: rdb, prefix: opt.KeyPrefix, now: opt.Now}
	if err := s.Ping(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections. What Redis acknowledged is Redis's to keep; how durably depends
// on its persistence settings (appendonly yes, appendfsync always for the replay cache to
// survive a crash of Redis).
func (s *Store) Close() error { return s.rdb.Close() }

// Ping checks that Redis answers. A Store reconnects by itself after Redis comes back.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("session/redis: ping: %w", err)
	}
	return nil
}

func (s *Store) key(kind, raw string) string { return s.prefix + kind + session.HashKey(raw) }

// userKey names the index set of one user at one IdP. The length prefix keeps ("ab", "c") and
// ("a", "bc") apart.
func (s *Store) userKey(idp, nameID string) string {
	return s.key(kindUser, strconv.Itoa(len(idp))+":"+idp+nameID)
}

// ttlMillis is a record's remaining life by the store's clock, rounded up to whole
// milliseconds and at least one: Redis refuses a TTL of zero, and a record already dead by
// the store's clock is judged absent on reading anyway.
func (s *Store) ttlMillis(expires time.Time) int64 {
	d := expires.Sub(s.now())
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond > 0 {
		ms++
	}
	return max(ms, 1)
}

// CreateSession stores a new session under the SHA-256 of its ID and adds it to its user's
// index. An existing session with the same ID is an error and is left as it was.
func (s *Store) CreateSession(ctx context.Context, sess *session.Session) error {
	keys, args, err := s.sessionWrite(sess)
	if err != nil {
		return fmt.Errorf("session/redis: create session: %w", err)
	}
	created, err := createSession.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("session/redis: create session: %w", err)
	}
	if created == 0 {
		return errSessionExists
	}
	return nil
}

var errSessionExists = errors.New("session/redis: create session: a session with this ID exists")

// sessionWrite is the keys and arguments of the createSession script for sess.
func (s *Store) sessionWrite(sess *session.Session) (keys []string, args []any, err error) {
	if err := sess.Prepare(s.now()); err != nil {
		return nil, nil, err
	}
	// NameID and NameIDFormat are json:"-" in identity.Identity; they travel in their own fields.
	ident, err := json.Marshal(sess.Identity)
	if err != nil {
		return nil, nil, err
	}
	idHash := session.HashKey(sess.ID)
	keys = []string{s.prefix + kindSession + idHash, s.userKey(sess.Identity.IdP, sess.Identity.NameID)}
	args = []any{s.ttlMillis(sess.ExpiresAt), idHash,
		"identity", ident,
		"name_id", sess.Identity.NameID,
		"name_id_format", sess.Identity.NameIDFormat,
		"session_index", sess.Identity.SessionIndex,
		"profile", sess.Profile,
		"created_at", encodeTime(sess.CreatedAt),
		"last_seen", encodeTime(sess.LastSeen),
		"expires_at", encodeTime(sess.ExpiresAt),
	}
	return keys, args, nil
}

// ClaimAndCreateSession claims key and stores sess in one script: both or neither.
func (s *Store) ClaimAndCreateSession(ctx context.Context, key string, until time.Time, sess *session.Session) error {
	if key == "" {
		return errors.New("session/redis: claim and create session: empty key")
	}
	keys, args, err := s.sessionWrite(sess)
	if err != nil {
		return fmt.Errorf("session/redis: claim and create session: %w", err)
	}
	keys = append([]string{s.key(kindClaim, key)}, keys...)
	args = append([]any{encodeTime(s.now()), encodeTime(until), s.ttlMillis(until)}, args...)
	switch r, err := claimAndCreateSession.Run(ctx, s.rdb, keys, args...).Int(); {
	case err != nil:
		return fmt.Errorf("session/redis: claim and create session: %w", err)
	case r == 0:
		return session.ErrReplay
	case r < 0:
		return errSessionExists
	}
	return nil
}

// GetSession returns a live session.
func (s *Store) GetSession(ctx context.Context, id string) (*session.Session, error) {
	f, err := s.rdb.HGetAll(ctx, s.key(kindSession, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("session/redis: get session: %w", err)
	}
	if len(f) == 0 {
		return nil, session.ErrNotFound
	}
	sess := &session.Session{ID: id, Profile: f["profile"]}
	for _, t := range []struct {
		field string
		dst   *time.Time
	}{
		{"created_at", &sess.CreatedAt},
		{"last_seen", &sess.LastSeen},
		{"expires_at", &sess.ExpiresAt},
	} {
		if *t.dst, err = decodeTime(f[t.field]); err != nil {
			return nil, fmt.Errorf("session/redis: get session: %s: %w", t.field, err)
		}
	}
	if !s.now().Before(sess.ExpiresAt) {
		return nil, session.ErrNotFound
	}
	if err := json.Unmarshal([]byte(f["identity"]), &sess.Identity); err != nil {
		return nil, fmt.Errorf("session/redis: get session: decode identity: %w", err)
	}
	sess.Identity.NameID = f["name_id"]
	sess.Identity.NameIDFormat = f["name_id_format"]
	return sess, nil
}

// TouchSession moves LastSeen forward to lastSeen.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	ok, err := touchSession.Run(ctx, s.rdb, []string{s.key(kindSession, id)},
		encodeTime(s.now()), encodeTime(lastSeen)).Int()
	if err != nil {
		return fmt.Errorf("session/redis: touch session: %w", err)
	}
	if ok == 0 {
		return session.ErrNotFound
	}
	return nil
}

// DeleteSession removes a session if it exists. Its index entry stays until Sweep or an
// IdP-initiated logout of that user finds it pointing at nothing.
//
// The deletion and its announcement to every instance's session cache (WatchEnded) are one
// MULTI/EXEC transaction: a session ended here is never left in another cache for want of a
// message, while the connection to Redis holds.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	idHash := session.HashKey(id)
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, s.prefix+kindSession+idHash)
		p.Publish(ctx, s.prefix+channelEnded, endedSession+idHash)
		return nil
	})
	if err != nil {
		return fmt.Errorf("session/redis: delete session: %w", err)
	}
	return nil
}

// DeleteSessionsBySessionIndex removes the sessions an IdP's LogoutRequest names, in one
// atomic step. Like the other backends it counts every session it deleted, whether or not
// the store's clock had already ended it.
func (s *Store) DeleteSessionsBySessionIndex(ctx context.Context, idp, nameID, sessionIndex string) (int, error) {
	if idp == "" || nameID == "" {
		return 0, errors.New("session/redis: delete by session index: empty IdP or NameID")
	}
	n, err := deleteByIndex.Run(ctx, s.rdb, []string{s.userKey(idp, nameID)},
		s.prefix+kindSession, sessionIndex).Int()
	if err != nil {
		return 0, fmt.Errorf("session/redis: delete by session index: %w", err)
	}
	// Announced after the deletion, whether or not it found a session (another instance may
	// have one cached that this one's index no longer listed). A failed announcement leaves
	// other caches to their TTL: the deletion itself stands and is reported.
	_ = s.rdb.Publish(ctx, s.prefix+channelEnded, encodeEndedUser(idp, nameID, sessionIndex)).Err()
	return n, nil
}

// pendingRecord is a PendingLogin as stored: without its key, with times as encodeTime
// strings (the sweep script compares expires_at).
type pendingRecord struct {
	RequestID      string `json:"request_id"`
	IdP            string `json:"idp"`
	Profile        string `json:"profile"`
	ReturnTo       string `json:"return_to"`
	BrowserBinding string `json:"browser_binding"`
	Locale         string `json:"locale"`
	MinLevel       int    `json:"min_level"`
	ForceAuthn     bool   `json:"force_authn"`
	Purpose        string `json:"purpose"`
	CreatedAt      string `json:"created_at"`
	ExpiresAt      string `json:"expires_at"`
}

// PutPending stores a pending login under the SHA-256 of its key. An existing one with the
// same key is an error and is left as it was.
func (s *Store) PutPending(ctx context.Context, p *session.PendingLogin) error {
	if err := p.Prepare(s.now()); err != nil {
		return fmt.Errorf("session/redis: put pending: %w", err)
	}
	v, err := json.Marshal(pendingRecord{
		RequestID:      p.RequestID,
		IdP:            p.IdP,
		Profile:        p.Profile,
		ReturnTo:       p.ReturnTo,
		BrowserBinding: p.BrowserBinding,
		Locale:         p.Locale,
		MinLevel:       p.MinLevel,
		ForceAuthn:     p.ForceAuthn,
		Purpose:        p.Purpose,
		CreatedAt:      encodeTime(p.CreatedAt),
		ExpiresAt:      encodeTime(p.ExpiresAt),
	})
	if err != nil {
		return fmt.Errorf("session/redis: put pending: %w", err)
	}
	ttl := time.Duration(s.ttlMillis(p.ExpiresAt)) * time.Millisecond
	ok, err := s.rdb.SetNX(ctx, s.key(kindPending, p.Key), v, ttl).Result()
	if err != nil {
		return fmt.Errorf("session/redis: put pending: %w", err)
	}
	if !ok {
		return errors.New("session/redis: put pending: a pending login with this key exists")
	}
	return nil
}

// TakePending deletes and returns a pending login. GETDEL reads and deletes in one command,
// so of concurrent callers only one gets the value; an expired one is deleted all the same.
func (s *Store) TakePending(ctx context.Context, key string) (*session.PendingLogin, error) {
	v, err := s.rdb.GetDel(ctx, s.key(kindPending, key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session/redis: take pending: %w", err)
	}
	p, err := decodePending(key, v)
	if err != nil {
		return nil, fmt.Errorf("session/redis: take pending: %w", err)
	}
	if !s.now().Before(p.ExpiresAt) {
		return nil, session.ErrNotFound
	}
	return p, nil
}

// TakePendingAndClaim is TakePending and Claim in one script: one round trip, and the claim is
// made only when the script finds a pending login that is live by the store's clock.
func (s *Store) TakePendingAndClaim(ctx context.Context, key, claimKey string, until time.Time) (*session.PendingLogin, error) {
	if claimKey == "" {
		return nil, errors.New("session/redis: take pending and claim: empty claim key")
	}
	res, err := takePendingAndClaim.Run(ctx, s.rdb, []string{s.key(kindPending, key), s.key(kindClaim, claimKey)},
		encodeTime(s.now()), encodeTime(until), s.ttlMillis(until)).Slice()
	if err != nil {
		return nil, fmt.Errorf("session/redis: take pending and claim: %w", err)
	}
	if len(res) == 0 {
		return nil, session.ErrNotFound
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("session/redis: take pending and claim: script answered %d values, want 2", len(res))
	}
	v, ok := res[0].(string)
	result, ok2 := res[1].(int64)
	if !ok || !ok2 {
		return nil, fmt.Errorf("session/redis: take pending and claim: unexpected script answer %T, %T", res[0], res[1])
	}
	p, err := decodePending(key, []byte(v))
	if err != nil {
		return nil, fmt.Errorf("session/redis: take pending and claim: %w", err)
	}
	switch result {
	case 1:
		return p, nil
	case 0:
		return p, session.ErrReplay
	default: // expired by the store's clock (the script compared the same field)
		return nil, session.ErrNotFound
	}
}

// decodePending reads a pending login's stored value.
func decodePending(key string, v []byte) (*session.PendingLogin, error) {
	var r pendingRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	p := &session.PendingLogin{
		Key:            key,
		RequestID:      r.RequestID,
		IdP:            r.IdP,
		Profile:        r.Profile,
		ReturnTo:       r.ReturnTo,
		BrowserBinding: r.BrowserBinding,
		Locale:         r.Locale,
		MinLevel:       r.MinLevel,
		ForceAuthn:     r.ForceAuthn,
		Purpose:        r.Purpose,
	}
	var err error
	if p.CreatedAt, err = decodeTime(r.CreatedAt); err != nil {
		return nil, fmt.Errorf("created_at: %w", err)
	}
	if p.ExpiresAt, err = decodeTime(r.ExpiresAt); err != nil {
		return nil, fmt.Errorf("expires_at: %w", err)
	}
	return p, nil
}

// Claim records key in the replay cache until the given time. A plain SET NX would let Redis's
// TTL decide when the claim ends; the script lets the store's clock decide, by the until it
// stored, and replaces only a claim that has ended.
func (s *Store) Claim(ctx context.Context, key string, until time.Time) error {
	if key == "" {
		return errors.New("session/redis: claim: empty key")
	}
	won, err := claim.Run(ctx, s.rdb, []string{s.key(kindClaim, key)},
		encodeTime(s.now()), encodeTime(until), s.ttlMillis(until)).Int()
	if err != nil {
		return fmt.Errorf("session/redis: claim: %w", err)
	}
	if won == 0 {
		return session.ErrReplay
	}
	return nil
}

// sweepBatch is the SCAN COUNT hint, and so roughly the number of keys one script call handles.
const sweepBatch = 500

// Sweep deletes the sessions, pending logins and claims that have expired by the store's
// clock, and then drops index members whose session is gone. Redis expires records by itself
// as well, so with the default clock Sweep mostly tidies the index sets. It walks the keys
// with SCAN, a batch at a time, so Redis is never blocked for long; each batch is judged and
// deleted atomically.
func (s *Store) Sweep(ctx context.Context) error {
	now := encodeTime(s.now())
	for _, step := range []struct {
		kind   string
		script *goredis.Script
		arg    string
	}{
		{kindSession, sweepSessions, now},
		{kindPending, sweepPending, now},
		{kindClaim, sweepClaims, now},
		{kindUser, sweepIndexes, s.prefix + kindSession}, // last: sees this sweep's deletions
	} {
		if err := s.sweepKind(ctx, step.kind, step.script, step.arg); err != nil {
			return fmt.Errorf("session/redis: sweep %s: %w", strings.TrimSuffix(step.kind, ":"), err)
		}
	}
	return nil
}

func (s *Store) sweepKind(ctx context.Context, kind string, script *goredis.Script, arg string) error {
	match := globEscape(s.prefix+kind) + "*"
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, match, sweepBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := script.Run(ctx, s.rdb, keys, arg).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape quotes the characters that are special in a SCAN MATCH pattern, so that a key
// prefix containing them matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// encodeTime writes t as "seconds:nanoseconds" since the Unix epoch, with nanoseconds in
// 0..999999999. Unlike Unix nanoseconds, both parts fit a Lua number exactly, so the scripts
// compare times without rounding, and every time.Time is representable.
func encodeTime(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + ":" + fmt.Sprintf("%09d", t.Nanosecond())
}

func decodeTime(s string) (time.Time, error) {
	secStr, nsecStr, ok := strings.Cut(s, ":")
	if !ok {
		return time.Time{}, fmt.Errorf("malformed time %q", s)
	}
	sec, err1 := strconv.ParseInt(secStr, 10, 64)
	nsec, err2 := strconv.ParseInt(nsecStr, 10, 64)
	if err1 != nil || err2 != nil || nsec < 0 || nsec > 999_999_999 {
		return time.Time{}, fmt.Errorf("malformed time %q", s)
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// CountSessions reports the sessions stored, for the active-sessions gauge (optional, outside
// session.Store, as in session/sqlite). Every session key expires with its ExpiresAt, so a key
// that exists is a session whose absolute lifetime has not ended; idle ones are counted until a
// request finds them idle, as in SQLite. It walks the key space with SCAN (no KEYS), about one
// round trip per thousand keys, so it is for a scrape every few seconds, not a hot path.
func (s *Store) CountSessions(ctx context.Context) (int, error) {
	match := globEscape(s.prefix+kindSession) + "*"
	var (
		cursor uint64
		n      int
	)
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, match, countBatch).Result()
		if err != nil {
			return 0, fmt.Errorf("session/redis: count sessions: %w", err)
		}
		n += len(keys)
		if next == 0 {
			return n, nil
		}
		cursor = next
	}
}

// countBatch is the COUNT hint of CountSessions' SCAN calls.
const countBatch = 1000

// The pub/sub channel (after the key prefix) on which every ended session is announced, and
// the two kinds of message: one session by its ID hash, or every session of a user at an IdP
// (length-prefixed IdP and NameID, then the SessionIndex, empty for all of them).
const (
	channelEnded = "ended"
	endedSession = "s:"
	endedUser    = "u:"
)

var _ session.Invalidator = (*Store)(nil)

// WatchEnded subscribes to the sessions ended through any handle on this Redis and key prefix,
// for session.Cache. It reports Live once subscribed (and again after every reconnection), Lost
// whenever messages may have been missed (the subscription's connection failed; go-redis
// reconnects and resubscribes by itself), and each ended session or user. It returns when ctx
// ends.
func (s *Store) WatchEnded(ctx context.Context, report func(session.Ended)) {
	ps := s.rdb.Subscribe(ctx, s.prefix+channelEnded)
	// Receive does not return when ctx ends while it waits for a message; closing does.
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		ps.Close()
	}()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			report(session.Ended{Lost: true})
			if errors.Is(err, goredis.ErrClosed) {
				return
			}
			select { // go-redis reconnects on the next Receive; do not spin while Redis is down
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				report(session.Ended{Live: true})
			}
		case *goredis.Message:
			if e, ok := parseEnded(m.Payload); ok {
				report(e)
			} else {
				report(session.Ended{Lost: true, Live: true}) // not ours: forget everything, to be safe
			}
		}
	}
}

// encodeEndedUser is DeleteSessionsBySessionIndex's message; parseEnded reads it back.
func encodeEndedUser(idp, nameID, sessionIndex string) string {
	return endedUser + strconv.Itoa(len(idp)) + ":" + idp + strconv.Itoa(len(nameID)) + ":" + nameID + sessionIndex
}

// parseEnded reads a message of DeleteSession or DeleteSessionsBySessionIndex.
func parseEnded(p string) (session.Ended, bool) {
	if h, ok := strings.CutPrefix(p, endedSession); ok {
		return session.Ended{IDHash: h}, h != ""
	}
	rest, ok := strings.CutPrefix(p, endedUser)
	if !ok {
		return session.Ended{}, false
	}
	idp, rest, ok := cutLengthPrefixed(rest)
	if !ok || idp == "" {
		return session.Ended{}, false
	}
	nameID, rest, ok := cutLengthPrefixed(rest)
	if !ok || nameID == "" {
		return session.Ended{}, false
	}
	return session.Ended{IdP: idp, NameID: nameID, SessionIndex: rest}, true
}

// cutLengthPrefixed splits "N:" + N bytes off the front of s.
func cutLengthPrefixed(s string) (string, string, bool) {
	ns, rest, ok := strings.Cut(s, ":")
	if !ok || len(ns) > 7 {
		return "", "", false
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 0 || n > len(rest) {
		return "", "", false
	}
	return rest[:n], rest[n:], true
}
