package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/eidsp/eidsp/session"
)

// recordingStore records the batches AppendAudit receives; the first write waits for release,
// so that what is queued meanwhile arrives as batches. fail makes every write fail.
type recordingStore struct {
	session.Store
	release chan struct{}
	once    sync.Once
	fail    bool
	mu      sync.Mutex
	batches [][]string
}

func (s *recordingStore) AppendAudit(_ context.Context, events ...*session.AuditEvent) error {
	s.once.Do(func() { <-s.release })
	refs := make([]string, len(events))
	for i, e := range events {
		refs[i] = e.Ref
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, refs)
	if s.fail {
		return errors.New("store down")
	}
	return nil
}

func TestAuditWriterBatches(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			store := &recordingStore{release: make(chan struct{}), fail: fail}
			w := newAuditWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
			done := make(chan struct{})
			go func() { w.run(); close(done) }()
			const n = 3*auditBatch + 5
			for i := range n {
				w.add(&session.AuditEvent{Event: "login", Ref: fmt.Sprint(i)})
			}
			close(store.release)
			w.close()
			<-done

			var got []string
			batched := false
			for _, b := range store.batches {
				if len(b) == 0 || len(b) > auditBatch {
					t.Errorf("a write carried %d events, want 1 to %d", len(b), auditBatch)
				}
				batched = batched || len(b) > 1
				got = append(got, b...)
			}
			if len(got) != n {
				t.Fatalf("%d events written, want %d (a failed write must not stop the writer)", len(got), n)
			}
			for i, ref := range got {
				if ref != fmt.Sprint(i) {
					t.Fatalf("event %d written is %q: order lost", i, ref)
				}
			}
			if !batched {
				t.Errorf("events queued while a write was in flight went one per write: %d writes", len(store.batches))
			}
		})
	}
}
