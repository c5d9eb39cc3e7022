package pv

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// A vCPU's initial state from struct vcpu_guest_context (public
// arch-x86/xen.h, 64-bit layout in abi.VcpuGuestContext), as Xen 4.17's
// arch_set_info_guest takes it from VCPUOP_initialise for a 64-bit PV
// vCPU that was never initialised. The GDT (gdt_frames, gdt_ents) goes
// through SetGDT and the page tables (ctrlreg[3], ctrlreg[1]) and the LDT
// through the owner's memory model; CheckContext and LoadContext do the
// rest.

// CheckContext is arch_set_info_guest's refusal of a 64-bit PV context
// that cannot be run, before anything changes: -EINVAL for a
// non-canonical RIP, RSP, kernel_sp, FS/GS base, callback or trap-table
// address, an LDT base that is not canonical (when it has entries), not
// a guest address or not page aligned, more than 8192 LDT entries, or a
// vCPU to start in user mode without a user page table (ctrlreg[1]).
func CheckContext(c *abi.VcpuGuestContext) abi.Errno {
	for _, a := range []uint64{c.UserRegs.Rip, c.UserRegs.Rsp, c.KernelSp, c.FsBase, c.GsBaseKernel,
		c.GsBaseUser, c.EventCallbackEip, c.SyscallCallbackEip, c.FailsafeCallbackEip} {
		if !arch.Canonical(a) {
			return abi.EINVAL
		}
	}
	if c.LdtEnts != 0 && !arch.Canonical(c.LdtBase) {
		return abi.EINVAL
	}
	for i := range c.TrapCtxt {
		if !arch.Canonical(c.TrapCtxt[i].Address) {
			return abi.EINVAL
		}
	}
	if !mm.GuestAddrOK(mm.GuestVA(c.LdtBase)) || c.LdtBase&(mm.PageSize-1) != 0 || c.LdtEnts > 8192 {
		return abi.EINVAL
	}
	if c.Flags&abi.VGCF_in_kernel == 0 && c.Ctrlreg[1] == 0 {
		return abi.EINVAL
	}
	return 0
}

// guestSelector gives a selector with RPL 0, 1 or 2 the guest kernel's
// RPL 3 (Xen's fixup_guest_{code,stack}_selector for 64-bit PV).
func guestSelector(sel uint16) uint16 {
	if sel&3 != 3 {
		sel = sel&^3 | 3
	}
	return sel
}

// LoadContext gives the vCPU, and r, its register file, the state c
// describes (CheckContext has passed it), as arch_set_info_guest does for
// a 64-bit PV vCPU: the general registers and selectors of user_regs
// (CS and SS and each trap's CS with RPL 3, RFLAGS with IF set and IOPL
// moved to the virtual IOPL), the mode of VGCF_in_kernel, the trap table,
// kernel_ss/kernel_sp, the event, failsafe and syscall callbacks (the
// latter two masking events as VGCF_failsafe_disables_events and
// VGCF_syscall_disables_events say), the FS base and the user GS base
// (each only with a null selector), the kernel GS base, CR0.TS and the
// CR4 the policy allows from ctrlreg[0] and [4], and the debug registers,
// each set as set_debugreg would (one it refuses stays at its default, as
// Xen ignores the error there). VGCF_i387_valid's fpu_ctxt is not taken:
// the vCPU starts with the power-on FPU state (see doc.go).
func (v *VCPU) LoadContext(c *abi.VcpuGuestContext, r *arch.Regs) {
	u := &c.UserRegs
	kernelGS, userGS := c.GsBaseKernel, c.GsBaseUser
	if u.Gs&^3 != 0 {
		userGS = 0
	}
	fsBase := c.FsBase
	if u.Fs&^3 != 0 {
		fsBase = 0
	}
	*r = arch.Regs{
		RAX: u.Rax, RBX: u.Rbx, RCX: u.Rcx, RDX: u.Rdx, RSI: u.Rsi, RDI: u.Rdi, RBP: u.Rbp, RSP: u.Rsp,
		R8: u.R8, R9: u.R9, R10: u.R10, R11: u.R11, R12: u.R12, R13: u.R13, R14: u.R14, R15: u.R15,
		RIP: u.Rip, RFLAGS: u.Rflags&^flagIOPL | flagIF,
		CS: guestSelector(u.Cs), SS: guestSelector(u.Ss), DS: u.Ds, ES: u.Es, FS: u.Fs, GS: u.Gs,
		FSBase: fsBase,
	}
	v.IOPL = u.Rflags & flagIOPL
	v.kernel = c.Flags&abi.VGCF_in_kernel != 0
	if v.kernel {
		r.GSBase, r.GSBaseShadow = kernelGS, userGS
	} else {
		r.GSBase, r.GSBaseShadow = userGS, kernelGS
	}
	v.Traps = c.TrapCtxt
	for i := range v.Traps {
		v.Traps[i].Cs = guestSelector(v.Traps[i].Cs)
	}
	v.KernelSS, v.KernelSP = uint64(guestSelector(uint16(c.KernelSs))), c.KernelSp
	v.Callbacks[abi.CALLBACKTYPE_event] = Callback{Address: c.EventCallbackEip}
	v.Callbacks[abi.CALLBACKTYPE_failsafe] = Callback{Address: c.FailsafeCallbackEip,
		MaskEvents: c.Flags&abi.VGCF_failsafe_disables_events != 0}
	v.Callbacks[abi.CALLBACKTYPE_syscall] = Callback{Address: c.SyscallCallbackEip,
		MaskEvents: c.Flags&abi.VGCF_syscall_disables_events != 0}
	if ts := c.Ctrlreg[0]&cr0TS != 0; ts != v.TS {
		v.TS = ts
		v.Changed |= ChangedTS
	}
	if v.Policy != nil {
		v.CR4 = v.Policy.FixupCR4(c.Ctrlreg[4])
		v.Changed |= ChangedCR4
	}
	v.DR, v.DR6, v.DR7, v.DR7Emul = [4]uint64{}, DR6Default, DR7Default, 0
	for _, i := range []int{0, 1, 2, 3, 6, 7} {
		v.SetDebugReg(i, c.Debugreg[i])
	}
	v.Changed |= ChangedDebug
	if v.Tables != nil {
		v.Tables.Reload = true
	}
}
