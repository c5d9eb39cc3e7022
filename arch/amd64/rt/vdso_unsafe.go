package rt

import (
	"syscall"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64/linux"
)

// The vDSO: the runtime reads its clocks (nanotime1, time.now) by calling
// __vdso_clock_gettime where Linux maps its vDSO, without a system call.
// initialStack puts vdsoImage's address in the auxiliary vector as
// AT_SYSINFO_EHDR; the image (linux.BuildVDSO, written by kmain) names the
// routines in vdso_amd64.s, which read the TSC and the calibration as the
// shim's clock_gettime does. The image is linked at its own address and
// its symbols are absolute, so the runtime's inVDSOPage (the range of
// the image's PT_LOAD) covers the image, not the routines, which are in
// gohv's text; the runtime uses that range only to name a profiling
// sample whose traceback failed.

var (
	// vdsoImage is the vDSO's ELF image (uint64s: 8-byte aligned).
	// Written once by kmain, read by the runtime from then on.
	vdsoImage [linux.VDSOSize / 8]uint64
	// vdsoAddrs: __vdso_clock_gettime, __vdso_gettimeofday (vdso_amd64.s).
	vdsoAddrs [2]uintptr
)

// vdsoClockGettime and vdsoGettimeofday are C-ABI routines (vdso_amd64.s),
// reached through the vDSO's symbols (or vdsoCall); they are not
// Go-callable.
func vdsoClockGettime()
func vdsoGettimeofday()

// vdsoCall calls the C-ABI routine at fn with arguments a0, a1 and
// returns its result.
func vdsoCall(fn, a0, a1 uintptr) uintptr

// buildVDSO writes the vDSO image and returns its address. Context: kmain.
//
//go:nosplit
func buildVDSO() uintptr {
	img := (*[linux.VDSOSize]byte)(unsafe.Pointer(&vdsoImage[0]))
	base := uintptr(unsafe.Pointer(img))
	linux.BuildVDSO(img, uint64(base), uint64(vdsoAddrs[0]), uint64(vdsoAddrs[1]))
	return base
}

// VDSO returns the address of the vDSO image the runtime was given.
func VDSO() uintptr { return uintptr(unsafe.Pointer(&vdsoImage[0])) }

// ClockVDSO reads clock id through the vDSO's __vdso_clock_gettime,
// called directly, in nanoseconds; errno is the call's failure. An id the
// routine does not serve is the shim's system call, as the runtime would
// get it.
func ClockVDSO(id int32) (ns int64, errno uintptr) {
	var ts [2]int64
	r := vdsoCall(vdsoAddrs[0], uintptr(id), uintptr(unsafe.Pointer(&ts)))
	if r != 0 {
		return 0, -r
	}
	return ts[0]*1e9 + ts[1], 0
}

// GettimeofdayVDSO reads the wall clock through the vDSO's
// __vdso_gettimeofday, in microseconds since 1970, and the time zone it
// reports (minutes west of UTC, DST flag).
func GettimeofdayVDSO() (us int64, tz [2]int32) {
	var tv [2]int64
	tz = [2]int32{-1, -1}
	vdsoCall(vdsoAddrs[1], uintptr(unsafe.Pointer(&tv)), uintptr(unsafe.Pointer(&tz)))
	return tv[0]*1e6 + tv[1], tz
}

// ClockShim reads clock id through the shim's clock_gettime system call,
// in nanoseconds.
func ClockShim(id int32) int64 {
	var ts [2]int64
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	return ts[0]*1e9 + ts[1]
}
