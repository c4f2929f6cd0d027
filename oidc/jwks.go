package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// keySet is the provider's JWKS as go-oidc's IDTokenVerifier consumes it. It replaces go-oidc's
// RemoteKeySet for three reasons: the set is re-read on the DiscoveryRefresh schedule, so a key
// the provider withdrew stops verifying (RemoteKeySet keeps every key it has seen until a new
// kid appears); responses are size-limited; and the unknown-kid re-read is rate-limited.
// Signature verification itself is go-jose's.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu   sync.RWMutex
	keys []jose.JSONWebKey
	gen  uint64 // bumped on every successful read, so waiters can tell a fresh set

	fetchMu   sync.Mutex // one read at a time
	lastFetch time.Time  // guarded by fetchMu
}

var _ gooidc.KeySet = (*keySet)(nil)

// jwsAlgs is what the key set parses; IDTokenVerifier has already narrowed the token's alg to the
// provider's accepted list before it calls VerifySignature.
var jwsAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(idTokenAlgs))
	for i, a := range idTokenAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// newKeySet reads the set once; a provider whose JWKS cannot be read or holds no usable key
// is not usable.
func newKeySet(ctx context.Context, url string, client *http.Client, now func() time.Time) (*keySet, error) {
	k := &keySet{url: url, client: client, now: now}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// verifyProbe records, for one Verify call, the payload the key set verified. Exchange uses it to
// tell a bad signature from a claim go-oidc refused after the signature was good.
type verifyProbe struct {
	payload []byte
	err     error
}

type probeKey struct{}

// VerifySignature implements gooidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := k.verify(ctx, raw)
	if p, ok := ctx.Value(probeKey{}).(*verifyProbe); ok {
		p.payload, p.err = payload, err
	}
	return payload, err
}

func (k *keySet) verify(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, jwsAlgs)
	if err != nil {
		return nil, fmt.Errorf("parsing ID token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("ID token must carry exactly one signature")
	}
	keys, gen := k.snapshot()
	if payload, ok := verifyWith(jws, keys); ok {
		return payload, nil
	}
	// The provider may have rotated its keys: read the set again (OpenID Connect Core §10.1.1).
	if err := k.refetch(ctx, gen); err != nil {
		return nil, fmt.Errorf("no cached key verifies the ID token (kid %q), and the JWKS was not re-read: %w",
			jws.Signatures[0].Header.KeyID, err)
	}
	keys, _ = k.snapshot()
	if payload, ok := verifyWith(jws, keys); ok {
		return payload, nil
	}
	return nil, fmt.Errorf("no key in the provider's JWKS verifies the ID token (kid %q)", jws.Signatures[0].Header.KeyID)
}

// verifyWith tries the keys the token's header allows: the one with its kid (every key when it
// names none) and, for keys that state an alg, only that alg.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) ([]byte, bool) {
	h := jws.Signatures[0].Header
	for _, key := range keys {
		if h.KeyID != "" && key.KeyID != h.KeyID {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != h.Algorithm {
			continue
		}
		if payload, err := jws.Verify(key.Key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

func (k *keySet) snapshot() ([]jose.JSONWebKey, uint64) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys, k.gen
}

var errRefetchTooSoon = errors.New("it was read less than JWKSMinRefetch ago")

// refetch re-reads the set for a token no cached key verified, unless another caller already
// did since gen, or the last read is more recent than JWKSMinRefetch.
func (k *keySet) refetch(ctx context.Context, gen uint64) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if _, cur := k.snapshot(); cur != gen {
		return nil
	}
	if k.now().Sub(k.lastFetch) < JWKSMinRefetch {
		return errRefetchTooSoon
	}
	return k.fetchLocked(ctx)
}

// refresh re-reads the set unconditionally; on failure the last good keys stay.
func (k *keySet) refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	return k.fetchLocked(ctx)
}

func (k *keySet) fetchLocked(ctx context.Context) error {
	k.lastFetch = k.now()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, k.client, k.url, maxJWKSBytes, &set); err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	keys := usableKeys(set.Keys)
	if len(keys) == 0 {
		return fmt.Errorf("JWKS %s: no usable signing key among %d", k.url, len(set.Keys))
	}
	k.mu.Lock()
	k.keys = keys
	k.gen++
	k.mu.Unlock()
	return nil
}

// usableKeys keeps the public RSA (at least 2048 bits) and EC signing keys of a JWKS. Keys go-jose
// cannot read, encryption keys and symmetric keys are skipped, as RFC 7517 §5 asks for keys a
// client does not understand; a private key published by mistake is reduced to its public half.
func usableKeys(raw []json.RawMessage) []jose.JSONWebKey {
	var keys []jose.JSONWebKey
	for _, r := range raw {
		var key jose.JSONWebKey
		if err := json.Unmarshal(r, &key); err != nil || !key.Valid() {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		key = key.Public()
		switch pub := key.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				continue
			}
		case *ecdsa.PublicKey:
		default:
			continue
		}
		keys = append(keys, key)
	}
	return keys
}
