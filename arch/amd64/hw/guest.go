package hw

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
)

// What a PV guest may run with: the address ranges it owns and the
// RFLAGS and selectors GuestContext.Run enters it with.

// RFLAGS bits.
const (
	RFLAGS_TF   = 1 << 8
	RFLAGS_IF   = 1 << 9
	RFLAGS_DF   = 1 << 10
	RFLAGS_IOPL = 3 << 12
	RFLAGS_NT   = 1 << 14
	RFLAGS_RF   = 1 << 16
	RFLAGS_VM   = 1 << 17
	RFLAGS_AC   = 1 << 18

	rflagsFixed = 1 << 1 // reads as one
)

// The guest's parts of the address space: below the x86-64 hole, and
// above the hypervisor's range (Xen's HYPERVISOR_VIRT_START..END, L4
// slots 256-271). One definition each: arch's and abi's.
const (
	GuestLowEnd    = arch.LowerHalfEnd
	GuestHighStart = abi.HYPERVISOR_VIRT_END
)

// GuestRange reports whether [va, va+n) lies in one guest part of the
// address space.
//
//go:nosplit
func GuestRange(va uint64, n int) bool {
	end := va + uint64(n)
	switch {
	case n < 0 || end < va:
		return false
	case end <= GuestLowEnd:
		return true
	}
	return va >= GuestHighStart
}

// GuestRFLAGS returns the RFLAGS a guest runs with for the value it asks
// for: interrupts on (a PV guest masks events, not interrupts), IOPL 0
// (port access is emulated), no virtual-8086 mode or nested task.
//
//go:nosplit
func GuestRFLAGS(rflags uint64) uint64 {
	return rflags&^(RFLAGS_IOPL|RFLAGS_VM|RFLAGS_NT) | RFLAGS_IF | rflagsFixed
}

// SysretOK reports whether a guest with these registers can be entered by
// SYSRET rather than IRETQ: flat 64-bit ring-3 selectors (SYSRET loads
// fixed ones), RCX = RIP and R11 = RFLAGS (it takes them from there), and
// RF clear (SYSRET cannot set it).
//
//go:nosplit
func SysretOK(cs, ss uint16, rip, rflags, rcx, r11 uint64) bool {
	return cs == SelUser64CS && ss == SelUserDS && rcx == rip && r11 == rflags && rflags&RFLAGS_RF == 0
}
