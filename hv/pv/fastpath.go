package pv

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// Fast is what a metal may do for the vCPU on its own, between two exits,
// instead of returning every SYSCALL to the PV model: the bounce of a
// 64-bit SYSCALL from user mode to the syscall callback (HandleSyscall)
// and HYPERVISOR_iret from kernel mode (Iret), with the mode switch each
// makes, exactly as this package would do them (Xen builds both in
// assembly, entry.S). Anything else, and anything unusual about those
// two (no callback, a 32-bit process, VGCF_in_syscall, single-stepping,
// an event to deliver afterwards, a frame that cannot be copied), the
// metal leaves to the PV model. It reports what it did with FastPathRan.
type Fast struct {
	Kernel                 bool   // the vCPU is in guest kernel mode now
	KernelTable, UserTable mm.MFN // guest_table and guest_table_user
	Syscall                uint64 // the syscall callback; 0: every user SYSCALL exits
	SyscallMask            bool   // its CALLBACKF_mask_events
	SyscallFrame           uint64 // where its 7-word bounce frame goes (KernelSP aligned down to 16, less 56)
}

// syscallFrameSize is the bounce frame of a SYSCALL from user mode: RCX,
// R11, RIP, CS, RFLAGS, RSP, SS.
const syscallFrameSize = 7 * 8

// FastPath returns what a metal's fast path may do for the vCPU until
// its next exit; ok false means nothing (the vCPU has no user page table,
// or the domain has architectural_iopl, whose virtual IOPL iret keeps).
// Context: the vCPU's goroutine, before each entry.
func (v *VCPU) FastPath() (f Fast, ok bool) {
	if v.Tables == nil || v.Tables.Kernel == 0 || v.Tables.User == 0 {
		return Fast{}, false
	}
	if v.Dom != nil && v.Dom.ArchitecturalIOPL() {
		return Fast{}, false
	}
	f = Fast{Kernel: v.kernel, KernelTable: v.Tables.Kernel, UserTable: v.Tables.User}
	cb := v.Callbacks[abi.CALLBACKTYPE_syscall]
	if cb.Address == 0 || !arch.Canonical(cb.Address) {
		return f, true
	}
	// Bounce's rules for a frame from user mode, and the copy's: the
	// whole frame in the guest's low or high part.
	top := v.KernelSP &^ 0xf
	if top > abi.HYPERVISOR_VIRT_START && top < abi.HYPERVISOR_VIRT_END+64 {
		return f, true
	}
	if top < syscallFrameSize || !arch.Canonical(top-syscallFrameSize) || !arch.Canonical(top-1) {
		return f, true
	}
	base := top - syscallFrameSize
	if !(top <= arch.LowerHalfEnd || base >= abi.HYPERVISOR_VIRT_END) {
		return f, true
	}
	f.Syscall, f.SyscallMask, f.SyscallFrame = cb.Address, cb.MaskEvents, base
	return f, true
}

// FastPathRan is told by the metal that its fast path ran: the vCPU is
// now in kernel mode or not. The metal has done the rest of each switch
// (Regs' GS bases swapped, the upcall mask, the frame), so only the mode
// bit and Tables.Reload follow here. Context: the vCPU's goroutine.
func (v *VCPU) FastPathRan(kernel bool) {
	if v.kernel != kernel {
		v.kernel = kernel
		if v.Tables != nil {
			v.Tables.Reload = true
		}
	}
}
