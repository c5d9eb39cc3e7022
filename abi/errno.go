// Copyright 2026 The gohv Authors. All rights reserved.

package abi

import "strconv"

// Errno is a Xen error number (xen/errno.h). The values are the constants
// in zerrno.go, a closed set: a hypercall failing with e returns -e in the
// guest's RAX (see Ret). Errno implements error.
type Errno int32

// Ret returns the value a guest sees in RAX for a hypercall that fails with
// e: -e as a 64-bit two's complement value (-ENOSYS is 0xffffffffffffffda).
func (e Errno) Ret() uint64 { return uint64(-int64(e)) }

// Error returns Xen's name for e, such as "EINVAL".
func (e Errno) Error() string { return e.String() }

// String returns Xen's name for e, such as "EINVAL", or "Errno(n)" for a
// value outside the set. Aliases print as the first name of their value
// (EWOULDBLOCK prints as "EAGAIN").
func (e Errno) String() string {
	if n, ok := errnoName(e); ok {
		return n
	}
	return "Errno(" + strconv.Itoa(int(e)) + ")"
}

// Valid reports whether e is one of Xen's errno values.
func (e Errno) Valid() bool {
	_, ok := errnoName(e)
	return ok
}

// GuestVisible reports whether e may be returned to a guest: a valid value
// other than the hypervisor-internal EINTR and ERESTART.
func (e Errno) GuestVisible() bool {
	return e.Valid() && e != EINTR && e != ERESTART
}

// ErrnoFromRet decodes a hypercall return value as the guest sees it in
// RAX. ok is true only when ret is -e for a valid Errno e; otherwise e is
// 0.
func ErrnoFromRet(ret uint64) (e Errno, ok bool) {
	v := -int64(ret)
	if v <= 0 || v > 1<<31-1 || !Errno(v).Valid() {
		return 0, false
	}
	return Errno(v), true
}
