package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/eidsp/eidsp/session"
)

// AppendAudit adds an event and trims the trail to the newest session.MaxAuditEvents by
// insertion, in one transaction, so that no reader ever sees more and a failed trim leaves no
// extra row behind.
func (s *Store) AppendAudit(ctx context.Context, e *session.AuditEvent) (err error) {
	v, err := e.Encode(s.now())
	if err != nil {
		return fmt.Errorf("session/sqlite: append audit: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("session/sqlite: append audit: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err = tx.StmtContext(ctx, s.stmts.insertAudit).ExecContext(ctx, unixNano(e.Time), string(v)); err != nil {
		return fmt.Errorf("session/sqlite: append audit: %w", err)
	}
	if _, err = tx.StmtContext(ctx, s.stmts.trimAudit).ExecContext(ctx, session.MaxAuditEvents-1); err != nil {
		return fmt.Errorf("session/sqlite: append audit: trim: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("session/sqlite: append audit: %w", err)
	}
	return nil
}

// RecentAudit returns at most n events, newest first.
func (s *Store) RecentAudit(ctx context.Context, n int) ([]session.AuditEvent, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT event FROM audit_events ORDER BY time DESC, id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("session/sqlite: recent audit: %w", err)
	}
	defer rows.Close()
	var events []session.AuditEvent
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("session/sqlite: recent audit: %w", err)
		}
		var e session.AuditEvent
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("session/sqlite: recent audit: decode: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("session/sqlite: recent audit: %w", err)
	}
	return events, nil
}
