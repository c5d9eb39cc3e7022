// Copyright 2026 The gohv Authors. All rights reserved.

package abi

import (
	"errors"
	"testing"
)

// Values from Xen's public/errno.h (they match Linux's errno numbers).
func TestErrnoValues(t *testing.T) {
	tests := []struct {
		e    Errno
		want int32
		name string
	}{
		{EPERM, 1, "EPERM"},
		{ENOENT, 2, "ENOENT"},
		{ESRCH, 3, "ESRCH"},
		{EINTR, 4, "EINTR"},
		{EIO, 5, "EIO"},
		{ENXIO, 6, "ENXIO"},
		{E2BIG, 7, "E2BIG"},
		{EAGAIN, 11, "EAGAIN"},
		{EWOULDBLOCK, 11, "EAGAIN"},
		{ENOMEM, 12, "ENOMEM"},
		{EACCES, 13, "EACCES"},
		{EFAULT, 14, "EFAULT"},
		{EBUSY, 16, "EBUSY"},
		{EEXIST, 17, "EEXIST"},
		{ENODEV, 19, "ENODEV"},
		{EINVAL, 22, "EINVAL"},
		{ENOSPC, 28, "ENOSPC"},
		{ERANGE, 34, "ERANGE"},
		{EDEADLOCK, 35, "EDEADLK"},
		{ENOSYS, 38, "ENOSYS"},
		{ENODATA, 61, "ENODATA"},
		{ETIME, 62, "ETIME"},
		{ERESTART, 85, "ERESTART"},
		{EOPNOTSUPP, 95, "EOPNOTSUPP"},
		{EISCONN, 106, "EISCONN"},
		{ENOTCONN, 107, "ENOTCONN"},
		{ETIMEDOUT, 110, "ETIMEDOUT"},
		{ECONNREFUSED, 111, "ECONNREFUSED"},
	}
	for _, tt := range tests {
		if int32(tt.e) != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, int32(tt.e), tt.want)
		}
		if got := tt.e.String(); got != tt.name {
			t.Errorf("Errno(%d).String() = %q, want %q", tt.want, got, tt.name)
		}
		if !tt.e.Valid() {
			t.Errorf("%s not Valid", tt.name)
		}
	}
}

func TestErrnoRet(t *testing.T) {
	tests := []struct {
		e    Errno
		want uint64
	}{
		{ENOSYS, 0xffffffffffffffda},
		{EPERM, 0xffffffffffffffff},
		{EINVAL, 0xffffffffffffffea},
		{ECONNREFUSED, 0xffffffffffffff91},
		{0, 0},
	}
	for _, tt := range tests {
		if got := tt.e.Ret(); got != tt.want {
			t.Errorf("%v.Ret() = %#x, want %#x", tt.e, got, tt.want)
		}
	}
}

func TestErrnoFromRet(t *testing.T) {
	tests := []struct {
		ret  uint64
		want Errno
		ok   bool
	}{
		{0, 0, false},
		{1, 0, false},
		{0xffffffffffffffda, ENOSYS, true},
		{0xffffffffffffffff, EPERM, true},
		{0xffffffffffffff91, ECONNREFUSED, true},
		{0xffffffffffffff90, 0, false},     // -112: not a Xen errno
		{0xffffffffffffffe1, EMLINK, true}, // -31
		{0xffffffff80000000, 0, false},     // below int32 range
		{0x8000000000000000, 0, false},     // most negative int64
		{0xfffffffffffffff1, 0, false},     // -15: gap in the set
		{0x7fffffffffffffff, 0, false},     // positive
		{0xffffffffffffffa9, 0, false},     // -87
		{0xffffffffffffffab, ERESTART, true},
	}
	for _, tt := range tests {
		e, ok := ErrnoFromRet(tt.ret)
		if e != tt.want || ok != tt.ok {
			t.Errorf("ErrnoFromRet(%#x) = %v, %v; want %v, %v", tt.ret, e, ok, tt.want, tt.ok)
		}
	}
}

func TestErrnoMisc(t *testing.T) {
	if got := Errno(1000).String(); got != "Errno(1000)" {
		t.Errorf("String of unknown = %q", got)
	}
	if Errno(1000).Valid() || Errno(0).Valid() || Errno(-1).Valid() {
		t.Error("invalid values reported Valid")
	}
	if EINTR.GuestVisible() || ERESTART.GuestVisible() || Errno(99999).GuestVisible() {
		t.Error("internal or invalid value reported GuestVisible")
	}
	if !EINVAL.GuestVisible() {
		t.Error("EINVAL not GuestVisible")
	}
	var err error = EFAULT
	if !errors.Is(err, EFAULT) || err.Error() != "EFAULT" {
		t.Errorf("error interface: %v", err)
	}
	// errnoValues lists every distinct value exactly once, each with a
	// distinct name.
	seenName := map[string]bool{}
	seenVal := map[Errno]bool{}
	for _, e := range errnoValues {
		n := e.String()
		if seenName[n] || seenVal[e] {
			t.Errorf("%s (%d) appears twice", n, int32(e))
		}
		seenName[n], seenVal[e] = true, true
		if e <= 0 || !e.Valid() {
			t.Errorf("%s has bad value %d", n, int32(e))
		}
	}
	if len(errnoValues) < 40 {
		t.Errorf("only %d errno values", len(errnoValues))
	}
	// Every value in the range is Valid exactly when it is listed.
	for e := Errno(-5); e < 200; e++ {
		if e.Valid() != seenVal[e] {
			t.Errorf("Errno(%d).Valid() = %v, listed %v", int32(e), e.Valid(), seenVal[e])
		}
	}
}

// FuzzErrnoFromRet: any RAX value decodes to either a valid Errno whose
// Ret is that value, or to nothing.
func FuzzErrnoFromRet(f *testing.F) {
	for _, s := range []uint64{0, 1, ENOSYS.Ret(), EPERM.Ret(), 1 << 63, ^uint64(0), 0xffffffff80000000} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ret uint64) {
		e, ok := ErrnoFromRet(ret)
		if !ok {
			if e != 0 {
				t.Fatalf("ErrnoFromRet(%#x) = %v, false", ret, e)
			}
			return
		}
		if !e.Valid() || e.Ret() != ret {
			t.Fatalf("ErrnoFromRet(%#x) = %v (Ret %#x)", ret, e, e.Ret())
		}
	})
}
