// Package session owns the server-side state of a login: sessions (the cookie holds only a random
// ID), pending logins (the AuthnRequest we sent, found again by its RelayState and used once), and
// the replay cache (an assertion ID is accepted once); and what instances share beside logins:
// small named documents and the audit trail. The handlers talk to a Store; backends are
// session/sqlite (embedded, the default) and session/redis (shared by many instances). Every
// backend passes the one suite in session/conformance.
//
// Stores are passive and judge expiry with an injected clock: a record whose ExpiresAt has been
// reached is treated as absent, and the caller runs Sweep periodically to remove such records.
// Idle timeout is the caller's policy, made by comparing Session.LastSeen with its own clock.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eidsp/eidsp/identity"
)

// ErrNotFound is returned when a session or pending login is absent or has expired.
var ErrNotFound = errors.New("session: not found")

// ErrReplay is returned by Claim when the key has already been claimed and its claim has not
// expired.
var ErrReplay = errors.New("session: key already claimed")

// Session is a logged-in user's server-side state.
type Session struct {
	// ID is the random token in the cookie. A store keeps only its SHA-256, so reading the store
	// does not yield tokens that could be replayed as cookies.
	ID        string
	Identity  identity.Identity
	Profile   string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute end of life, whatever the activity
}

// PendingLogin is what we remember between sending an AuthnRequest and receiving the response.
type PendingLogin struct {
	Key            string // the RelayState we sent: random, used once
	RequestID      string // AuthnRequest ID, for the InResponseTo check
	IdP            string
	Profile        string
	ReturnTo       string
	BrowserBinding string // hash of a cookie value that ties the login to one browser
	Locale         string
	MinLevel       int
	ForceAuthn     bool
	// Purpose is "" for a login and PurposeLogout for a logout we started, whose RequestID is
	// the LogoutRequest ID. A record is only ever consumed by the endpoint of its purpose.
	Purpose   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PurposeLogout marks a pending record as an SP-initiated logout.
const PurposeLogout = "logout"

// Store is the storage the handlers need. Implementations are safe for concurrent use.
//
// A record is live while the store's clock is before its ExpiresAt (or the until of a claim).
// CreateSession and PutPending fill a zero CreatedAt from the store's clock (and a zero LastSeen
// from CreatedAt); a zero ExpiresAt is an error. Keys and IDs must be non-empty.
type Store interface {
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns ErrNotFound when the session is absent or its ExpiresAt has been reached.
	GetSession(ctx context.Context, id string) (*Session, error)
	// TouchSession records activity. LastSeen never moves backwards, so concurrent requests
	// finishing out of order keep the latest time. ErrNotFound as for GetSession.
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	// DeleteSession removes a session; an absent one is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessionsBySessionIndex removes the sessions an IdP-initiated logout names and reports
	// how many it removed. An empty sessionIndex means every session of nameID at idp; an empty
	// idp or nameID is an error, never "all".
	DeleteSessionsBySessionIndex(ctx context.Context, idp, nameID, sessionIndex string) (int, error)
	PutPending(ctx context.Context, p *PendingLogin) error
	// TakePending atomically returns and deletes a pending login: of concurrent callers exactly
	// one gets it. ErrNotFound when absent or expired; an expired one is deleted too.
	TakePending(ctx context.Context, key string) (*PendingLogin, error)
	// Claim records key until the given time. The first caller gets nil; later callers get
	// ErrReplay until `until` has passed, after which the key can be claimed again.
	Claim(ctx context.Context, key string, until time.Time) error
	// TakePendingAndClaim is TakePending(key) and Claim(claimKey, until) as one step, the claim
	// made only when there is a pending login to take: ErrNotFound, and nothing claimed, when
	// there is none; the pending login and ErrReplay when claimKey is claimed already (the
	// pending login is taken all the same); the pending login and nil when both are done. The
	// claim is Claim's, as exclusive, for a key whose replay a later durable write stops as well
	// (a login's artifact: the assertion it resolves to is claimed with its session), so a
	// store may commit the step without waiting for stable storage: a power loss or an OS crash
	// can forget it, a crash of the process cannot.
	TakePendingAndClaim(ctx context.Context, key, claimKey string, until time.Time) (*PendingLogin, error)
	// ClaimAndCreateSession is Claim(key, until) and CreateSession(s) as one step: both or
	// neither. ErrReplay, and no session, when key is claimed; an error from the session's
	// side leaves key unclaimed. A login's last step: its assertion and its session.
	ClaimAndCreateSession(ctx context.Context, key string, until time.Time, s *Session) error
	// PutDocument stores (replaces) a shared document; a zero UpdatedAt is filled from the
	// store's clock. A value larger than MaxDocumentBytes is an error (ErrDocumentTooLarge) and
	// stores nothing. The three document methods refuse a key CheckDocumentKey refuses, with
	// ErrBadDocumentKey.
	PutDocument(ctx context.Context, d *Document) error
	// GetDocument returns ErrNotFound when no document has the key.
	GetDocument(ctx context.Context, key string) (*Document, error)
	// DeleteDocument removes a document; an absent one is not an error.
	DeleteDocument(ctx context.Context, key string) error
	// AppendAudit adds events to the audit trail, in order and all or none, and the trail
	// keeps the MaxAuditEvents appended last. A zero Time is filled from the store's clock.
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// RecentAudit returns at most n events, newest first (by Time, then by insertion).
	RecentAudit(ctx context.Context, n int) ([]AuditEvent, error)
	// Sweep deletes expired sessions, pending logins and claims.
	Sweep(ctx context.Context) error
	Ping(ctx context.Context) error
	Close() error
}

// MaxDocumentBytes bounds a shared document: the largest IdP metadata we accept, with room.
const MaxDocumentBytes = 4 << 20

// Document is a small named document every instance shares through the store: IdP metadata an
// admin uploaded, the last good copy fetched from an IdP's metadata URL, an operator's switch.
// Documents do not expire.
type Document struct {
	Key       string
	Value     []byte
	UpdatedAt time.Time
	// UpdatedBy says who stored it, for the admin pages: "admin <masked id>", "api token",
	// "refresh", "command".
	UpdatedBy string
}

// MaxAuditEvents is how many audit events a store keeps; older ones are dropped as new ones come.
const MaxAuditEvents = 1000

// AuditEvent is one entry of the audit trail the admin pages show: a login, a logout or an admin
// action. It never holds a national identity number in clear: Person is masked for display and
// PersonHash is the keyed hash the logs use.
type AuditEvent struct {
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`            // login, logout or admin
	Result     string    `json:"result"`           // "ok", or the reason class of a failure
	Person     string    `json:"person,omitempty"` // masked national identity number
	PersonHash string    `json:"person_hash,omitempty"`
	IdP        string    `json:"idp,omitempty"`
	Profile    string    `json:"profile,omitempty"`
	Level      int       `json:"level,omitempty"`
	Instrument string    `json:"instrument,omitempty"`
	Action     string    `json:"action,omitempty"` // admin: what was done, e.g. "upload idp metadata"
	Detail     string    `json:"detail,omitempty"`
	Ref        string    `json:"ref,omitempty"` // the request reference of the log line
}

// NewID returns a new session ID or RelayState: 32 random bytes, base64url without padding.
func NewID() (string, error) { return newID(rand.Reader) }

func newID(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("session: new id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashKey returns the hex SHA-256 of an ID or key: the form in which backends store session
// IDs, pending-login keys and claim keys. Hashing bounds the size of keys an attacker chooses
// (assertion IDs) and keeps bearer tokens out of the store.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Prepare checks what every backend requires of a new session and fills the defaults: an ID and
// an ExpiresAt are required; CreatedAt defaults to now, LastSeen to CreatedAt.
func (s *Session) Prepare(now time.Time) error {
	if s.ID == "" {
		return errors.New("empty ID")
	}
	if s.ExpiresAt.IsZero() {
		return errors.New("zero ExpiresAt")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.LastSeen.IsZero() {
		s.LastSeen = s.CreatedAt
	}
	return nil
}

// Prepare checks what every backend requires of a new pending record: a key and an ExpiresAt;
// CreatedAt defaults to now.
func (p *PendingLogin) Prepare(now time.Time) error {
	if p.Key == "" {
		return errors.New("empty key")
	}
	if p.ExpiresAt.IsZero() {
		return errors.New("zero ExpiresAt")
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	return nil
}
