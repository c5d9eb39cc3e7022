package pv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// trapInfoSize is sizeof(struct trap_info).
const trapInfoSize = 16

// SetTrapTable is set_trap_table (0). A NULL handle clears the whole
// virtual IDT. Otherwise it reads trap_info entries from the guest array
// at h until one with address 0: a non-canonical address is -EINVAL, an
// unreadable entry -EFAULT (entries before it stay installed); a code
// selector with RPL 0 gets RPL 3. After each entry preempt is asked; if it
// says so, SetTrapTable returns more = true and next, the handle of the
// remaining entries, for the continuation.
func (v *VCPU) SetTrapTable(h uint64, preempt func() bool) (next uint64, more bool, e abi.Errno) {
	if h == 0 {
		v.Traps = [256]abi.TrapInfo{}
		return 0, false, 0
	}
	var b [trapInfoSize]byte
	for {
		if !v.Mem.CopyFromGuest(b[:], mm.GuestVA(h), KernelSpace) {
			return 0, false, abi.EFAULT
		}
		ti := abi.TrapInfo{Vector: b[0], Flags: b[1], Cs: binary.LittleEndian.Uint16(b[2:]),
			Address: binary.LittleEndian.Uint64(b[8:])}
		if ti.Address == 0 {
			return 0, false, 0
		}
		if !arch.Canonical(ti.Address) {
			return 0, false, abi.EINVAL
		}
		if ti.Cs&3 == 0 {
			ti.Cs |= 3
		}
		v.Traps[ti.Vector] = ti
		h += trapInfoSize
		if h < trapInfoSize { // wrapped: the next read faults
			return 0, false, abi.EFAULT
		}
		if preempt != nil && preempt() {
			return h, true, 0
		}
	}
}

// StackSwitch is stack_switch (3): the kernel stack for bounces from user
// mode. A stack selector with RPL 0 gets RPL 3. Always 0.
func (v *VCPU) StackSwitch(ss, sp uint64) abi.Errno {
	if ss&3 == 0 {
		ss |= 3
	}
	v.KernelSS, v.KernelSP = ss, sp
	return 0
}

// RegisterCallback is CALLBACKOP_register: -EINVAL for a non-canonical
// address, -ENOSYS for an unknown type. The NMI callback is trap table
// entry 2 (CS FLAT_KERNEL_CS, events masked).
func (v *VCPU) RegisterCallback(typ, flags uint16, addr uint64) abi.Errno {
	if !arch.Canonical(addr) {
		return abi.EINVAL
	}
	mask := flags&abi.CALLBACKF_mask_events != 0
	switch typ {
	case abi.CALLBACKTYPE_event:
		v.Callbacks[typ] = Callback{Address: addr}
	case abi.CALLBACKTYPE_failsafe, abi.CALLBACKTYPE_syscall, abi.CALLBACKTYPE_syscall32,
		abi.CALLBACKTYPE_sysenter:
		v.Callbacks[typ] = Callback{Address: addr, MaskEvents: mask}
	case abi.CALLBACKTYPE_nmi:
		v.Traps[arch.VecNMI] = abi.TrapInfo{Vector: arch.VecNMI, Flags: tiIF,
			Cs: abi.FLAT_KERNEL_CS, Address: addr}
	default:
		return abi.ENOSYS
	}
	return 0
}

// UnregisterCallback is CALLBACKOP_unregister: only the NMI callback can
// be removed; event, failsafe, syscall, syscall32 and sysenter are
// -EINVAL, unknown types -ENOSYS.
func (v *VCPU) UnregisterCallback(typ uint16) abi.Errno {
	switch typ {
	case abi.CALLBACKTYPE_event, abi.CALLBACKTYPE_failsafe, abi.CALLBACKTYPE_syscall,
		abi.CALLBACKTYPE_syscall32, abi.CALLBACKTYPE_sysenter:
		return abi.EINVAL
	case abi.CALLBACKTYPE_nmi:
		v.Traps[arch.VecNMI] = abi.TrapInfo{}
		return 0
	}
	return abi.ENOSYS
}

// SetCallbacks is the legacy set_callbacks (4): event, failsafe and
// syscall, registered without flags; errors are ignored and it returns 0,
// as Xen does.
func (v *VCPU) SetCallbacks(event, failsafe, syscall uint64) abi.Errno {
	v.RegisterCallback(abi.CALLBACKTYPE_event, 0, event)
	v.RegisterCallback(abi.CALLBACKTYPE_failsafe, 0, failsafe)
	v.RegisterCallback(abi.CALLBACKTYPE_syscall, 0, syscall)
	return 0
}

