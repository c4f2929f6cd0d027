package sqlite

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An fdatasync that does not hold a P while the disk answers.
//
// A goroutine in a blocking system call keeps its P (the right to run Go code) until the
// runtime's monitor notices and hands the P to another thread, which takes from 20 µs to
// 10 ms; with GOMAXPROCS 2 every fsync of the syncer so took up to half of the process's CPU
// for its length. Measured in the login benchmark on a virtual disk: the process was busy 90–94
// % of the wall clock, against 98 % on tmpfs and 97 % with a third P (docs/BENCHMARKS.md,
// benchmark 1, item 14). Linux's native AIO runs an fdatasync in a kernel worker
// (IOCB_CMD_FDSYNC, since Linux 4.18) and signals an eventfd when it is done; Go's poller waits
// for the eventfd, as for a socket, with no P held. The sync is the kernel's own vfs_fsync with
// datasync set, the same as fdatasync(2).
//
// Where native AIO is missing or refused (an older kernel, a seccomp profile, gVisor) the
// syncer uses fdatasync(2) as before.

// Linux's AIO ABI (include/uapi/linux/aio_abi.h).
const (
	iocbCmdFdsync = 3
	iocbFlagResfd = 1 << 0
)

// iocb is struct iocb on a little-endian machine: aio_key comes before aio_rw_flags.
type iocb struct {
	data      uint64
	key       uint32
	rwFlags   uint32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

type ioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

// aioSync submits fdatasyncs one at a time. It is not safe for concurrent use: its one user,
// walSync, holds walSync.mu through every sync and through close.
type aioSync struct {
	ctx  uint64   // aio_context_t
	ev   *os.File // the eventfd, non-blocking, in Go's poller
	evfd int      // its descriptor (ev.Fd() is not called: on some files it makes them blocking)

	seq      uint64 // the submission's number, echoed in its completion
	fallback bool   // a submission was refused or a wait failed: fdatasync(2) from now on
}

// newAIOSync sets up an AIO context and its eventfd, or fails where the system has no
// native AIO.
func newAIOSync() (*aioSync, error) {
	if !littleEndian() {
		return nil, errors.New("native AIO: iocb layout is little-endian only here")
	}
	var ctx uint64
	if _, _, errno := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0); errno != 0 {
		return nil, fmt.Errorf("io_setup: %w", errno)
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Syscall(unix.SYS_IO_DESTROY, uintptr(ctx), 0, 0)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// A non-blocking descriptor: os.NewFile puts it in the poller.
	return &aioSync{ctx: ctx, ev: os.NewFile(uintptr(fd), "aio-eventfd"), evfd: fd}, nil
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// sync makes f's written data durable, as fdatasync(2).
func (a *aioSync) sync(f *os.File) error {
	if a.fallback {
		return syncData(f)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	a.seq++
	var submitErr error
	if err := rc.Control(func(fd uintptr) { submitErr = a.submit(int(fd)) }); err != nil {
		return err
	}
	switch {
	case errors.Is(submitErr, syscall.EAGAIN):
		// The kernel is short of AIO resources right now: this one the plain way.
		return syncData(f)
	case submitErr != nil:
		// No IOCB_CMD_FDSYNC before Linux 4.18 (EINVAL), a file system without fsync, an
		// eventfd gone bad: fdatasync(2) from now on, and its answer is this sync's.
		a.fallback = true
		return syncData(f)
	}
	if err := a.wait(); err != nil {
		// Whether that sync was made is unknown (the caller reports the failure), and a
		// completion left behind must not answer a later one.
		a.fallback = true
		return err
	}
	return nil
}

func (a *aioSync) submit(fd int) error {
	cb := &iocb{data: a.seq, opcode: iocbCmdFdsync, fildes: uint32(fd), flags: iocbFlagResfd, resfd: uint32(a.evfd)}
	cbs := [1]*iocb{cb}
	for {
		n, _, errno := unix.Syscall(unix.SYS_IO_SUBMIT, uintptr(a.ctx), 1, uintptr(unsafe.Pointer(&cbs[0])))
		runtime.KeepAlive(cb)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return errno
		case n != 1:
			return fmt.Errorf("submitted %d of 1", n)
		}
		return nil
	}
}

// wait reads the eventfd (in the poller, holding no P), then collects the completion.
func (a *aioSync) wait() error {
	var count [8]byte
	if _, err := a.ev.Read(count[:]); err != nil {
		return fmt.Errorf("aio eventfd: %w", err)
	}
	var ev ioEvent
	var zero unix.Timespec // the event is there: do not wait
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_GETEVENTS, uintptr(a.ctx), 1, 1,
			uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&zero)), 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_getevents: %w", errno)
		}
		if n != 1 {
			return errors.New("io_getevents: the eventfd fired without a completion")
		}
		break
	}
	if ev.data != a.seq {
		return fmt.Errorf("aio: completion %d for submission %d", ev.data, a.seq)
	}
	if ev.res < 0 {
		return syscall.Errno(-ev.res)
	}
	return nil
}

func (a *aioSync) close() error {
	_, _, errno := unix.Syscall(unix.SYS_IO_DESTROY, uintptr(a.ctx), 0, 0)
	err := a.ev.Close()
	if errno != 0 {
		return errors.Join(fmt.Errorf("io_destroy: %w", errno), err)
	}
	return err
}

// newSyncer is the WAL's sync: through native AIO where the system has it, else fdatasync(2).
func newSyncer() (sync func(*os.File) error, close func() error) {
	a, err := newAIOSync()
	if err != nil {
		return syncData, func() error { return nil }
	}
	return a.sync, a.close
}
