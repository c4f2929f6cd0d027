package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/eidsp/eidsp/session"
)

// AppendAudit pushes events onto the audit list and trims the list to the newest
// session.MaxAuditEvents by insertion. LPUSH and LTRIM go in one MULTI, so the list never holds
// more, whichever instance appends. The list has no TTL; the trim bounds it.
func (s *Store) AppendAudit(ctx context.Context, events ...*session.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := s.now()
	vals := make([]any, len(events))
	for i, e := range events {
		v, err := e.Encode(now)
		if err != nil {
			return fmt.Errorf("session/redis: append audit: %w", err)
		}
		vals[i] = v
	}
	key := s.prefix + keyAudit
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.LPush(ctx, key, vals...)
		p.LTrim(ctx, key, 0, session.MaxAuditEvents-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("session/redis: append audit: %w", err)
	}
	return nil
}

// RecentAudit returns at most n events, newest first. The list is in insertion order, which
// differs from time order when instances' clocks disagree or a caller sets Time, so it reads the
// whole list (at most MaxAuditEvents) and sorts it stably by Time: among equal times the list's
// order, latest insertion first, stays.
func (s *Store) RecentAudit(ctx context.Context, n int) ([]session.AuditEvent, error) {
	if n <= 0 {
		return nil, nil
	}
	vals, err := s.rdb.LRange(ctx, s.prefix+keyAudit, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("session/redis: recent audit: %w", err)
	}
	events := make([]session.AuditEvent, len(vals))
	for i, v := range vals {
		if err := json.Unmarshal([]byte(v), &events[i]); err != nil {
			return nil, fmt.Errorf("session/redis: recent audit: decode: %w", err)
		}
	}
	slices.SortStableFunc(events, func(a, b session.AuditEvent) int { return b.Time.Compare(a.Time) })
	if len(events) > n {
		events = events[:n]
	}
	return events, nil
}
