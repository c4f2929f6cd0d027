package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/eidsp/eidsp/session"
)

// AppendAudit adds events and trims the trail to the newest session.MaxAuditEvents by
// insertion, in one transaction, so that no reader ever sees more and a failed trim leaves no
// extra row behind. A batch costs one trim however many events it holds.
//
// It is a write of the committer, like a login's, and shares its groups' transactions and
// fsyncs: a commit from any other connection would make the committer's connection drop its
// whole page cache at its next transaction (SQLite's WAL mode does so when the log has
// changed under it) and read every page it needs next back from the file.
func (s *Store) AppendAudit(ctx context.Context, events ...*session.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := s.now()
	vals := make([]string, len(events))
	for i, e := range events {
		v, err := e.Encode(now)
		if err != nil {
			return fmt.Errorf("session/sqlite: append audit: %w", err)
		}
		vals[i] = string(v)
	}
	err := s.write(ctx, false, func(ctx context.Context) error {
		for i, e := range events {
			if _, err := s.w.insertAudit.ExecContext(ctx, unixNano(e.Time), vals[i]); err != nil {
				return err
			}
		}
		if _, err := s.w.trimAudit.ExecContext(ctx, session.MaxAuditEvents-1); err != nil {
			return fmt.Errorf("trim: %w", err)
		}
		return nil
	})
	if err != nil {
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
