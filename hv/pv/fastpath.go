package pv

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// Fast is what a metal may do for the vCPU on its own, between two exits,
// instead of returning every SYSCALL and page fault to the PV model: the
// bounce of a 64-bit SYSCALL from user mode to the syscall callback
// (HandleSyscall), HYPERVISOR_iret from kernel mode (Iret), and the
// bounce of a #PF to the trap table's handler (HandleException:
// InjectException with CR2, then Bounce), and the event upcall a kick
// asks for (DeliverEvent: events masked, a bounce to the event
// callback), with the mode switch each makes, exactly as this package
// would do them (Xen builds all four in assembly, entry.S). Anything
// else, and anything unusual about those (no callback or handler, a
// 32-bit process, VGCF_in_syscall, single-stepping, a write fault on a
// present page from kernel mode, which may be a page-table write to
// emulate, an event to deliver afterwards, a frame that cannot be
// copied), the metal leaves to the PV model. It reports what it did
// with FastPathRan, FastFaultRan and (hv) FastEventsRan.
type Fast struct {
	Kernel                 bool   // the vCPU is in guest kernel mode now
	KernelTable, UserTable mm.MFN // guest_table and guest_table_user
	Syscall                uint64 // the syscall callback; 0: every user SYSCALL exits
	SyscallMask            bool   // its CALLBACKF_mask_events
	SyscallFrame           uint64 // where its 7-word bounce frame goes (KernelSP aligned down to 16, less 56)
	PageFault              uint64 // the trap table's #PF handler; 0: every #PF exits
	PageFaultMask          bool   // its trap_info interrupt flag: events masked on entry
	PageFaultFrame         uint64 // where its 8-word bounce frame goes from user mode (KernelSP aligned down to 16, less 64)
	Event                  uint64 // the event callback; 0: a kick always exits to deliver the upcall here
	EventFrame             uint64 // where its 7-word bounce frame goes from user mode (as SyscallFrame); 0: from user mode it exits
}

// syscallFrameSize is the bounce frame of a SYSCALL from user mode: RCX,
// R11, RIP, CS, RFLAGS, RSP, SS.
const syscallFrameSize = 7 * 8

// faultFrameSize is the bounce frame of an exception with an error code
// from user mode: RCX, R11, error code, RIP, CS, RFLAGS, RSP, SS.
const faultFrameSize = 8 * 8

// FastPath returns what a metal's fast path may do for the vCPU until
// its next exit; ok false means nothing (the vCPU has no kernel page
// table, or the domain has architectural_iopl, whose virtual IOPL iret
// keeps). Without a user page table (UserTable 0) everything that would
// enter user mode exits (Xen crashes such a guest; the PV model says so).
// Context: the vCPU's goroutine, before each entry.
func (v *VCPU) FastPath() (f Fast, ok bool) {
	if v.Tables == nil || v.Tables.Kernel == 0 {
		return Fast{}, false
	}
	if v.Dom != nil && v.Dom.ArchitecturalIOPL() {
		return Fast{}, false
	}
	f = Fast{Kernel: v.kernel, KernelTable: v.Tables.Kernel, UserTable: v.Tables.User}
	if cb := v.Callbacks[abi.CALLBACKTYPE_syscall]; cb.Address != 0 && arch.Canonical(cb.Address) {
		if base, ok := v.userFrame(syscallFrameSize); ok {
			f.Syscall, f.SyscallMask, f.SyscallFrame = cb.Address, cb.MaskEvents, base
		}
	}
	if cb := v.Callbacks[abi.CALLBACKTYPE_event]; cb.Address != 0 && arch.Canonical(cb.Address) {
		f.Event = cb.Address
		if base, ok := v.userFrame(syscallFrameSize); ok {
			f.EventFrame = base
		}
	}
	if ti := v.Traps[arch.VecPF]; ti.Address != 0 && arch.Canonical(ti.Address) {
		if base, ok := v.userFrame(faultFrameSize); ok {
			f.PageFault, f.PageFaultMask, f.PageFaultFrame = ti.Address, ti.Flags&tiIF != 0, base
		}
	}
	return f, true
}

// userFrame returns where Bounce puts a frame of size bytes from user
// mode, if Bounce's rules for it and the copy's hold without its corner
// cases: the aligned KernelSP outside the hypervisor's range, and the
// whole frame canonical, in the guest's low or high part.
func (v *VCPU) userFrame(size uint64) (base uint64, ok bool) {
	top := v.KernelSP &^ 0xf
	if top > abi.HYPERVISOR_VIRT_START && top < abi.HYPERVISOR_VIRT_END+64 {
		return 0, false
	}
	if top < size || !arch.Canonical(top-size) || !arch.Canonical(top-1) {
		return 0, false
	}
	base = top - size
	if !(top <= arch.LowerHalfEnd || base >= abi.HYPERVISOR_VIRT_END) {
		return 0, false
	}
	return base, true
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

// FastFaultRan is told by the metal that its fast path bounced page
// faults, the last at address cr2: the virtual CR2 is
// that address, as InjectException would have left it (the metal wrote
// vcpu_info's copy, the frame and the mode; FastPathRan has the mode).
// Context: the vCPU's goroutine.
func (v *VCPU) FastFaultRan(cr2 uint64) { v.CR2 = cr2 }