// SetSegmentBase is set_segment_base (25), from guest kernel mode:
// SEGBASE_FS, SEGBASE_GS_USER (the inactive base), SEGBASE_GS_KERNEL (the
// active base), a non-canonical base being -EINVAL; SEGBASE_GS_USER_SEL
// loads base[15:0] as the user %gs selector (RPL forced to 3 unless null)
// and updates the user GS base from it, loading the null selector if that
// fails and still returning 0. Other values are -EINVAL.
func (v *VCPU) SetSegmentBase(r *arch.Regs, which uint64, base uint64) abi.Errno {
	switch which {
	case abi.SEGBASE_FS, abi.SEGBASE_GS_USER, abi.SEGBASE_GS_KERNEL:
		if !arch.Canonical(base) {
			return abi.EINVAL
		}
		switch which {
		case abi.SEGBASE_FS:
			r.FSBase = base
		case abi.SEGBASE_GS_USER:
			r.GSBaseShadow = base
		default:
			r.GSBase = base
		}
		return 0
	case abi.SEGBASE_GS_USER_SEL:
		sel := uint16(base)
		if sel > 3 {
			sel |= 3
		}
		b, ok := v.loadUserGS(sel)
		if !ok {
			sel, b = 0, 0
		}
		r.GS = sel
		r.GSBaseShadow = b
		return 0
	}
	return abi.EINVAL
}

// FPUTaskswitch is fpu_taskswitch (5): set or clear the virtual CR0.TS.
func (v *VCPU) FPUTaskswitch(set bool) abi.Errno {
	v.TS = set
	v.Changed |= ChangedTS
	return 0
}

// DR7 fields.
const (
	dr7GD          = 1 << 13
	dr7ActiveMask  = 0xff // L0-3/G0-3
	dr7ControlBase = 16
	dr7IO          = 2 // R/W = 10b: I/O breakpoint
)

// SetDebugReg is set_debugreg (8) and MOV to DRn: DR0-3 must be guest
// addresses (-EPERM); DR4/DR5 alias DR6/DR7 unless CR4.DE (-ENODEV); DR6
// and DR7 must fit 32 bits (-EINVAL) and get their reserved bits fixed;
// DR7.GD is -EPERM; I/O breakpoints need CR4.DE (-EPERM) and are emulated
// (DR7Emul). Other registers are -ENODEV.
func (v *VCPU) SetDebugReg(reg int, val uint64) abi.Errno {
	switch reg {
	case 0, 1, 2, 3:
		if !mm.GuestAddrOK(mm.GuestVA(val)) {
			return abi.EPERM
		}
		v.DR[reg] = val
	case 4, 6:
		if reg == 4 && v.CR4&cr4DE != 0 {
			return abi.ENODEV
		}
		if val>>32 != 0 {
			return abi.EINVAL
		}
		// Bits 4-11 and 16-31 read as one (no RTM), bit 12 as zero.
		v.DR6 = (val | 0xffff0ff0) &^ (1 << 12)
	case 5, 7:
		if reg == 5 && v.CR4&cr4DE != 0 {
			return abi.ENODEV
		}
		if val>>32 != 0 {
			return abi.EINVAL
		}
		// Bit 10 reads as one; bits 11, 12, 14, 15 as zero (no RTM).
		val = (val | 0x400) & 0xffff27ff
		if val&dr7GD != 0 {
			return abi.EPERM
		}
		var ioEnable uint64
		if val&dr7ActiveMask != 0 {
			for i := uint(dr7ControlBase); i < 32; i += 4 {
				if (val>>i)&3 == dr7IO {
					if v.CR4&cr4DE == 0 {
						return abi.EPERM
					}
					ioEnable |= val & (3 << ((i - 16) >> 1))
				}
			}
		}
		v.DR7Emul = ioEnable
		v.DR7 = val &^ ioEnable
	default:
		return abi.ENODEV
	}
	v.Changed |= ChangedDebug
	return 0
}

// GetDebugReg is get_debugreg (9) and MOV from DRn; DR4/DR5 alias DR6/DR7
// unless CR4.DE; other registers are -ENODEV (Xen returns -ENODEV for any
// failure).
func (v *VCPU) GetDebugReg(reg int) (uint64, abi.Errno) {
	switch reg {
	case 0, 1, 2, 3:
		return v.DR[reg], 0
	case 4, 6:
		if reg == 4 && v.CR4&cr4DE != 0 {
			return 0, abi.ENODEV
		}
		return v.DR6, 0
	case 5, 7:
		if reg == 5 && v.CR4&cr4DE != 0 {
			return 0, abi.ENODEV
		}
		return v.DR7 | v.DR7Emul, 0
	}
	return 0, abi.ENODEV
}
