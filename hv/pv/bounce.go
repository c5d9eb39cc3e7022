package pv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// RFLAGS bits.
const (
	flagCF   = 1 << 0
	flagTF   = 1 << 8
	flagIF   = 1 << 9
	flagDF   = 1 << 10
	flagOF   = 1 << 11
	flagIOPL = 3 << 12
	flagNT   = 1 << 14
	flagRF   = 1 << 16
	flagVM   = 1 << 17
	flagAC   = 1 << 18
)

// trap_info flags: bits 1:0 DPL, bit 2 "interrupt gate" (mask events).
const (
	tiDPLMask = 3
	tiIF      = 4
)

// hasErrorCode is Xen's X86_EXC_HAVE_EC set for a PV bounce: 8, 10-14, 17
// and 21.
func hasErrorCode(vec uint8) bool {
	switch vec {
	case 8, 10, 11, 12, 13, 14, 17, 21:
		return true
	}
	return false
}

// Frame is one bounce: where the guest kernel is entered and what the
// frame carries (Xen's trap_bounce).
type Frame struct {
	Handler   uint64 // new RIP; 0 crashes the domain (no handler)
	ErrorCode uint64 // pushed when HasError
	HasError  bool
	// Interrupt sets the upcall mask on delivery (TBF_INTERRUPT).
	Interrupt bool
	// Failsafe inserts DS, ES, FS, GS between R11 and the rest
	// (TBF_FAILSAFE).
	Failsafe bool
}

// Bounce builds Xen's bounce frame on the guest kernel stack and enters
// the handler in guest kernel mode (create_bounce_frame). From user mode
// it switches to kernel mode (GS swap, CR3 reload) and uses KernelSP;
// from kernel mode it uses RSP and clears the saved CS's RPL. The stack
// top is aligned down to 16. From the final RSP upward the frame holds
// RCX, R11, [DS, ES, FS, GS], [error code], RIP, CS | saved mask<<32,
// RFLAGS (IF = !saved mask; IOPL = virtual IOPL only with
// architectural_iopl), RSP, SS. Then RIP = handler, CS = 0xe033,
// SS = 0xe02b, TF/NT/RF/VM/AC cleared, and the upcall mask set when the
// frame is interrupt-like.
//
// A stack in the hypervisor hole, a non-canonical frame, a frame that
// cannot be written or a zero handler returns *Crash. A stack top below
// HYPERVISOR_VIRT_END loses bit 63 first, as in Xen 4.17 (see the
// package doc); the frame's saved RSP is the guest's own.
func (v *VCPU) Bounce(r *arch.Regs, f Frame) error {
	if f.Handler == 0 {
		return crashf("bad bounce frame: no handler (RIP %#x)", r.RIP)
	}
	savedCS := uint64(r.CS)
	var top uint64
	if !v.kernel {
		v.toggleMode(r)
		top = v.KernelSP
	} else {
		top = r.RSP
		savedCS &^= 3 // RPL 0: "interrupted guest kernel"
	}
	top &^= 0xf
	// Xen's check on the aligned stack top: not inside the hypervisor's
	// range (with the frame's room above its end).
	if top > abi.HYPERVISOR_VIRT_START && top < abi.HYPERVISOR_VIRT_END+64 {
		return crashf("bad bounce frame: stack %#x in the hypervisor area", top)
	}
	// Then Xen 4.17 masks it as every guest pointer it dereferences
	// (guest_access_mask_ptr, CONFIG_SPECULATIVE_HARDEN_GUEST_ACCESS):
	// below HYPERVISOR_VIRT_END bit 63 is cleared, so a non-canonical
	// top with bit 63 set and bits 62:47 clear becomes its lower-half
	// alias, and the frame is written there.
	if top < abi.HYPERVISOR_VIRT_END {
		top &^= 1 << 63
	}
	n := 7
	if f.HasError {
		n++
	}
	if f.Failsafe {
		n += 4
	}
	size := uint64(8 * n)
	if top < size || !arch.Canonical(top-size) || !arch.Canonical(top-1) {
		return crashf("bad bounce frame: stack %#x not canonical", top)
	}
	base := top - size

	mask := v.Info.UpcallMask()
	if f.Interrupt {
		v.Info.SetUpcallMask(mask | 1)
	}
	rflags := r.RFLAGS &^ (flagIF | flagIOPL)
	if mask == 0 {
		rflags |= flagIF
	}
	if v.Dom != nil && v.Dom.ArchitecturalIOPL() {
		rflags |= v.IOPL & flagIOPL
	}

	w := v.scratch[:0]
	put := func(x uint64) { w = binary.LittleEndian.AppendUint64(w, x) }
	put(r.RCX)
	put(r.R11)
	if f.Failsafe {
		put(uint64(r.DS))
		put(uint64(r.ES))
		put(uint64(r.FS))
		put(uint64(r.GS))
	}
	if f.HasError {
		put(f.ErrorCode & 0xffffffff)
	}
	put(r.RIP)
	put(savedCS | uint64(mask)<<32)
	put(rflags)
	put(r.RSP)
	put(uint64(r.SS))
	if !v.Mem.CopyToGuest(mm.GuestVA(base), w, KernelSpace) {
		return crashf("bad bounce frame: cannot write the guest stack at %#x", base)
	}
	r.RFLAGS &^= flagAC | flagVM | flagRF | flagNT | flagTF
	r.SS = abi.FLAT_KERNEL_SS
	r.RSP = base
	r.CS = abi.FLAT_KERNEL_CS
	r.RIP = f.Handler
	return nil
}

