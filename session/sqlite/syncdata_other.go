//go:build !linux

package sqlite

import "os"

// syncData is (*os.File).Sync where there is no fdatasync (on macOS Go's Sync is F_FULLFSYNC).
func syncData(f *os.File) error { return f.Sync() }

// newSyncer is the WAL's sync.
func newSyncer() (sync func(*os.File) error, close func() error) {
	return syncData, func() error { return nil }
}
