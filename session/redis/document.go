package redis

import (
	"context"
	"fmt"

	"github.com/eidsp/eidsp/session"
)

// PutDocument stores or replaces a document. The key has no TTL: documents never expire (see
// the package comment for what that asks of Redis's eviction policy). One HSET writes every
// field, so a reader sees the old document or the new one, never a mixture.
func (s *Store) PutDocument(ctx context.Context, d *session.Document) error {
	if err := d.Prepare(s.now()); err != nil {
		return fmt.Errorf("session/redis: put document: %w", err)
	}
	err := s.rdb.HSet(ctx, s.prefix+kindDoc+d.Key,
		"value", d.Value,
		"updated_at", encodeTime(d.UpdatedAt),
		"updated_by", d.UpdatedBy,
	).Err()
	if err != nil {
		return fmt.Errorf("session/redis: put document: %w", err)
	}
	return nil
}

// GetDocument returns the document stored under key.
func (s *Store) GetDocument(ctx context.Context, key string) (*session.Document, error) {
	if err := session.CheckDocumentKey(key); err != nil {
		return nil, fmt.Errorf("session/redis: get document: %w", err)
	}
	f, err := s.rdb.HGetAll(ctx, s.prefix+kindDoc+key).Result()
	if err != nil {
		return nil, fmt.Errorf("session/redis: get document: %w", err)
	}
	if len(f) == 0 {
		return nil, session.ErrNotFound
	}
	d := &session.Document{Key: key, Value: []byte(f["value"]), UpdatedBy: f["updated_by"]}
	if d.UpdatedAt, err = decodeTime(f["updated_at"]); err != nil {
		return nil, fmt.Errorf("session/redis: get document: updated_at: %w", err)
	}
	return d, nil
}

// DeleteDocument removes a document if it exists.
func (s *Store) DeleteDocument(ctx context.Context, key string) error {
	if err := session.CheckDocumentKey(key); err != nil {
		return fmt.Errorf("session/redis: delete document: %w", err)
	}
	if err := s.rdb.Del(ctx, s.prefix+kindDoc+key).Err(); err != nil {
		return fmt.Errorf("session/redis: delete document: %w", err)
	}
	return nil
}
