package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/eidsp/eidsp/session"
)

// PutDocument stores or replaces a document.
func (s *Store) PutDocument(ctx context.Context, d *session.Document) error {
	if err := d.Prepare(s.now()); err != nil {
		return fmt.Errorf("session/sqlite: put document: %w", err)
	}
	// The driver binds a nil []byte as NULL, which the NOT NULL column refuses; an empty
	// document is an empty BLOB.
	value := d.Value
	if value == nil {
		value = []byte{}
	}
	err := s.direct(func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `
			INSERT INTO documents (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
			                                updated_by = excluded.updated_by`,
			d.Key, value, unixNano(d.UpdatedAt), d.UpdatedBy)
		return err
	})
	if err != nil {
		return fmt.Errorf("session/sqlite: put document: %w", err)
	}
	return nil
}

// GetDocument returns the document stored under key.
func (s *Store) GetDocument(ctx context.Context, key string) (*session.Document, error) {
	if err := session.CheckDocumentKey(key); err != nil {
		return nil, fmt.Errorf("session/sqlite: get document: %w", err)
	}
	d := &session.Document{Key: key}
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT value, updated_at, updated_by FROM documents WHERE key = ?`, key).
		Scan(&d.Value, &updated, &d.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: get document: %w", err)
	}
	d.UpdatedAt = fromUnixNano(updated)
	return d, nil
}

// DeleteDocument removes a document if it exists.
func (s *Store) DeleteDocument(ctx context.Context, key string) error {
	if err := session.CheckDocumentKey(key); err != nil {
		return fmt.Errorf("session/sqlite: delete document: %w", err)
	}
	err := s.direct(func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `DELETE FROM documents WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("session/sqlite: delete document: %w", err)
	}
	return nil
}
