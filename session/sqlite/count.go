package sqlite

import (
	"context"
	"fmt"
)

// CountSessions is optional, outside session.Store: the metrics package asks for it when the
// store offers it, for the active-sessions gauge.
var _ interface {
	CountSessions(context.Context) (int, error)
} = (*Store)(nil)

// CountSessions reports the sessions whose absolute lifetime has not ended. Idle timeout is the
// handlers' policy, not the store's, so a session left idle is counted until a request finds it
// idle or its ExpiresAt passes.
func (s *Store) CountSessions(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE expires_at > ?`,
		unixNano(s.now())).Scan(&n); err != nil {
		return 0, fmt.Errorf("session/sqlite: count sessions: %w", err)
	}
	return n, nil
}