// InjectException bounces hardware exception vec to the trap table entry
// (Xen's pv_inject_hw_exception): the error code only for vectors that
// have one, events masked if the entry says so. For #PF, cr2 is stored as
// the virtual CR2 and in vcpu_info.arch.cr2, and the error code's U bit
// is set from the virtual mode. No handler crashes the domain.
func (v *VCPU) InjectException(r *arch.Regs, vec uint8, errcode, cr2 uint64) error {
	ti := &v.Traps[vec]
	f := Frame{Handler: ti.Address, Interrupt: ti.Flags&tiIF != 0}
	if vec == arch.VecPF {
		v.CR2 = cr2
		v.Info.SetCR2(cr2)
		errcode &^= arch.PFErrUser
		if !v.kernel {
			errcode |= arch.PFErrUser
		}
	}
	if hasErrorCode(vec) {
		f.HasError, f.ErrorCode = true, errcode
	}
	if f.Handler == 0 {
		return crashf("Unhandled %s fault/trap [#%d, ec=%04x]", vecName(vec), vec, errcode&0xffffffff)
	}
	return v.Bounce(r, f)
}

// injectSoftInt bounces software interrupt vec (INT n): never an error
// code, no DPL check here.
func (v *VCPU) injectSoftInt(r *arch.Regs, vec uint8) error {
	ti := &v.Traps[vec]
	if ti.Address == 0 {
		return crashf("Unhandled software interrupt [#%d]", vec)
	}
	return v.Bounce(r, Frame{Handler: ti.Address, Interrupt: ti.Flags&tiIF != 0})
}

// DeliverEvent delivers the event upcall if one is pending and not
// masked (Xen's test_guest_events, on every return to the guest): a
// bounce frame to the event callback, events masked. It reports whether
// it delivered. No event callback crashes the domain.
func (v *VCPU) DeliverEvent(r *arch.Regs) (bool, error) {
	if v.Info.UpcallMask() != 0 || !v.Info.UpcallPending() {
		return false, nil
	}
	cb := v.Callbacks[abi.CALLBACKTYPE_event]
	if cb.Address == 0 {
		return false, crashf("event upcall pending with no event callback")
	}
	return true, v.Bounce(r, Frame{Handler: cb.Address, Interrupt: true})
}

// Failsafe enters the failsafe callback, for when the guest's DS, ES, FS
// or GS cannot be loaded on the way out; the frame carries the four
// selectors from r. The caller then sets r's selectors to null.
func (v *VCPU) Failsafe(r *arch.Regs) error {
	cb := v.Callbacks[abi.CALLBACKTYPE_failsafe]
	return v.Bounce(r, Frame{Handler: cb.Address, Interrupt: cb.MaskEvents, Failsafe: true})
}

