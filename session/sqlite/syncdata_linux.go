package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// syncData makes f's written data durable with fdatasync, as SQLite does where it can: the
// file's contents and whatever metadata reading them back needs (its size), not its times. The
// WAL keeps its size once it has grown to its working length (SQLite reuses it from the start
// after a checkpoint), so on ext4 most syncs then cost a flush of the data and no journal
// commit, which an fsync would make for the modification time alone.
func syncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
