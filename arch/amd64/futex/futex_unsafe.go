package futex

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Linux's futex operations (include/uapi/linux/futex.h): WAIT and WAKE on
// a word private to the process, the only ones gohv's shim serves.
const (
	futexWaitPrivate = 0 | 128
	futexWakePrivate = 1 | 128
)

// wait sleeps in FUTEX_WAIT while *w == val, without timeout. It returns
// on a wake-up, at once if *w != val (EAGAIN), or on a signal (EINTR);
// the caller rechecks the word. syscall.Syscall6 tells the Go runtime
// the thread blocks (entersyscall), so the thread's P may serve others
// meanwhile.
func wait(w *atomic.Uint32, val uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWaitPrivate, uintptr(val), 0, 0, 0)
}

// wake wakes the thread sleeping on w, if any (FUTEX_WAKE of one). It
// does not block: RawSyscall6, no hand-off of the P.
func wake(w *atomic.Uint32) {
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWakePrivate, 1, 0, 0, 0)
}