// HandleSyscall handles a SYSCALL exit. In guest kernel mode it is a
// hypercall: it returns true and changes nothing. In guest user mode it
// bounces to the syscall callback (Xen's switch_to_kernel): the frame's
// RIP is RCX, RFLAGS is R11, CS/SS are 0xe033/0xe02b, events masked if the
// callback was registered with CALLBACKF_mask_events, and DF is cleared.
// From a 32-bit process (CS 0xe023) the syscall32 callback is used if one
// is registered, and the frame's CS/SS are 0xe023/0xe02b.
// Without a syscall callback the guest gets #UD at the SYSCALL.
func (v *VCPU) HandleSyscall(r *arch.Regs) (hypercall bool, err error) {
	if v.kernel {
		return true, nil
	}
	cb := v.Callbacks[abi.CALLBACKTYPE_syscall]
	if r.CS == abi.FLAT_USER_CS32 {
		// A 32-bit process (CSTAR): the syscall32 callback if there is one.
		if c32 := v.Callbacks[abi.CALLBACKTYPE_syscall32]; c32.Address != 0 {
			cb = c32
		}
		r.CS, r.SS = abi.FLAT_USER_CS32, abi.FLAT_USER_SS32
	} else {
		r.CS, r.SS = abi.FLAT_USER_CS64, abi.FLAT_USER_SS64
	}
	r.RIP = r.RCX
	r.RFLAGS = r.R11
	f := Frame{Handler: cb.Address, Interrupt: cb.MaskEvents}
	if cb.Address == 0 {
		r.RIP -= 2
		ti := &v.Traps[arch.VecUD]
		f = Frame{Handler: ti.Address, Interrupt: ti.Flags&tiIF != 0}
		if f.Handler == 0 {
			return false, crashf("SYSCALL from user mode with no syscall callback and no #UD handler")
		}
	}
	if err := v.Bounce(r, f); err != nil {
		return false, err
	}
	r.RFLAGS &^= flagDF
	return false, nil
}

// HandleException handles an exception exit: privileged-instruction and
// INT n emulation on #GP, the forced-emulation prefix on #UD, the virtual
// TS on #NM, and otherwise a bounce to the guest's trap table (#PF with
// CR2). It returns *Crash when Xen would crash the domain.
func (v *VCPU) HandleException(r *arch.Regs, e arch.Exit) error {
	switch e.Vector {
	case arch.VecGP:
		return v.generalProtection(r, e.ErrorCode)
	case arch.VecUD:
		return v.invalidOp(r)
	case arch.VecNM:
		if !v.TS {
			// The metal's own lazy-FPU trap: nothing for the guest.
			return nil
		}
		v.TS = false
		v.Changed |= ChangedTS
		return v.InjectException(r, arch.VecNM, 0, 0)
	case arch.VecBP, arch.VecOF:
		// INT3/INTO passed by a DPL-3 gate: software interrupts.
		return v.injectSoftInt(r, e.Vector)
	case arch.VecPF:
		return v.InjectException(r, arch.VecPF, e.ErrorCode, e.CR2)
	case arch.VecDB:
		if e.DR6 != 0 {
			v.DR6 = MergeDR6(v.DR6, e.DR6)
		}
	}
	return v.InjectException(r, e.Vector, e.ErrorCode, 0)
}

// MergeDR6 folds the DR6 a #DB left in the CPU into the guest's virtual
// DR6, as Xen's #DB handler does: conditions that read as one when they
// happen (B0-B3, BD, BS, BT) accumulate until the guest clears them;
// those that read as zero (RTM, bit 16) are cleared.
func MergeDR6(virt, hw uint64) uint64 {
	virt |= hw &^ DR6Default
	virt &= hw | ^uint64(DR6Default)
	return virt
}

var vecNames = [...]string{"divide error", "debug", "nmi", "int3", "overflow", "bounds", "invalid opcode",
	"device not available", "double fault", "coprocessor segment", "invalid tss", "segment not found",
	"stack error", "general protection fault", "page fault", "spurious interrupt", "coprocessor error",
	"alignment check", "machine check", "simd error"}

func vecName(v uint8) string {
	if int(v) < len(vecNames) {
		return vecNames[v]
	}
	return "???"
}
