package rt

import (
	"errors"
	"sync/atomic"

	"github.com/gohv/gohv/arch/amd64"
)

// A guest's debug registers and CR4 on the metal.
//
// Debug registers, as Xen's activate_debugregs: a vCPU with any
// breakpoint enabled (DR7 L0-3/G0-3) has its DR0-3 and DR7 loaded by the
// entry (enterGuest, after everything else, so gohv touches no guest
// address while they are live), and the exit turns DR7 off before any
// other gohv code runs (guestExit). A vCPU without one runs with DR7 0
// and costs nothing. A #DB exit reads DR6 into the exit and resets it
// (frontTrap). Guest breakpoints can only name guest addresses (hv/pv
// refuses others), so the one way one hits in ring 0 is the MOV SS/POP SS
// shadow: gate1 records it and goes on, unless it hit gate1 itself (MOV SS
// then INT1: the guest's frame is gone), which fails the vCPU's Run.
//
// CR4: the entry loads the vCPU's CR4 (gohv's own, with the guest's
// FSGSBASE) when the CPU has another; gohv's code does not care about
// the guest-controlled bits, so the exit leaves them.

// exitDebugLost is the exit debugFrameLost makes (guest_amd64.s).
const exitDebugLost = 101

// ErrDebugFrameLost is GuestContext.Run's error when a #DB hit gohv's
// #DB entry itself and overwrote the guest's exception frame.
var ErrDebugFrameLost = errors.New("rt: a #DB on the #DB entry lost the guest's frame (MOV SS or POP SS with a breakpoint, then INT1)")

// dr6Default is DR6 with nothing recorded.
const dr6Default = amd64.DR6Default

// cr4Guest are the CR4 bits a guest's CR4 may change on the metal.
const cr4Guest = amd64.CR4_FSGSBASE

// dr7Enables are DR7's L0-3/G0-3.
const dr7Enables = 0xff

// A #DB in ring 0 (gate1): how many, the last one's DR6 and RIP.
var hostDebugTraps, hostDebugDR6, hostDebugRIP uint64

// SetDebugRegs gives the vCPU the breakpoints in dr (DR0-3) and dr7
// (validated by hv/pv: guest addresses only, no I/O breakpoints, no GD):
// from its next entry they are live while it runs, if dr7 enables any.
// Context: the vCPU's goroutine.
func (g *GuestContext) SetDebugRegs(dr [4]uint64, dr7 uint64) {
	c := &g.c
	c.dr = dr
	c.dr7 = 0
	if dr7&dr7Enables != 0 {
		c.dr7 = dr7
	}
}

// SetCR4 gives the vCPU the guest-controlled CR4 bits it runs with (only
// FSGSBASE is loaded; others are ignored). Context: the vCPU's goroutine.
func (g *GuestContext) SetCR4(bits uint64) {
	g.c.cr4 = hostCR4() | bits&cr4Guest
}

// hostCR4 is gohv's CR4 without the guest-controlled bits.
func hostCR4() uint64 { return amd64.ReadCR4() &^ cr4Guest }

// HostDebugTraps reports the #DBs gohv took in ring 0 (a guest data
// breakpoint held over MOV SS): how many, and the last one's DR6 and
// RIP. Any goroutine.
func HostDebugTraps() (n, dr6, rip uint64) {
	return atomic.LoadUint64(&hostDebugTraps), atomic.LoadUint64(&hostDebugDR6), atomic.LoadUint64(&hostDebugRIP)
}
