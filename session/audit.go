package session

import "time"

// Prepare fills the defaults of an audit event a backend is asked to append: Time defaults to
// now, so that an event without a time still sorts where it was appended, not at the beginning
// of time.
func (e *AuditEvent) Prepare(now time.Time) {
	if e.Time.IsZero() {
		e.Time = now
	}
}
