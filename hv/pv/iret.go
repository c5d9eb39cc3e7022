package pv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// IretContextSize is sizeof(struct iret_context).
const IretContextSize = 72

// Iret is HYPERVISOR_iret (23). It reads the iret_context (rax, r11, rcx,
// flags, rip, cs, rflags, rsp, ss) at the guest's RSP; a CS with RPL 3
// switches to user mode (which needs a user page table); it loads RIP,
// RSP, RFLAGS (IOPL and VM cleared, IF forced on), CS|3 and SS|3, restores
// RCX and R11 unless flags has VGCF_in_syscall, sets the upcall mask to
// !RFLAGS.IF and returns the saved RAX, which it also stores in r.RAX:
// the caller must not overwrite RAX with a hypercall result.
func (v *VCPU) Iret(r *arch.Regs) (rax uint64, err error) {
	b := v.scratch[:IretContextSize]
	if !v.Mem.CopyFromGuest(b, mm.GuestVA(r.RSP), v.space()) {
		return 0, crashf("Fault while reading IRET context from guest stack")
	}
	le := binary.LittleEndian
	var c abi.IretContext
	c.Rax, c.R11, c.Rcx, c.Flags = le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])
	c.Rip, c.Cs, c.Rflags = le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:])
	c.Rsp, c.Ss = le.Uint64(b[56:]), le.Uint64(b[64:])

	if c.Cs&3 == 3 && v.kernel {
		if v.Tables == nil || v.Tables.User == 0 {
			return 0, crashf("Guest switching to user mode with no user page tables")
		}
		v.toggleMode(r)
	}
	if v.Dom != nil && v.Dom.ArchitecturalIOPL() {
		v.IOPL = c.Rflags & flagIOPL
	}
	r.RIP = c.Rip
	r.CS = uint16(c.Cs | 3)
	r.RFLAGS = c.Rflags&^(flagIOPL|flagVM) | flagIF
	r.RSP = c.Rsp
	r.SS = uint16(c.Ss | 3)
	if c.Flags&abi.VGCF_in_syscall == 0 {
		r.R11 = c.R11
		r.RCX = c.Rcx
	}
	if c.Rflags&flagIF != 0 {
		v.Info.SetUpcallMask(0)
	} else {
		v.Info.SetUpcallMask(1)
	}
	r.RAX = c.Rax
	return c.Rax, nil
}
