package session

import (
	"encoding/json"
	"time"
)

// Encode fills the defaults of an audit event a backend is asked to append and returns the JSON
// every backend stores. Time defaults to now, so that an event without a time still sorts where
// it was appended, not at the beginning of time.
func (e *AuditEvent) Encode(now time.Time) ([]byte, error) {
	if e.Time.IsZero() {
		e.Time = now
	}
	return json.Marshal(e)
}
