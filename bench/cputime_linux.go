package bench

import (
	"syscall"
	"unsafe"
)

// ThreadCPU is the CPU time in nanoseconds of the calling OS thread (CLOCK_THREAD_CPUTIME_ID): unlike the wall
// clock it does not count the time other processes on a shared machine take from us.
func ThreadCPU() (int64, bool) {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return ts.Nano(), true
}
